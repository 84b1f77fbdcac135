"""Train the cloud-type classifier used for KID/FID features, on a folder of labelled photos.

    python -m skysynth.eval.train_classifier data=../shared/data/gcd/train out=skysynth/weights/classifier

`data/<class>/*.jpg`; a deterministic validation split by key hash (the shards' keys and rule,
so it holds out the same photos as the generators); writes fp16 safetensors + config.json and
`metrics.json` (validation accuracy).
A plain PyTorch loop: it is an evaluation tool, small enough to train in minutes on a CPU.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import hydra
import numpy as np
import torch
import torch.nn.functional as F
from omegaconf import DictConfig, ListConfig, OmegaConf
from tqdm import tqdm

from skysynth.common.hydra_app import CONF_DIR
from skysynth.common.images import is_image, load_rgb
from skysynth.common.keys import is_validation, sample_key
from skysynth.models.classifier import ClassifierConfig, CloudClassifier


def load_folder(root: Path, size: int, progress: bool = True):
    """(N, 3, size, size) uint8 images, (N,) labels, keys, class names."""
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = [(c, p) for c in classes for p in sorted((root / c).iterdir()) if is_image(p)]
    if len(classes) < 2 or not files:
        raise ValueError(f"{root} needs at least two class folders with images")
    images, labels, keys = [], [], []
    for label_name, path in tqdm(files, desc="load", unit="img", disable=not progress):
        try:
            pixels = load_rgb(path, downscale=max(1, 224 // (2 * size)))
        except OSError:
            continue
        # A copy: the decoded array is read-only, which torch.from_numpy warns about.
        tensor = torch.from_numpy(np.array(pixels, copy=True)).permute(2, 0, 1)[None].float()
        tensor = F.interpolate(tensor, size=(size, size), mode="bilinear", antialias=True)
        images.append(tensor.round().clamp(0, 255).to(torch.uint8))
        labels.append(classes.index(label_name))
        # The shards' key of the same photo, so the classifier's validation split is the generators' one.
        keys.append(sample_key(label_name, path, 0))
    return torch.cat(images), torch.tensor(labels), keys, classes


def train(cfg: DictConfig) -> dict:
    torch.manual_seed(cfg.seed)
    images, labels, keys, classes = load_folder(Path(cfg.data), cfg.image_size, cfg.progress)
    val = torch.tensor([is_validation(k, cfg.val_fraction) for k in keys])
    model = CloudClassifier(
        ClassifierConfig(class_names=tuple(classes), channels=tuple(cfg.channels), image_size=cfg.image_size)
    )
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=1e-4)
    train_idx = torch.nonzero(~val).flatten()
    steps = cfg.epochs * (len(train_idx) // cfg.batch)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, cfg.lr, total_steps=max(1, steps))
    generator = torch.Generator().manual_seed(cfg.seed)
    start = time.perf_counter()
    with tqdm(total=steps, desc="train classifier", unit="step", disable=not cfg.progress) as bar:
        for _ in range(cfg.epochs):
            order = train_idx[torch.randperm(len(train_idx), generator=generator)]
            for i in range(len(order) // cfg.batch):
                batch = order[i * cfg.batch : (i + 1) * cfg.batch]
                x = images[batch].float() / 255
                flip = torch.rand(len(batch), generator=generator) < 0.5
                x = torch.where(flip[:, None, None, None], x.flip(-1), x)
                loss = F.cross_entropy(model(x), labels[batch], label_smoothing=0.1)
                optimizer_step(loss, optimizer, scheduler, bar)
    model.eval()
    with torch.no_grad():
        val_x, val_y = images[val].float() / 255, labels[val]
        predictions = torch.cat([model(val_x[i : i + 256]).argmax(-1) for i in range(0, len(val_x), 256)])
    accuracy = float((predictions == val_y).float().mean()) if len(val_y) else float("nan")
    metrics = {
        "val_accuracy": accuracy,
        "val_images": int(val.sum()),
        "train_images": len(train_idx),
        "classes": classes,
        "epochs": cfg.epochs,
        "wall_seconds": time.perf_counter() - start,
    }
    return save_with_metrics(model, Path(cfg.out), metrics)


def optimizer_step(loss: torch.Tensor, optimizer, scheduler, bar) -> None:
    """One step of the classifier trainers' plain loops: backward, optimizer and schedule, the
    progress bar advanced with the loss."""
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    scheduler.step()
    bar.update(1)
    bar.set_postfix(loss=f"{loss.item():.3f}")


def save_with_metrics(model, out: Path, metrics: dict) -> dict:
    """Write `model` (fp16 safetensors + config.json) and `metrics.json` to `out`; returns `metrics`."""
    model.save_pretrained(out)
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2))
    return metrics


def mistyped_setting(cfg: DictConfig, defaults: DictConfig) -> str | None:
    """The first setting of `cfg` whose value is not of its default's type (an int passes for a
    float; a default of null takes anything), as a one-line message; None if all are right."""
    for key, default in defaults.items():
        if key in ("defaults", "hydra") or default is None:
            continue
        value, expected = cfg.get(key), type(default)
        numeric = expected is float and isinstance(value, int)
        if isinstance(value, bool) != (expected is bool) or not (isinstance(value, expected) or numeric):
            return f"{key} must be {'a list' if isinstance(default, ListConfig) else expected.__name__}, got {value!r}"
    return None


def run_training(train_fn, cfg: DictConfig, config_name: str) -> None:
    """A trainer's command: its metrics printed as JSON, or bad input (a missing folder, a value
    of the wrong type for conf/eval/<config_name>.yaml's setting) as one `error:` line, exit 2."""
    try:
        wrong = mistyped_setting(cfg, OmegaConf.load(CONF_DIR / "eval" / f"{config_name}.yaml"))
        if wrong is not None:
            raise ValueError(wrong)
        metrics = train_fn(cfg)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    print(json.dumps(metrics, indent=2))


@hydra.main(version_base="1.3", config_path="../../conf/eval", config_name="classifier")
def main(cfg: DictConfig) -> None:
    run_training(train, cfg, "classifier")


if __name__ == "__main__":
    main()
