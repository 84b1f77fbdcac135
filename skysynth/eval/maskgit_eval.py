"""MaskGIT evaluation: per-mask accuracy and NLL, and the collapse rate of each sampler."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from skysynth.eval.common import generator, markdown_table, validation_batches, weights_dir
from skysynth.eval.grids import save_grid
from skysynth.eval.quality import collapse_rate
from skysynth.models.maskgit import MaskGIT
from skysynth.models.vqvae import VQVAE
from skysynth.schedulers.masking import MASK_NAMES, GuardedSampler, MaskGITSampler, outpaint_masks


def samplers(cfg) -> dict[str, MaskGITSampler]:
    steps, temperature = int(cfg.decode_steps), float(cfg.temperature)
    return {
        "confidence, annealed noise": MaskGITSampler(steps, temperature, anneal=True, order="confidence"),
        "confidence, constant noise (thesis)": MaskGITSampler(steps, temperature, anneal=False, order="confidence"),
        "halton order": MaskGITSampler(steps, temperature, order="halton"),
        "confidence + collapse guard (default)": GuardedSampler(MaskGITSampler(steps, temperature, anneal=True)),
    }


@torch.no_grad()
def evaluate(cfg) -> dict:
    net = MaskGIT.from_pretrained(weights_dir(cfg.weights, "maskgit")).float().to(cfg.device).eval()
    tokenizer = VQVAE.from_pretrained(weights_dir(cfg.tokenizer, "tokenizer")).float().to(cfg.device).eval()
    side = net.config.tokens_per_side
    crop = cfg.crop or side * tokenizer.config.downsample_factor
    masks = outpaint_masks(side).to(cfg.device)
    nll = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    correct = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    total = torch.zeros(len(MASK_NAMES), dtype=torch.float64)
    chosen = samplers(cfg)
    collapsed = {name: torch.zeros(len(MASK_NAMES)) for name in chosen}
    windows, gen, grid_rows = 0, generator(cfg), None
    for images in validation_batches(cfg, cfg.downscale or 2, crop):
        tokens = tokenizer.encode(images)
        b = tokens.shape[0]
        truth = tokenizer.decode(tokens).clamp(0, 1)
        for kind in range(len(MASK_NAMES)):
            mask = masks[kind].expand(b, side, side)
            logits = net(tokens.masked_fill(mask, net.config.mask_token_id)).float()
            nll[kind] += float(F.cross_entropy(logits[mask], tokens[mask], reduction="sum"))
            correct[kind] += float((logits.argmax(-1)[mask] == tokens[mask]).sum())
            total[kind] += float(mask.sum())
            region = F.interpolate(masks[kind][None, None].float(), scale_factor=tokenizer.config.downsample_factor)
            for name, sampler in chosen.items():
                generated = tokenizer.decode(sampler.sample(net, tokens, mask, gen)).clamp(0, 1)
                collapsed[name][kind] += collapse_rate(generated, truth, region.bool()) * b
                if grid_rows is None and kind == 3 and name == "confidence, annealed noise":
                    grid_rows = [truth[:8], generated[:8]]
        windows += b
    per_mask = {
        name: {"accuracy": float(correct[k] / total[k]), "nll": float(nll[k] / total[k])}
        for k, name in enumerate(MASK_NAMES)
    }
    collapse = {name: {m: float(c[k] / windows) for k, m in enumerate(MASK_NAMES)} for name, c in collapsed.items()}
    for name in collapse:
        collapse[name]["all"] = float(collapsed[name].sum() / (windows * len(MASK_NAMES)))
    rows = [[m, per_mask[m]["accuracy"], per_mask[m]["nll"]] + [collapse[s][m] for s in chosen] for m in MASK_NAMES]
    rows.append(
        ["all", float(correct.sum() / total.sum()), float(nll.sum() / total.sum())]
        + [collapse[s]["all"] for s in chosen]
    )
    table = markdown_table(["mask", "accuracy", "NLL"] + [f"collapse: {s}" for s in chosen], rows)
    grid = save_grid(grid_rows, Path(cfg.out) / "maskgit_top.png")
    return {"windows": windows, "per_mask": per_mask, "collapse": collapse, "grid": str(grid), "table": table}
