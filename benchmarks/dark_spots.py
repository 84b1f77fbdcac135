"""Isolated dark spots in the generated sky: token-sized blobs darker than a smooth surround.

A frequent reason a viewer rejected skysynth's sky in blind pairs was a dark dot or a round blue
hole about a token across, alone on smooth cloud; no whole-image metric singles them out. This
reads an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose `images/` folder
holds `NNNN_<method>.png` and `NNNN_truth.png`) and counts, in each method's generated region
(outside the protocol's input box, a margin away from the border and the edges), the local minima
of a token-scale difference of Gaussians of the luminance that are at least `DEPTH` grey levels
deep and at least `--isolation` times the band's local RMS (a spot standing out of its
surround, not one dip of a textured cloud field). Real skies have such spots too (gaps in
altocumulus), so a method is read against the truth on the same region: spots per 10,000
generated pixels and the share of photos with at least one. `--bright` counts the opposite:
isolated bright spots (the small white balls on smooth sky of the top protocol), by the same
measure on the inverted luminance.

    .venv/bin/python benchmarks/dark_spots.py --run work_data/reports/whole_right --protocol right
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import run_box, run_parser  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.spots import isolated_spots  # noqa: E402

MARGIN = 8  # pixels kept clear of the input's border and of the picture's edges
TOKEN_PIXELS = 8  # a token's pixels at 224 (the outputs), the size of a spot


def spots(rgb: torch.Tensor, isolation: float, bright: bool = False, scale: int = 1) -> torch.Tensor:
    """Boolean (H, W) map of isolated dark spots in `rgb` (1, 3, H, W), 0-1 (bright ones if
    `bright`): skysynth.spots.isolated_spots at a token of TOKEN_PIXELS, the sampler's spot
    repair's measure; `scale` > 1 finds blobs `scale` tokens across instead."""
    return isolated_spots(rgb, isolation, bright, token_pixels=TOKEN_PIXELS * scale)[0]


def region(size: int, box: tuple[int, int, int, int]) -> torch.Tensor:
    """(size, size) boolean: generated pixels at least MARGIN from the input box and the edges."""
    left, top, right, bottom = box
    near_input = torch.zeros(size, size, dtype=torch.bool)
    near_input[max(top - MARGIN, 0) : bottom + MARGIN, max(left - MARGIN, 0) : right + MARGIN] = True
    inside_edges = torch.zeros(size, size, dtype=torch.bool)
    inside_edges[MARGIN:-MARGIN, MARGIN:-MARGIN] = True
    return inside_edges & ~near_input


def rates(
    run: Path, method: str, box, isolation: float, bright: bool = False, scale: int = 1
) -> tuple[float, float, int]:
    """Spots per 10,000 region pixels and share of photos with any, over `method`'s outputs."""
    paths = sorted((run / "images").glob(f"*_{method}.png"))
    if not paths:
        sys.exit(f"error: no {method} outputs in {run / 'images'}")
    per_area, any_spot = [], []
    for path in paths:
        rgb = to_tensor(open_image(path))
        where = region(rgb.shape[-1], box)
        count = (spots(rgb, isolation, bright, scale) & where).sum().item()
        per_area.append(count / (where.sum().item() / 10_000))
        any_spot.append(count > 0)
    return float(np.mean(per_area)), float(np.mean(any_spot)), len(paths)


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--isolation", type=float, nargs="+", default=[2.0, 2.2, 2.5])
    parser.add_argument("--bright", action="store_true", help="isolated bright spots instead of dark ones")
    parser.add_argument("--scale", type=int, default=1, help="spot size in tokens (2: blobs two tokens across)")
    args = parser.parse_args(argv)
    if args.scale < 1:
        sys.exit(f"error: --scale must be at least 1, got {args.scale}")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    size = f", {args.scale} tokens across" if args.scale > 1 else ""
    print(f"## {args.protocol}: isolated {'bright' if args.bright else 'dark'} spots{size} in the generated region\n")
    print("| method | photos | isolation | spots / 10k px | photos with a spot | rate / truth's |")
    print("|---|---|---|---|---|---|")
    for isolation in args.isolation:
        truth_rate, truth_share, count = rates(run, "truth", box, isolation, args.bright, args.scale)
        for method in args.methods:
            rate, share, n = rates(run, method, box, isolation, args.bright, args.scale)
            ratio = rate / truth_rate if truth_rate else float("nan")
            print(f"| {method} | {n} | {isolation:g} | {rate:.2f} | {share:.0%} | {ratio:.2f} |")
        print(f"| truth | {count} | {isolation:g} | {truth_rate:.2f} | {truth_share:.0%} | 1.00 |")


if __name__ == "__main__":
    main()
