"""Drift with distance: how far the generated sky's brightness wanders from the truth's, away from the input.

Reads an evaluation run's images (`python -m skysynth.eval task=outpaint ... out=RUN`). For each
side of the protocol's input box with generated picture beyond it, each line parallel to the
border is averaged along the border (luminance, 0-255) in the output and in the truth; the table
gives, per band of `--band` pixels outward from the border, the mean signed difference (output -
truth: > 0 = brighter than the photo) and the mean |difference| over photos and sides. A
generator that follows the sky's own change with distance has a signed column near 0 at every
distance; a drift shows as a signed value growing with distance.

    .venv/bin/python benchmarks/drift_profile.py --run RUN --protocol top --methods skysynth patchmatch
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import luminance, outward_sides, run_box, run_parser  # noqa: E402


def line_means(path: Path, box: tuple[int, int, int, int]) -> list[np.ndarray]:
    """Per side of `box` = (left, top, right, bottom) with picture beyond it: the luminance (0-255)
    of each generated line parallel to that border, averaged along it, outward, (length,) each."""
    return [side.mean(axis=1) for side in outward_sides(luminance(path), box)]


def drift(run: Path, method: str, box, band: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Signed and absolute mean difference of `method` from the truth per band outward, and the
    number of photos; ((bands,), (bands,), int)."""
    signed: dict[int, list[float]] = {}
    absolute: dict[int, list[float]] = {}
    outputs = sorted((run / "images").glob(f"*_{method}.png"))
    for output in outputs:
        truth = output.with_name(output.name.replace(f"_{method}.png", "_truth.png"))
        if not truth.exists():
            sys.exit(f"error: {output.name} has no truth beside it in {output.parent}")
        for made, real in zip(line_means(output, box), line_means(truth, box)):
            for start in range(0, len(made) - band + 1, band):
                difference = made[start : start + band] - real[start : start + band]
                signed.setdefault(start // band, []).append(float(difference.mean()))
                absolute.setdefault(start // band, []).append(float(np.abs(difference).mean()))
    if not signed:
        sys.exit(f"error: no {method} outputs with {band} px beyond the border in {run / 'images'}")
    bands = sorted(signed)
    return (
        np.array([np.mean(signed[b]) for b in bands]),
        np.array([np.mean(absolute[b]) for b in bands]),
        len(outputs),
    )


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--band", type=int, default=16, help="pixels per distance band")
    args = parser.parse_args(argv)
    if args.band < 1:
        sys.exit("error: --band must be at least 1")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    rows = {method: drift(run, method, box, args.band) for method in args.methods}
    count = max(len(signed) for signed, _, _ in rows.values())
    header = " | ".join(f"{b * args.band}-{(b + 1) * args.band - 1}" for b in range(count))
    print(f"## {args.protocol}: output - truth luminance by distance from the border (px; grey levels 0-255)\n")
    print(f"| method | photos | measure | {header} |")
    print("|---|---|---|" + "---|" * count)
    for method, (signed, absolute, photos) in rows.items():
        for name, values in (("signed", signed), ("abs", absolute)):
            print(f"| {method} | {photos} | {name} | " + " | ".join(f"{v:+.1f}" for v in values) + " |")


if __name__ == "__main__":
    main()
