"""Do panoramas and tiles close without a seam? Wrap-line gradients against interior lines.

For validation photos: `op.panorama(photo, width=W)` and `op.tile(photo, size=(S, S))`. The wrap
line of a panorama is between its last and first column; a tile repeated 2x2 has wrap lines in
both directions. Score of a line = mean |difference| across it / mean |difference| between
neighbouring pixels of the same image; reported is the wrap lines' score over the mean score of
all interior lines (1.0 = the wrap line looks like any other; target <= 1.1).

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
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402


def line_scores(pixels: np.ndarray, axis: int) -> np.ndarray:
    """Score of every line between neighbouring columns (axis=1) or rows (axis=0), wrap line last."""
    x = pixels.astype(np.float64)
    wrapped = np.concatenate([x, np.take(x, [0], axis=axis)], axis=axis)
    diffs = np.abs(np.diff(wrapped, axis=axis)).mean(axis=(1 - axis, 2))
    return diffs / diffs[:-1].mean()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "work_data" / "gcd_shards"))
    parser.add_argument("--n", type=int, default=16)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--tile", type=int, default=512)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "reports" / "panorama"))
    parser.add_argument("--border-feather", type=float, default=None, help="tokens; default: the pipeline's")
    args = parser.parse_args()
    cfg = OmegaConf.create(
        {"data": args.data, "batch": 16, "n": args.n, "val_fraction": 0.05, "seed": 0, "device": "cpu"}
    )
    photos = torch.cat(list(validation_batches(cfg, 1, 224)))
    op = Outpainter.from_pretrained()
    if args.border_feather is not None:
        op.settings.border_feather_tokens = args.border_feather
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pano_ratio, tile_ratio, seconds = [], [], {"panorama": 0.0, "tile": 0.0}
    for i, photo in enumerate(photos):
        image = Image.fromarray((photo.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8))
        start = time.perf_counter()
        strip = np.asarray(op.panorama(image, width=args.width, generator=torch.Generator().manual_seed(i)))
        seconds["panorama"] += time.perf_counter() - start
        scores = line_scores(strip, axis=1)
        pano_ratio.append(scores[-1] / scores[:-1].mean())
        start = time.perf_counter()
        tile = np.asarray(op.tile(image, size=(args.tile, args.tile), generator=torch.Generator().manual_seed(i)))
        seconds["tile"] += time.perf_counter() - start
        x_scores, y_scores = line_scores(tile, axis=1), line_scores(tile, axis=0)
        tile_ratio.append((x_scores[-1] / x_scores[:-1].mean() + y_scores[-1] / y_scores[:-1].mean()) / 2)
        if i < 2:
            Image.fromarray(np.concatenate([strip, strip[:, : strip.shape[1] // 4]], axis=1)).save(
                out / f"panorama_{i}_with_wrap_repeated.png"
            )
            Image.fromarray(np.tile(tile, (2, 2, 1))).save(out / f"tile_{i}_2x2.png")
    n = len(photos)
    print(f"{n} validation photos (224x224); panorama width {args.width}, tile {args.tile}x{args.tile}")
    print("| output | wrap-line score / interior-line score (mean) | worst | s/image |")
    print("|---|---|---|---|")
    print(f"| panorama | {np.mean(pano_ratio):.3f} | {np.max(pano_ratio):.3f} | {seconds['panorama'] / n:.1f} |")
    print(f"| tile 2x2 | {np.mean(tile_ratio):.3f} | {np.max(tile_ratio):.3f} | {seconds['tile'] / n:.1f} |")
    print(f"examples: {out}")


if __name__ == "__main__":
    main()
