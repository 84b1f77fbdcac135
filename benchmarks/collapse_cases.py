"""Which photos of an evaluation run count as collapsed, and how flat their grown sky really is.

The evaluation's collapse rate counts an output whose generated area has a luminance std
(`skysynth.flatness.luminance_std`) below `--threshold` where the truth's is not: a cliff, which
a hazy sky grown a little smoother than the photo crosses as surely as a flat fill. This lists
each counted photo with the output's, the truth's and the input's std there, and sums them up:
how many are hard collapses (below `--hard`) and the median of output std over truth std.

    .venv/bin/python benchmarks/collapse_cases.py --run RUN --protocol top
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import run_box, run_parser  # noqa: E402
from skysynth.common.images import open_image, to_tensor  # noqa: E402
from skysynth.eval.outpaint_eval import generated_region  # noqa: E402
from skysynth.eval.quality import collapsed_by_std  # noqa: E402
from skysynth.flatness import luminance_std  # noqa: E402


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.02, help="the evaluation's collapse std")
    parser.add_argument("--hard", type=float, default=0.01, help="below this std a grown sky is a flat fill")
    args = parser.parse_args(argv)
    if not 0 < args.hard <= args.threshold:
        sys.exit("error: need 0 < --hard <= --threshold")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    truths = sorted((run / "images").glob("*_truth.png"))
    for method in args.methods:
        paths = [t.with_name(t.name.replace("_truth.png", f"_{method}.png")) for t in truths]
        if not all(p.exists() for p in paths):
            sys.exit(f"error: not every truth in {run / 'images'} has a {method} output beside it")
        truth = torch.cat([to_tensor(open_image(p)) for p in truths])
        output = torch.cat([to_tensor(open_image(p)) for p in paths])
        grown = generated_region(box, truth.shape[-1])
        made, real, given = luminance_std(output, grown), luminance_std(truth, grown), luminance_std(truth, ~grown)
        counted = collapsed_by_std(made, real, args.threshold)
        hard = counted & (made < args.hard)
        print(f"## {args.protocol}, {method}: {int(counted.sum())} of {len(truths)} counted as collapsed "
              f"(std < {args.threshold} where the truth's is not), {int(hard.sum())} below {args.hard}\n")
        if counted.any():
            ratio = (made[counted] / real[counted]).median()
            print(f"median output / truth std of those: {float(ratio):.2f}\n")
            print("| photo | output std | truth std | input std |")
            print("|---|---|---|---|")
            for index in torch.nonzero(counted).flatten().tolist():
                print(f"| {truths[index].name[:-10]} | {made[index]:.4f} | {real[index]:.4f} | {given[index]:.4f} |")
            print()


if __name__ == "__main__":
    main()
