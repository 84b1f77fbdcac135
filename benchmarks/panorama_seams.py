"""Do panoramas and tiles close without a seam? Wrap-line gradients against interior lines.

For validation photos: `op.panorama(photo, width=W)` and `op.tile(photo, size=(S, S))`. The wrap
line of a panorama is between its last and first column; a tile repeated 2x2 has wrap lines in
both directions. Score of a line = mean |difference| across it / mean |difference| between
neighbouring pixels of the same image; reported is the wrap lines' score over the mean score of
all interior lines (1.0 = the wrap line looks like any other; target <= 1.1). A single line's
score depends on the cloud texture it crosses, so the "local" column divides each line's score
by the median of its 32 neighbours first: a seam is a spike over its surroundings.

    .venv/bin/python benchmarks/panorama_seams.py [--n 16] [--width 1024] [--tile 512]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from omegaconf import OmegaConf
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.eval.common import validation_batches  # noqa: E402
from skysynth.outpaint.config import OutpaintConfig, with_overrides  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402


def line_scores(pixels: np.ndarray, axis: int) -> np.ndarray:
    """Score of every line between neighbouring columns (axis=1) or rows (axis=0), wrap line last."""
    x = pixels.astype(np.float64)
    wrapped = np.concatenate([x, np.take(x, [0], axis=axis)], axis=axis)
    diffs = np.abs(np.diff(wrapped, axis=axis)).mean(axis=(1 - axis, 2))
    return diffs / diffs[:-1].mean()


def local_scores(scores: np.ndarray, radius: int = 16) -> np.ndarray:
    """Each line's score over the median of the lines within `radius` around it (circularly):
    a seam is a spike over its neighbourhood, busy cloud texture is not."""
    n = len(scores)
    index = (np.arange(n)[:, None] + np.arange(-radius, radius + 1)[None, :]) % n
    neighbours = np.where(np.arange(-radius, radius + 1)[None, :] == 0, np.nan, scores[index])
    return scores / np.nanmedian(neighbours, axis=1)


def wrap_ratios(pixels: np.ndarray, axis: int) -> tuple[float, float]:
    """(wrap line / mean interior line, the same for neighbourhood-relative scores)."""
    scores = line_scores(pixels, axis)
    local = local_scores(scores)
    return scores[-1] / scores[:-1].mean(), local[-1] / local[:-1].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "work_data" / "gcd_shards"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "panorama"))
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        type=lambda t: t.split("=", 1),
        metavar="NAME=VALUE",
        help="a pipeline setting by its dotted name, e.g. decode.closing_overlap_tokens=0",
    )
    args = parser.parse_args()
    cfg = OmegaConf.create(
        {"data": args.data, "batch": 16, "n": args.n, "val_fraction": 0.05, "seed": 0, "device": "cpu"}
    )
    photos = torch.cat(list(validation_batches(cfg, 1, 224)))
    overrides = [f"{name}={value}" for name, value in args.set]
    op = Outpainter.from_pretrained(config=with_overrides(OutpaintConfig(), overrides))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pano_ratio, tile_ratio, seconds = [], [], {"panorama": 0.0, "tile": 0.0}
    for i, photo in enumerate(photos):
        image = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
        start = time.perf_counter()
        strip = np.asarray(op.panorama(image, width=args.width, generator=torch.Generator().manual_seed(i)).image)
        seconds["panorama"] += time.perf_counter() - start
        pano_ratio.append(wrap_ratios(strip, axis=1))
        start = time.perf_counter()
        tile = np.asarray(op.tile(image, size=(args.tile, args.tile), generator=torch.Generator().manual_seed(i)).image)
        seconds["tile"] += time.perf_counter() - start
        tile_ratio.append(np.mean([wrap_ratios(tile, axis=1), wrap_ratios(tile, axis=0)], axis=0))
        if i < 2:
            Image.fromarray(np.concatenate([strip, strip[:, : strip.shape[1] // 4]], axis=1)).save(
                out / f"panorama_{i}_with_wrap_repeated.png"
            )
            Image.fromarray(np.tile(tile, (2, 2, 1))).save(out / f"tile_{i}_2x2.png")
    n = len(photos)
    print(f"{n} validation photos (224x224); panorama width {args.width}, tile {args.tile}x{args.tile}")
    print("| output | wrap / interior (mean +- s.e.) | worst | local: wrap / interior (mean +- s.e.) | s/image |")
    print("|---|---|---|---|---|")
    for name, ratios in (("panorama", np.array(pano_ratio)), ("tile 2x2", np.array(tile_ratio))):
        mean, se = ratios.mean(axis=0), ratios.std(axis=0, ddof=1) / np.sqrt(max(1, n))
        print(
            f"| {name} | {mean[0]:.2f} +- {se[0]:.2f} | {ratios[:, 0].max():.2f} | {mean[1]:.2f} +- {se[1]:.2f} "
            f"| {seconds[name.split()[0]] / n:.1f} |"
        )
    print(f"examples: {out}")


if __name__ == "__main__":
    main()
