"""Upscaler evaluation: PSNR, SSIM and detail energy against bicubic, per step count; tiled seams."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from skysynth.common.degrade import blurry_version
from skysynth.common.images import save_grid
from skysynth.eval.common import generator, markdown_table, validation_batches, weights_dir
from skysynth.eval.quality import high_frequency_energy, seam_score
from skysynth.models.upscaler import UNet
from skysynth.models.vqvae import VQVAE
from skysynth.outpaint.config import OutpaintConfig
from skysynth.outpaint.tiling import tile_starts, upscale_tiles
from skysynth.schedulers.noise import sample_detail


def tiled_restore(
    net: UNet, blurry: torch.Tensor, steps: int, gen, tile: int, overlap: int, draws: int = 1
) -> torch.Tensor:
    known = torch.zeros_like(blurry)
    mask = torch.zeros_like(blurry, dtype=torch.bool)
    restore = lambda b, k, m: sample_detail(net, b, steps, gen, k, m, draws)  # noqa: E731
    edges = upscale_tiles(restore, blurry, known, mask, tile, overlap)
    return (blurry + edges / net.config.edge_scale).clamp(0, 1)


@torch.no_grad()
def evaluate(cfg) -> dict:
    net = UNet.from_pretrained(weights_dir(cfg.weights, "upscaler")).float().to(cfg.device).eval()
    tokenizer = VQVAE.from_pretrained(weights_dir(cfg.tokenizer, "tokenizer")).float().to(cfg.device).eval()
    factor = net.config.scale_factor
    steps_list = [int(s) for s in cfg.steps]
    defaults = OutpaintConfig().upscale
    # Every step count with one draw, and the pipeline's step count averaged over `draws` runs.
    runs = [(s, 1) for s in steps_list] + [(defaults.steps, int(d)) for d in cfg.get("draws", []) if int(d) > 1]
    name = lambda s, d: f"skysynth {s} steps" + (f" x {d} draws" if d > 1 else "")  # noqa: E731
    methods = ["bicubic of tokens (input)", "bicubic of true half size"] + [name(s, d) for s, d in runs]
    psnr = {m: PeakSignalNoiseRatio(data_range=1.0).to(cfg.device) for m in methods}
    ssim = {m: StructuralSimilarityIndexMeasure(data_range=1.0).to(cfg.device) for m in methods}
    energy = {m: 0.0 for m in methods}
    seconds = {m: 0.0 for m in methods}
    truth_energy, count, grid_rows = 0.0, 0, None
    seam_tiled, seam_truth_ref = [], []
    gen = generator(cfg)
    # The grid and the seam test use the pipeline's default sampler when it is among those measured.
    shown = (defaults.steps, defaults.draws)
    shown = shown if shown in runs else runs[0]
    for images in validation_batches(cfg, cfg.downscale or 1, cfg.crop or 224):
        blurry = blurry_version(tokenizer, images, factor)
        small = F.interpolate(images, scale_factor=1 / factor, mode="bilinear", antialias=True)
        outputs = {
            methods[0]: blurry,
            methods[1]: F.interpolate(small, size=images.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1),
        }
        for steps, draws in runs:
            start = time.perf_counter()
            edges = sample_detail(net, blurry, steps, gen, draws=draws)
            outputs[name(steps, draws)] = (blurry + edges / net.config.edge_scale).clamp(0, 1)
            seconds[name(steps, draws)] += time.perf_counter() - start
        for m in methods:
            psnr[m].update(outputs[m], images)
            ssim[m].update(outputs[m], images)
            energy[m] += float(high_frequency_energy(outputs[m]).sum())
        truth_energy += float(high_frequency_energy(images).sum())
        if grid_rows is None:
            default = name(*shown)
            grid_rows = [images[:6], blurry[:6], outputs[default][:6]]
            # Seams: the same images restored in overlapping tiles, scored across tile borders.
            tile, overlap = cfg.seam_tile, cfg.seam_overlap
            tiled = tiled_restore(net, blurry[:6], shown[0], gen, tile, overlap, shown[1])
            size = images.shape[-1]
            borders = sorted(
                {s for s in tile_starts(size, tile, overlap) if s > 0}
                | {s + overlap for s in tile_starts(size, tile, overlap) if s > 0}
            )
            for axis in ("x", "y"):
                seam_tiled.append(seam_score(tiled, borders, axis, reference=images[:6]))
                seam_truth_ref.append(seam_score(outputs[default][:6], borders, axis, reference=images[:6]))
            grid_rows.append(tiled)
        count += images.shape[0]
    results = {
        m: {
            "psnr": float(psnr[m].compute()),
            "ssim": float(ssim[m].compute()),
            "hf_ratio": energy[m] / max(truth_energy, 1e-12),
            "seconds_per_image": seconds[m] / count,
        }
        for m in methods
    }
    grid = save_grid(grid_rows, Path(cfg.out) / "upscaler.png")
    table = markdown_table(
        ["method", "PSNR dB", "SSIM", "HF energy ratio", "s/image"],
        [[m, r["psnr"], r["ssim"], r["hf_ratio"], r["seconds_per_image"]] for m, r in results.items()],
    )
    seams = {"tiled": sum(seam_tiled) / len(seam_tiled), "untiled": sum(seam_truth_ref) / len(seam_truth_ref)}
    table += (
        f"\n\nseam score across tile borders (1.0 = like the truth): tiled {seams['tiled']:.3f}, "
        f"same lines untiled {seams['untiled']:.3f}"
    )
    return {"images": count, "results": results, "seams": seams, "grid": str(grid), "table": table}
