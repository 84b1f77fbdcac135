"""Where in the generated sky a method's shapes are too strong or too weak: a map over blocks.

Reads an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose `images/` folder
holds `NNNN_<method>.png` and `NNNN_truth.png`), blurs each picture's luminance (0-255) by
`--blur` px (so that grain does not count, only shapes: cloud edges, blocks, patches), cuts it
into `--block`-px blocks and takes each block's standard deviation. Per block, over the photos
whose truth has some structure there (std >= `--floor` grey levels), the table gives the
geometric mean of method / truth (1.00 = as much contrast as the real sky in that place) and,
below it, the share of photos where the method's block has more than `--excess` times the
truth's (a hard-edged block or a patch where the sky is soft). `in` marks blocks that touch the
input box. `band_energy.py` tells at which scale the grown sky differs; this tells where, for
instance the far corners that a growth plan reaches last.

    .venv/bin/python benchmarks/block_contrast.py --run work_data/reports/whole_top --protocol top
"""

from __future__ import annotations

import sys
from pathlib import Path

import kornia
import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import run_box, run_parser, truth_output_pairs  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.spots import blur  # noqa: E402


def block_stds(rgb: torch.Tensor, block: int, sigma: float) -> np.ndarray:
    """(1, 3, H, W) in [0, 1] -> (H // block, W // block) std of the `sigma`-px blurred
    luminance (0-255) in each block (the picture's remainder past the last whole block is left out)."""
    grey = kornia.color.rgb_to_grayscale(rgb.float()) * 255.0
    if sigma > 0:
        grey = blur(grey, sigma)
    rows, cols = grey.shape[-2] // block, grey.shape[-1] // block
    blocks = grey[0, 0, : rows * block, : cols * block].reshape(rows, block, cols, block)
    return blocks.permute(0, 2, 1, 3).reshape(rows, cols, -1).std(-1).numpy()


def touches_input(shape: tuple[int, int], block: int, box) -> np.ndarray:
    """(rows, cols) bool: blocks that share any pixel with the input box."""
    left, top, right, bottom = box
    rows, cols = shape
    r0, c0 = np.arange(rows)[:, None] * block, np.arange(cols)[None, :] * block
    return (r0 < bottom) & (r0 + block > top) & (c0 < right) & (c0 + block > left)


def block_map(run: Path, method: str, block: int, sigma: float, floor: float, excess: float):
    """Geometric mean of method / truth block std, share of photos above `excess`, and the
    number of photos counted, each (rows, cols); blocks with no counted photo are NaN."""
    logs, shares, counts = None, None, None
    for truth_path, path in truth_output_pairs(run, method):
        truth = to_tensor(open_image(truth_path))
        if min(truth.shape[-2:]) < block:
            sys.exit(f"error: {truth_path.name} is smaller than one {block}-px block")
        reference = block_stds(truth, block, sigma)
        ratio = block_stds(to_tensor(open_image(path)), block, sigma) / np.maximum(reference, 1e-9)
        counted = reference >= floor
        if logs is None:
            logs, shares, counts = (np.zeros(reference.shape) for _ in range(3))
        logs += np.where(counted, np.log(np.maximum(ratio, 1e-6)), 0.0)
        shares += counted & (ratio > excess)
        counts += counted
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.exp(logs / counts), shares / counts, counts


def grid_table(values: np.ndarray, inside: np.ndarray, form: str) -> list[str]:
    cols = values.shape[1]
    lines = ["| row | " + " | ".join(f"col {c}" for c in range(cols)) + " |", "|---|" + "---|" * cols]
    for r, row in enumerate(values):
        cells = ["in" if inside[r, c] else ("-" if np.isnan(v) else format(v, form)) for c, v in enumerate(row)]
        lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return lines


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--block", type=int, default=28, help="block side in px (28 = 3.5 tokens at 224)")
    parser.add_argument("--blur", type=float, default=4.0, help="Gaussian sigma in px taken off first")
    parser.add_argument("--floor", type=float, default=1.0, help="grey levels: flatter truth blocks give no ratio")
    parser.add_argument("--excess", type=float, default=2.0, help="ratio above which a block counts as too strong")
    args = parser.parse_args(argv)
    if args.block < 2 or args.blur < 0 or args.floor <= 0 or args.excess <= 1:
        sys.exit("error: need --block >= 2, --blur >= 0, --floor > 0 and --excess > 1")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    for method in args.methods:
        ratio, share, counts = block_map(run, method, args.block, args.blur, args.floor, args.excess)
        inside = touches_input(ratio.shape, args.block, box)
        outside = ~inside & (counts > 0)
        print(f"## {args.protocol}, {method}: {args.block}-px blocks, luminance blurred by {args.blur:g} px\n")
        print("Block std over the truth's, geometric mean over photos:\n")
        print("\n".join(grid_table(ratio, inside, ".2f")))
        print(f"\nShare of photos where the block has more than {args.excess:g}x the truth's std:\n")
        print("\n".join(grid_table(share, inside, ".2f")))
        overall = float(np.exp(np.average(np.log(ratio[outside]), weights=counts[outside])))
        strongest = np.unravel_index(np.nanargmax(np.where(outside, ratio, np.nan)), ratio.shape)
        print(
            f"\nGenerated blocks overall: {overall:.2f}x the truth's; strongest block row {strongest[0]}, "
            f"col {strongest[1]}: {ratio[strongest]:.2f}x; photos {int(counts.max())}\n"
        )


if __name__ == "__main__":
    main()
