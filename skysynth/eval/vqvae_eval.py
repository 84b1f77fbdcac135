"""Tokenizer evaluation: PSNR, SSIM, codebook usage and perplexity, next to bicubic down-up."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

from skysynth.common.codebook import CodebookUsage
from skysynth.common.images import save_grid
from skysynth.eval.common import markdown_table, validation_batches, weights_dir
from skysynth.eval.quality import high_frequency_energy
from skysynth.models.vqvae import VQVAE


def bicubic_down_up(images: torch.Tensor, factor: int) -> torch.Tensor:
    """The same reduction as the tokenizer (factor x per side), undone by bicubic upscaling."""
    small = F.interpolate(images, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(small, size=images.shape[-2:], mode="bicubic", align_corners=False).clamp(0, 1)


@torch.no_grad()
def evaluate(cfg) -> dict:
    model = VQVAE.from_pretrained(weights_dir(cfg.weights, "tokenizer")).float().to(cfg.device).eval()
    factor = model.config.downsample_factor
    metrics = {
        name: (
            PeakSignalNoiseRatio(data_range=1.0).to(cfg.device),
            StructuralSimilarityIndexMeasure(data_range=1.0).to(cfg.device),
        )
        for name in ("vqvae", "bicubic")
    }
    usage = CodebookUsage(model.config.codebook_size).to(cfg.device)
    # Detail energy (the finest band) of each reconstruction against the truth's: a blur is < 1.
    detail = {name: 0.0 for name in metrics}
    truth_detail = 0.0
    grid_rows, count = None, 0
    for images in validation_batches(cfg, cfg.downscale or 2, cfg.crop or 112):
        tokens = model.encode(images)
        outputs = {"vqvae": model.decode(tokens).clamp(0, 1), "bicubic": bicubic_down_up(images, factor)}
        for name, (psnr, ssim) in metrics.items():
            psnr.update(outputs[name], images)
            ssim.update(outputs[name], images)
        usage.update(tokens)
        truth_detail += float(high_frequency_energy(images).sum())
        for name in detail:
            detail[name] += float(high_frequency_energy(outputs[name]).sum())
        count += images.shape[0]
        if grid_rows is None:
            grid_rows = [images[:8], outputs["bicubic"][:8], outputs["vqvae"][:8]]
    codebook = usage.compute()
    results = {
        name: {"psnr": float(p.compute()), "ssim": float(s.compute()), "detail_ratio": detail[name] / truth_detail}
        for name, (p, s) in metrics.items()
    }
    results["vqvae"].update(codebook_usage=float(codebook["usage"]), perplexity=float(codebook["perplexity"]))
    grid = save_grid(grid_rows, Path(cfg.out) / "reconstructions.png")
    table = markdown_table(
        ["method", "PSNR dB", "SSIM", "detail energy vs truth", "codebook usage", "perplexity"],
        [
            [
                "VQ-VAE (tokens)",
                results["vqvae"]["psnr"],
                results["vqvae"]["ssim"],
                results["vqvae"]["detail_ratio"],
                results["vqvae"]["codebook_usage"],
                results["vqvae"]["perplexity"],
            ],
            [
                f"bicubic down-up {factor}x",
                results["bicubic"]["psnr"],
                results["bicubic"]["ssim"],
                results["bicubic"]["detail_ratio"],
                "-",
                "-",
            ],
        ],
    )
    return {
        "images": count,
        "results": results,
        "grid": str(grid),
        "table": table,
        "codebook_size": model.config.codebook_size,
    }
