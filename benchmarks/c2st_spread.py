"""How far the two-sample test moves with its own seed, on the same images.

The outpainting evaluation's C2ST (a small CNN telling real photos from a method's outputs,
k-fold) depends on its seed: the folds, the network's initialisation and the batches. One run
gives one draw of it; before a difference between two runs is called real, it should stand out
of this spread. This reads evaluation runs (`python -m skysynth.eval task=outpaint ...`, whose
`images/` folder holds `NNNN_<method>.png` and `NNNN_truth.png`), repeats the run's realism
tests (whole images at `--size`, and crops on the input's border) over `--seeds`, and prints
per run the mean, the standard deviation and the range; with several runs, each one's paired
difference from the first (the same seed for both: the same folds and initialisation).

    .venv/bin/python benchmarks/c2st_spread.py --runs work_data/reports/a work_data/reports/b --protocol top
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import PROTOCOLS, run_box  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.eval.c2st import C2STConfig  # noqa: E402
from skysynth.eval.outpaint_eval import realism_tests  # noqa: E402


def load(run: Path, method: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(truths, outputs), each (N, 3, S, S) in [0, 1], over the photos that have both."""
    truths = sorted((run / "images").glob("*_truth.png"))
    pairs = [(t, t.with_name(t.name.replace("_truth", f"_{method}"))) for t in truths]
    pairs = [(t, m) for t, m in pairs if m.exists()]
    if len(pairs) < 2:
        sys.exit(f"error: fewer than 2 photos with both a truth and a {method} output in {run / 'images'}")
    stack = lambda paths: torch.cat([to_tensor(open_image(p)) for p in paths])  # noqa: E731
    return stack([t for t, _ in pairs]), stack([m for _, m in pairs])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", nargs="+", required=True, help="evaluation runs' folders (holding images/)")
    parser.add_argument("--protocol", required=True, choices=PROTOCOLS)
    parser.add_argument("--method", default="skysynth")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--size", type=int, default=112, help="whole images resized to this (the eval's c2st_size)")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seam-crop", type=int, default=96)
    args = parser.parse_args(argv)
    if args.size < 16 or args.steps < 1 or args.folds < 2:
        sys.exit("error: --size must be at least 16, --steps at least 1 and --folds at least 2")
    config = C2STConfig(folds=args.folds, steps=args.steps)
    figures = {}  # run -> (seeds, 2) whole, border
    for run in map(Path, args.runs):
        box = run_box(run, args.protocol)
        truths, outputs = load(run, args.method)
        rows = []
        for seed in args.seeds:
            tests = realism_tests(outputs, truths, box, config, args.seam_crop, seed, args.size)
            rows.append((tests["c2st"], tests["c2st_seam"]))
        figures[run] = (np.array(rows), len(truths))

    print(f"## {args.protocol}: C2ST over seeds {', '.join(map(str, args.seeds))} ({args.method})\n")
    print("| run | photos | C2ST mean | sd | range | border mean | sd |")
    print("|---|---|---|---|---|---|---|")
    for run, (rows, n) in figures.items():
        whole, border = rows[:, 0], rows[:, 1]
        sd = lambda x: x.std(ddof=1) if len(x) > 1 else float("nan")  # noqa: E731
        print(
            f"| {run.name} | {n} | {whole.mean():.3f} | {sd(whole):.3f} | {whole.min():.3f}-{whole.max():.3f} "
            f"| {border.mean():.3f} | {sd(border):.3f} |"
        )
    runs = list(figures)
    if len(runs) > 1:
        print(f"\nPaired differences from {runs[0].name} (same seed):\n")
        print("| run | C2ST diff mean | sd | border diff mean | sd |")
        print("|---|---|---|---|---|")
        first = figures[runs[0]][0]
        for run in runs[1:]:
            diff = figures[run][0] - first
            sd = diff.std(axis=0, ddof=1) if len(diff) > 1 else [float("nan")] * 2
            print(f"| {run.name} | {diff[:, 0].mean():+.3f} | {sd[0]:.3f} | {diff[:, 1].mean():+.3f} | {sd[1]:.3f} |")


if __name__ == "__main__":
    main()
