"""A grid to judge by eye: an evaluation run's outputs next to a peer's, on the same photos.

The acceptance of a generator is partly a person's: would you pick its picture over the patch
tools'? An evaluation run without peers (`'baselines=[]'`, the fast way to measure skysynth alone)
holds no peer outputs; this fills the protocol's input box of `--n` of the run's photos with each
`--peers` tool (or reuses the run's own `NNNN_<peer>.png` where it has them) and writes one grid,
one column per photo, rows: truth, each of `--methods`, each peer, in that order.

    .venv/bin/python benchmarks/peer_grid.py --run work_data/reports/whole_top --protocol top \
        --peers resynthesizer patchmatch --n 6 --out work_data/top_vs_peers.png
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.border_profile import run_box, run_parser  # noqa: E402
from skysynth.common.images import load_rgb, save_grid  # noqa: E402
from skysynth.eval.baselines import BASELINES, fill, missing  # noqa: E402


def peer_output(run: Path, photo: str, peer: str, box, truth: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8: the run's own output of `peer` for `photo`, else the peer run now on the
    truth's input box `box` = (left, top, right, bottom)."""
    saved = run / "images" / f"{photo}_{peer}.png"
    if saved.exists():
        return load_rgb(saved)
    left, top, right, bottom = box
    height, width = truth.shape[:2]
    return fill(peer, truth[top:bottom, left:right], (left, top, width - right, height - bottom))


def main(argv=None) -> None:
    parser = run_parser(__doc__.split("\n\n")[0])
    parser.add_argument("--peers", nargs="+", default=["resynthesizer"], choices=BASELINES)
    parser.add_argument("--n", type=int, default=6, help="photos (columns), drawn at random from the run")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="the grid's PNG")
    args = parser.parse_args(argv)
    for peer in args.peers:
        if (reason := missing(peer)) is not None:
            sys.exit(f"error: {reason}")
    if args.n < 1:
        sys.exit("error: --n must be at least 1")
    run = Path(args.run)
    box = run_box(run, args.protocol)
    photos = sorted(p.name.split("_", 1)[0] for p in (run / "images").glob("*_truth.png"))
    for method in args.methods:
        photos = [k for k in photos if (run / "images" / f"{k}_{method}.png").exists()]
    if len(photos) < args.n:
        sys.exit(f"error: {len(photos)} photos of {run} have outputs of {', '.join(args.methods)}, asked for {args.n}")
    chosen = sorted(random.Random(args.seed).sample(photos, args.n))
    truths = [load_rgb(run / "images" / f"{k}_truth.png") for k in chosen]
    rows = [truths]
    rows += [[load_rgb(run / "images" / f"{k}_{method}.png") for k in chosen] for method in args.methods]
    rows += [[peer_output(run, k, peer, box, t) for k, t in zip(chosen, truths)] for peer in args.peers]
    as_tensor = lambda row: torch.from_numpy(np.stack(row)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    path = save_grid([as_tensor(row) for row in rows], args.out)
    print(f"{path}: photos {' '.join(chosen)}; rows: truth, {', '.join([*args.methods, *args.peers])}")


if __name__ == "__main__":
    main()
