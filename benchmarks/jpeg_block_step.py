"""How much larger a JPEG photo's step between neighbouring pixel lines is on its 8-pixel block edges.

The outpainting protocols put the input's border on multiples of 56 px of a 224-px photo, so on
JPEG block edges, where the photo's own step (the seam score's yardstick) is raised by the
codec. Prints the mean |step| between columns (and rows) p-1 and p of the photos, on block edges
(p a multiple of 8) and off them, their ratio, and the step on each protocol's border lines next
to the lines beside them (the "seam local" yardstick of the outpainting evaluation).

    .venv/bin/python benchmarks/jpeg_block_step.py --data ../shared/data/gcd/train --every 10
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.common.images import is_image, load_rgb  # noqa: E402
from skysynth.eval.outpaint_eval import SEAM_BESIDE  # noqa: E402
from skysynth.eval.quality import lines_beside  # noqa: E402

BLOCK = 8


def mean_steps(paths: list[Path]) -> tuple[np.ndarray, np.ndarray]:
    """Mean |step| (0-1) across each column line and each row line over `paths`: ((W-1,), (H-1,))."""
    across_x = across_y = None
    for path in paths:
        rgb = load_rgb(path).astype(np.float32) / 255.0
        x = np.abs(np.diff(rgb, axis=1)).mean(axis=(0, 2))
        y = np.abs(np.diff(rgb, axis=0)).mean(axis=(1, 2))
        if across_x is None:
            across_x, across_y = x, y
        elif x.shape != across_x.shape or y.shape != across_y.shape:
            raise ValueError(f"{path}: {rgb.shape[1]}x{rgb.shape[0]}, the first photo was a different size")
        else:
            across_x, across_y = across_x + x, across_y + y
    return across_x / len(paths), across_y / len(paths)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder of JPEG photos (searched recursively)")
    parser.add_argument("--every", type=int, default=10, help="take every n-th photo in name order")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        sys.exit(f"error: photo folder not found: {args.data}")
    if args.every < 1:
        sys.exit("error: --every must be at least 1")
    paths = sorted(p for p in args.data.rglob("*") if is_image(p))[:: args.every]
    if not paths:
        sys.exit(f"error: no images in {args.data}")
    try:
        across_x, across_y = mean_steps(paths)
    except ValueError as error:
        sys.exit(f"error: {error}")
    print(f"{len(paths)} photos of {args.data}")
    print("| lines | step on block edges | step elsewhere | ratio |")
    print("|---|---|---|---|")
    for name, steps in (("columns", across_x), ("rows", across_y)):
        line = np.arange(1, len(steps) + 1)  # steps[i] is between lines i and i+1
        on, off = steps[line % BLOCK == 0].mean(), steps[line % BLOCK != 0].mean()
        print(f"| {name} | {on * 255:.3f} | {off * 255:.3f} | {on / off:.2f} |")
    print()
    size = len(across_x) + 1
    print(f"| border column (of {size}) | step on it | step on the {SEAM_BESIDE} lines either side | ratio |")
    print("|---|---|---|---|")
    for border in sorted({size // 4, size // 2, 3 * size // 4}):
        beside = lines_beside([border], SEAM_BESIDE, size)
        on, near = across_x[border - 1], across_x[[b - 1 for b in beside]].mean()
        print(f"| {border} | {on * 255:.3f} | {near * 255:.3f} | {on / near:.2f} |")


if __name__ == "__main__":
    main()
