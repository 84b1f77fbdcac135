"""At which scales a method's generated sky has less (or more) structure than the truth's.

Reads an evaluation run (`python -m skysynth.eval task=outpaint ...`, whose `images/` folder
holds `NNNN_<method>.png` and `NNNN_truth.png`) and splits each picture's luminance (0-255) into
Gaussian bands: the differences between blurs of 0, 1, 2, 4, 8, 16 and 32 px (a token is 8 px
at 224) and the blur of 32 px itself (the sky's large-scale gradient). Per band, the standard
deviation in the generated region (the protocol's outside, a margin away from the input's border
and the edges, as `dark_spots.py` counts) is divided by the truth's on the same photo; the table
gives the median of that ratio over the photos (1.00 = as much structure at that scale as the
real sky; 0.6 = the band is two-fifths too weak). SWD tells that the peers' texture is closer to
the truth's; this tells at which scale skysynth's is not.

    .venv/bin/python benchmarks/band_energy.py --run work_data/reports/whole_top --protocol top
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
from benchmarks.dark_spots import region  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.spots import blur  # noqa: E402

SIGMAS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # px at 224 (1/8 to 4 tokens)
FLOOR = 0.05  # grey levels: a truth's band weaker than this gives no ratio (a flat JPEG band)


def band_labels(sigmas=SIGMAS) -> list[str]:
    edges = [0.0, *sigmas]
    return [f"{lo:g}-{hi:g}" for lo, hi in zip(edges[:-1], edges[1:], strict=True)] + [f">{sigmas[-1]:g}"]


def band_stds(rgb: torch.Tensor, where: torch.Tensor, sigmas=SIGMAS) -> np.ndarray:
    """(1, 3, H, W) in [0, 1], (H, W) bool -> (len(sigmas) + 1,) std of each luminance band
    (0-255) inside `where`: fine to coarse, the last the blur of the largest sigma itself."""
    grey = kornia.color.rgb_to_grayscale(rgb.float()) * 255.0
    previous, stds = grey, []
    for sigma in sigmas:
        low = blur(grey, sigma)
        stds.append(float((previous - low)[0, 0][where].std()))
        previous = low
    stds.append(float(previous[0, 0][where].std()))
    return np.array(stds)


def ratios(run: Path, method: str, box) -> tuple[np.ndarray, int]:
    """Median over photos of method / truth band std, per band; and the number of photos."""
    least = int(3 * SIGMAS[-1]) + 1  # the widest blur's reflected border must fit inside
    per_photo = []
    for truth_path, path in truth_output_pairs(run, method):
        truth = to_tensor(open_image(truth_path))
        if min(truth.shape[-2:]) < least:
            size = f"{truth.shape[-1]}x{truth.shape[-2]}"
            sys.exit(f"error: {truth_path.name} is {size}: the bands need pictures of at least {least} px")
        where = region(truth.shape[-1], box)
        reference = band_stds(truth, where)
        ratio = band_stds(to_tensor(open_image(path)), where) / np.maximum(reference, 1e-9)
        per_photo.append(np.where(reference >= FLOOR, ratio, np.nan))
    return np.nanmedian(np.array(per_photo), axis=0), len(per_photo)


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    args = parser.parse_args(argv)
    run = Path(args.run)
    box = run_box(run, args.protocol)
    labels = band_labels()
    print(f"## {args.protocol}: band std over the truth's in the generated region (median over photos)\n")
    print("| method | photos | " + " | ".join(f"{label} px" for label in labels) + " |")
    print("|---|---|" + "---|" * len(labels))
    for method in args.methods:
        median, n = ratios(run, method, box)
        print(f"| {method} | {n} | " + " | ".join(f"{value:.2f}" for value in median) + " |")


if __name__ == "__main__":
    main()
