"""Grain on smooth sky next to the input: pixel-scale detail where the sky has no structure.

Detail copy gives the generated sky near the input the input's finest Laplacian band. Where the
input's sky is cumulus and the sky grown beside it is clear, it pasted cloud-rim grain onto the
clear sky: a speckled band along the input's border (one top-protocol photo traced in
RESULTS.md). This reads an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose
`images/` folder holds `NNNN_<method>.png` and `NNNN_truth.png`) and measures, in the band of
generated pixels up to `--reach` pixels from the input box, `TILE` x `TILE` tiles of the
luminance: a tile is smooth when its structure band (difference of Gaussians, STRUCTURE_SIGMAS)
has an RMS below `--smooth` grey levels; the grain of a smooth tile is the RMS of its finest band
(luminance minus its pyrdown-pyrup low pass). The truth, on the same band, is the reference:
real clear sky carries little grain, and a method's smooth sky should carry about as much. Besides
the mean over all photos, the share of photos whose smooth tiles carry more than 1.5x (2x) the
truth's grain on the same photo counts the speckled bands one by one.

    .venv/bin/python benchmarks/smooth_grain.py --run work_data/reports/whole_top --protocol top
"""

from __future__ import annotations

import sys
from pathlib import Path

import kornia
import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import run_box, run_parser  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.outpaint.finish.filters import finest_band  # noqa: E402
from skysynth.spots import blur  # noqa: E402

TILE = 8  # pixels: the detail copy's tile
STRUCTURE_SIGMAS = (1.5, 4.0)  # pixels: the band of cloud edges and texture coarser than grain
GAP = 2  # pixels next to the input box left out (the border's own step is another measure)
MIN_TILES = 5  # smooth tiles a photo needs for its own grain figure


def tile_rms(band: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) -> (H // TILE, W // TILE) RMS of each tile."""
    return F.avg_pool2d(band.square(), TILE).sqrt()[0, 0]


def band_tiles(size: int, box: tuple[int, int, int, int], reach: int) -> torch.Tensor:
    """(size // TILE, size // TILE) boolean: tiles wholly outside the input box (and GAP from it)
    and wholly within `reach` pixels of it (Chebyshev)."""
    left, top, right, bottom = box
    index = torch.arange(size)
    dy = torch.clamp(top - index, min=0) + torch.clamp(index - (bottom - 1), min=0)
    dx = torch.clamp(left - index, min=0) + torch.clamp(index - (right - 1), min=0)
    distance = torch.maximum(dy[:, None], dx[None, :]).float()
    inside = ((distance > GAP) & (distance <= reach)).float()[None, None]
    return F.avg_pool2d(inside, TILE)[0, 0] == 1.0


def measure(rgb: torch.Tensor, where: torch.Tensor, smooth_below: float) -> tuple[int, int, list[float]]:
    """(band tiles, smooth tiles, grain RMS of each smooth tile) of one (1, 3, H, W) picture, 0-1."""
    grey = kornia.color.rgb_to_grayscale(rgb) * 255.0
    structure = tile_rms(blur(grey, STRUCTURE_SIGMAS[0]) - blur(grey, STRUCTURE_SIGMAS[1]))
    grain = tile_rms(finest_band(grey))
    smooth = where & (structure < smooth_below)
    return int(where.sum()), int(smooth.sum()), grain[smooth].tolist()


def summary(run: Path, method: str, box, reach: int, smooth_below: float) -> dict:
    """Over `method`'s outputs: photos, share of band tiles that are smooth, mean and 90th
    percentile grain RMS of those, and each photo's mean smooth-tile grain (None where it has
    fewer than MIN_TILES smooth tiles), keyed by the photo's number."""
    paths = sorted((run / "images").glob(f"*_{method}.png"))
    if not paths:
        sys.exit(f"error: no {method} outputs in {run / 'images'}")
    tiles = smooth = 0
    grains: list[float] = []
    per_photo: dict[str, float | None] = {}
    for path in paths:
        rgb = to_tensor(open_image(path))
        where = band_tiles(rgb.shape[-1], box, reach)
        n, s, g = measure(rgb, where, smooth_below)
        tiles, smooth, grains = tiles + n, smooth + s, grains + g
        per_photo[path.name.split("_")[0]] = float(np.mean(g)) if len(g) >= MIN_TILES else None
    share = smooth / max(tiles, 1)
    mean, p90 = (float(np.mean(grains)), float(np.percentile(grains, 90))) if grains else (float("nan"),) * 2
    return {"photos": len(paths), "share": share, "mean": mean, "p90": p90, "per_photo": per_photo}


def excess_share(made: dict, truth: dict, factor: float) -> float:
    """Share of the photos (both with MIN_TILES smooth tiles) whose smooth-tile grain is more than
    `factor` times the truth's on the same photo: the speckled bands, which a mean hides."""
    pairs = [(m, truth[k]) for k, m in made.items() if m is not None and truth.get(k) is not None]
    return float(np.mean([m > factor * t for m, t in pairs])) if pairs else float("nan")


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--reach", type=int, default=32, help="pixels from the input box (default 32)")
    parser.add_argument("--smooth", type=float, nargs="+", default=[1.0, 2.0], help="grey levels")
    args = parser.parse_args(argv)
    if args.reach <= GAP + TILE:
        sys.exit(f"error: --reach must be more than {GAP + TILE} pixels, got {args.reach}")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    print(f"## {args.protocol}: grain (finest band RMS, grey levels) of smooth tiles within {args.reach} px\n")
    columns = "smooth below | smooth tiles | grain mean | grain p90 | mean / truth's | photos > 1.5x | > 2x"
    print(f"| method | photos | {columns} |")
    print("|---|---|---|---|---|---|---|---|---|")
    for smooth_below in args.smooth:
        truth = summary(run, "truth", box, args.reach, smooth_below)
        for method in args.methods:
            made = summary(run, method, box, args.reach, smooth_below)
            ratio = made["mean"] / truth["mean"] if truth["mean"] else float("nan")
            over = [excess_share(made["per_photo"], truth["per_photo"], f) for f in (1.5, 2.0)]
            print(
                f"| {method} | {made['photos']} | {smooth_below:g} | {made['share']:.0%} | {made['mean']:.2f} "
                f"| {made['p90']:.2f} | {ratio:.2f} | {over[0]:.1%} | {over[1]:.1%} |"
            )
        print(
            f"| truth | {truth['photos']} | {smooth_below:g} | {truth['share']:.0%} | {truth['mean']:.2f} "
            f"| {truth['p90']:.2f} | 1.00 | | |"
        )


if __name__ == "__main__":
    main()
