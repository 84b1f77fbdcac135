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

import kornia
import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.eval.outpaint_eval import PROTOCOLS, protocol_box  # noqa: E402

OFFSETS = tuple(range(-2, 5))
INSIDE = 1 - OFFSETS[0]  # input lines taken before the first generated one


def luminance(path: Path) -> np.ndarray:
    """(H, W) luminance in 0-255 (kornia's grey, as the eval's flatness measure)."""
    return kornia.color.rgb_to_grayscale(to_tensor(open_image(path)) * 255.0)[0, 0].numpy()


def outward_sides(image: np.ndarray, box: tuple[int, int, int, int], inside: int = 0) -> list[np.ndarray]:
    """For each side of `box` = (left, top, right, bottom) with picture beyond it, the (H, W)
    `image` turned so that lines parallel to that border run along axis 0 outward: `inside`
    input lines, then the generated ones (index `inside` is the first generated line)."""
    height, width = image.shape
    left, top, right, bottom = box
    sides = []
    if right < width:
        sides.append(image[top:bottom, right - inside :].T)
    if left > 0:
        sides.append(image[top:bottom, : left + inside][:, ::-1].T)
    if bottom < height:
        sides.append(image[bottom - inside :, left:right])
    if top > 0:
        sides.append(image[: top + inside, left:right][::-1])
    return sides


def side_profiles(image: np.ndarray, box: tuple[int, int, int, int]) -> list[np.ndarray]:
    """For each side of `box` = (left, top, right, bottom) with picture beyond it, |mean along the
    border of the step between lines| at each of `OFFSETS` (outward), (len(OFFSETS),) each."""
    sides = outward_sides(image, box, INSIDE)
    count = len(OFFSETS) + 1
    # A side with too little picture beyond it is left out.
    return [np.abs(np.diff(lines[:count], axis=0).mean(axis=1)) for lines in sides if lines.shape[0] >= count]


def profile(run: Path, method: str, box) -> tuple[np.ndarray, int]:
    """Mean profile over photos and sides of `method`'s outputs in `run`, and the photo count."""
    paths = sorted((run / "images").glob(f"*_{method}.png"))
    found = [p for image in paths for p in side_profiles(luminance(image), box)]
    if not found:
        sys.exit(f"error: no {method} outputs with a border to measure in {run / 'images'}")
    return np.mean(found, axis=0), len(paths)


def run_parser(description: str) -> argparse.ArgumentParser:
    """The options every reader of an evaluation run's images takes: --run, --protocol, --methods."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--run", required=True, help="an evaluation run's folder (holding images/)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--methods", nargs="+", default=["skysynth"], help="besides the truth")
    return parser


def run_box(run: Path, protocol: str) -> tuple[int, int, int, int]:
    """The input box of `protocol` in `run`'s pictures (sized from its first truth); exits with
    one line when `run` holds no truths."""
    truths = sorted((run / "images").glob("*_truth.png"))
    if not truths:
        sys.exit(f"error: no NNNN_truth.png in {run / 'images'}: is it an evaluation run's folder?")
    return protocol_box(protocol, Image.open(truths[0]).size[0])


def truth_output_pairs(run: Path, method: str) -> list[tuple[Path, Path]]:
    """(NNNN_truth.png, NNNN_<method>.png) paths of every truth in `run`; exits with one line
    when a truth has no `method` output beside it."""
    pairs = []
    for truth_path in sorted((run / "images").glob("*_truth.png")):
        path = truth_path.with_name(truth_path.name.replace("_truth", f"_{method}"))
        if not path.exists():
            sys.exit(f"error: {truth_path.name} has no {method} output beside it in {run / 'images'}")
        pairs.append((truth_path, path))
    return pairs


def main(argv=None) -> None:
    args = run_parser(__doc__.split("\n\n")[0]).parse_args(argv)
    run = Path(args.run)
    box = run_box(run, args.protocol)
    print(f"## {args.protocol}: |mean step along the border| by offset (grey levels 0-255)\n")
    print("| method | photos | " + " | ".join(f"{k:+d}" for k in OFFSETS) + " |")
    print("|---|---|" + "---|" * len(OFFSETS))
    for method in [*args.methods, "truth"]:
        values, count = profile(run, method, box)
        print(f"| {method} | {count} | " + " | ".join(f"{v:.2f}" for v in values) + " |")


if __name__ == "__main__":
    main()
