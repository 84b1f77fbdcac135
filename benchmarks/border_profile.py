"""Thin lines along the input's border: the step between neighbouring lines of pixels, by offset.

A line one pixel wide parallel to the input's border is the first thing a viewer sees and the
last a whole-image metric notices (the eval's seam score looks only at the step across the
border itself). This reads an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose
`images/` folder holds `NNNN_<method>.png` and `NNNN_truth.png`) and, for each side of the
protocol's input box inside the picture, takes the step between neighbouring lines at offsets
from the border (0 = last input line to first generated line, 1 = first to second generated
line, negative = inside the input), averaged along the border (a consistent line survives the
average, texture does not), in absolute grey levels (0-255 luminance), then averaged over sides
and photos. A method's row should look like the truth's: no offset standing out.

    .venv/bin/python benchmarks/border_profile.py --run work_data/reports/whole_right --protocol right
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.eval.outpaint_eval import PROTOCOLS, protocol_box  # noqa: E402

OFFSETS = tuple(range(-2, 5))


def luminance(path: Path) -> np.ndarray:
    """(H, W) float luminance in 0-255."""
    rgb = np.asarray(Image.open(path).convert("RGB"), dtype=np.float64)
    return rgb @ np.array([0.299, 0.587, 0.114])


def side_profiles(image: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
    """For each side of `box` = (left, top, right, bottom) with picture beyond it, |mean along the
    border of the step between lines| at each of `OFFSETS` (outward), (len(OFFSETS),) each."""
    height, width = image.shape
    left, top, right, bottom = box
    # Each side as (lines outward from the border, the border's extent along them): the picture
    # turned so that index i is the i-th line outward from the first generated one.
    sides = []
    if right < width:
        sides.append((image[top:bottom, right - 3 :].T, len(OFFSETS) + 1))
    if left > 0:
        sides.append((image[top:bottom, : left + 3][:, ::-1].T, len(OFFSETS) + 1))
    if bottom < height:
        sides.append((image[bottom - 3 :, left:right], len(OFFSETS) + 1))
    if top > 0:
        sides.append((image[: top + 3, left:right][::-1], len(OFFSETS) + 1))
    profiles = []
    for lines, count in sides:
        if lines.shape[0] < count:  # too little picture beyond this side
            continue
        steps = np.diff(lines[:count], axis=0).mean(axis=1)  # lines[3] is the first generated line
        profiles.append(np.abs(steps))
    return profiles


def profile(run: Path, method: str, box) -> tuple[np.ndarray, int]:
    """Mean profile over photos and sides of `method`'s outputs in `run`, and the photo count."""
    paths = sorted((run / "images").glob(f"*_{method}.png"))
    found = [p for image in paths for p in side_profiles(luminance(image), box)]
    if not found:
        sys.exit(f"error: no {method} outputs with a border to measure in {run / 'images'}")
    return np.mean(found, axis=0), len(paths)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--run", required=True, help="an evaluation run's folder (holding images/)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--methods", nargs="+", default=["skysynth"], help="besides the truth")
    args = parser.parse_args(argv)
    run = Path(args.run)
    truths = sorted((run / "images").glob("*_truth.png"))
    if not truths:
        sys.exit(f"error: no NNNN_truth.png in {run / 'images'}: is it an evaluation run's folder?")
    size = Image.open(truths[0]).size[0]
    box = protocol_box(args.protocol, size)
    print(f"## {args.protocol}: |mean step along the border| by offset (grey levels 0-255)\n")
    print("| method | photos | " + " | ".join(f"{k:+d}" for k in OFFSETS) + " |")
    print("|---|---|" + "---|" * len(OFFSETS))
    for method in [*args.methods, "truth"]:
        values, count = profile(run, method, box)
        print(f"| {method} | {count} | " + " | ".join(f"{v:.2f}" for v in values) + " |")


if __name__ == "__main__":
    main()
