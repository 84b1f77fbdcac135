"""Train the token classifier that steers cloud-type control (sampling.type_guidance).

    python -m skysynth.eval.train_token_classifier data=../shared/data/gcd/train out=skysynth/weights/token_classifier

Photos of `data/<class>/*.jpg` are tokenized by the tokenizer of `weights` (default: the bundled
set) at the scale the pipeline tokenizes them (half size with the bundled 2x upscaler). Training
samples are MaskGIT-sized windows as the sampler holds them mid-draw: one of the 8 outpainting
regions partly masked (the MaskGIT training schedule), the masked tokens replaced by that
MaskGIT's predicted distributions, a fifth of the windows left whole; with `region_pooling` the
classifier names the masked part (in its window), else the whole window. Validation: the shards' key
split (the generators' held-out photos), windows drawn the same way with a fixed seed. Writes
fp16 safetensors + config.json and `metrics.json`. A plain loop, like train_classifier: small
enough for minutes on a CPU.
"""

from __future__ import annotations

import time
from pathlib import Path

import hydra
import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from tqdm import tqdm

from skysynth.common.cloud_types import cloud_type_of
from skysynth.common.keys import is_validation
from skysynth.eval.train_classifier import load_folder, optimizer_step, run_training, save_with_metrics
from skysynth.models.maskgit import MaskGIT
from skysynth.models.token_classifier import TokenClassifierConfig, TokenCloudClassifier
from skysynth.models.vqvae import VQVAE
from skysynth.schedulers.masking import MaskSchedule
from skysynth.weights import bundled_path


@torch.no_grad()
def tokenize(tokenizer: VQVAE, images: torch.Tensor, batch: int = 256, progress: bool = True) -> torch.Tensor:
    """(N, 3, H, W) uint8 -> (N, H/f, W/f) int64 codes."""
    starts = tqdm(range(0, len(images), batch), desc="tokenize", disable=not progress)
    return torch.cat([tokenizer.encode(images[i : i + batch].float() / 255) for i in starts])


def draft_windows(
    tokens: torch.Tensor, maskgit: MaskGIT, generator: torch.Generator, whole_fraction: float = 0.2
) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, h, w) codes -> ((B, side, side, codes) windows as the sampler holds them mid-draw,
    (B, side, side) bool masked part): a random crop of the MaskGIT's window size (random
    left-right flip), one of the 8 outpainting regions masked by the training schedule and filled
    with the MaskGIT's distributions; `whole_fraction` of the windows stay whole (one-hot
    everywhere; their masked part is the whole window)."""
    b, h, w = tokens.shape
    side = min(maskgit.config.tokens_per_side, h, w)
    top = int(torch.randint(0, h - side + 1, (1,), generator=generator))
    left = int(torch.randint(0, w - side + 1, (1,), generator=generator))
    window = tokens[:, top : top + side, left : left + side]
    flip = torch.rand(b, generator=generator) < 0.5
    window = torch.where(flip[:, None, None], window.flip(-1), window)
    mask, _ = MaskSchedule().training_mask(b, side, side, generator)
    mask[torch.rand(b, generator=generator) < whole_fraction] = False
    rows = F.one_hot(window, maskgit.config.codebook_size).float()
    if mask.any():
        with torch.no_grad():
            masked = torch.where(mask, torch.full_like(window, maskgit.config.mask_token_id), window)
            rows = torch.where(mask[..., None], maskgit(masked).float().softmax(-1), rows)
    mask[~mask.flatten(1).any(1)] = True
    return rows, mask


def guide_inputs(cfg: DictConfig) -> tuple[VQVAE, MaskGIT, torch.Tensor, torch.Tensor, torch.Tensor, tuple]:
    """What the cloud-type guides are made from: the tokenizer and MaskGIT of `cfg.weights` (None =
    the bundled set) and the photos of `cfg.data` at `cfg.image_size`: (tokenizer, maskgit,
    (N, 3, S, S) uint8 images, (N,) labels, (N,) bool validation split by key, cloud-type names)."""
    root = Path(cfg.weights) if cfg.get("weights") else bundled_path("tokenizer").parent
    tokenizer = VQVAE.from_pretrained(root / "tokenizer")
    maskgit = MaskGIT.from_pretrained(root / "maskgit")
    images, labels, keys, folders = load_folder(Path(cfg.data), cfg.image_size, cfg.progress)
    val = torch.tensor([is_validation(k, cfg.val_fraction) for k in keys])
    return tokenizer, maskgit, images, labels, val, tuple(cloud_type_of(name) for name in folders)


def train(cfg: DictConfig) -> dict:
    torch.manual_seed(cfg.seed)
    tokenizer, maskgit, images, labels, val, classes = guide_inputs(cfg)
    tokens = tokenize(tokenizer, images, progress=cfg.progress)
    model = TokenCloudClassifier(
        TokenClassifierConfig(
            codebook_size=maskgit.config.codebook_size,
            class_names=classes,
            embed_dim=cfg.embed_dim,
            channels=tuple(cfg.channels),
            region_pooling=cfg.region_pooling,
        )
    )

    def pooled(windows, region):  # the part the classifier names: the masked part, or the whole window
        return windows, region if cfg.region_pooling else None

    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    generator = torch.Generator().manual_seed(cfg.seed)
    train_idx, val_idx = torch.nonzero(~val).flatten(), torch.nonzero(val).flatten()
    val_generator = torch.Generator().manual_seed(cfg.seed + 1)
    val_batches = [
        (val_idx[i : i + 128], pooled(*draft_windows(tokens[val_idx[i : i + 128]], maskgit, val_generator)))
        for i in range(0, len(val_idx), 128)
    ]

    def val_accuracy() -> float:
        model.eval()
        with torch.no_grad():
            right = sum(int((model(*x).argmax(-1) == labels[i]).sum()) for i, x in val_batches)
        model.train()
        return right / max(1, len(val_idx))

    start, history = time.perf_counter(), []
    with tqdm(total=cfg.steps, desc="train token classifier", unit="step", disable=not cfg.progress) as bar:
        for step in range(1, cfg.steps + 1):
            batch = train_idx[torch.randint(0, len(train_idx), (cfg.batch,), generator=generator)]
            windows, region = pooled(*draft_windows(tokens[batch], maskgit, generator))
            loss = F.cross_entropy(model(windows, region), labels[batch], label_smoothing=0.1)
            optimizer_step(loss, optimizer, scheduler, bar)
            if step % cfg.eval_every == 0 or step == cfg.steps:
                history.append((step, val_accuracy()))
    metrics = {
        "val_window_accuracy": history[-1][1] if history else float("nan"),
        "history": history,
        "val_images": len(val_idx),
        "train_images": len(train_idx),
        "classes": list(classes),
        "steps": cfg.steps,
        "wall_seconds": time.perf_counter() - start,
    }
    return save_with_metrics(model, Path(cfg.out), metrics)


@hydra.main(version_base="1.3", config_path="../../conf/eval", config_name="token_classifier")
def main(cfg: DictConfig) -> None:
    run_training(train, cfg, "token_classifier")


if __name__ == "__main__":
    main()
