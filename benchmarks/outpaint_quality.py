"""Outpainting quality on the validation photos: skysynth against reflect, Telea, NS and mean fill.

Runs the evaluation protocol (DESIGN.md; `python -m skysynth.eval task=outpaint`) for the
`center` protocol and one side (`right` by default), in one process, and prints both tables.
Reports (markdown, plots, grids) go to benchmarks/reports/outpaint_<protocol>/.

    .venv/bin/python benchmarks/outpaint_quality.py [--data work_data/gcd_shards] [--n 100]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from omegaconf import OmegaConf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.eval.__main__ import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "work_data" / "gcd_shards"))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--protocols", nargs="+", default=["center", "right"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for protocol in args.protocols:
        cfg = OmegaConf.load(ROOT / "conf" / "eval" / "eval.yaml")
        cfg.pop("defaults"), cfg.pop("hydra")
        cfg.task, cfg.data, cfg.n, cfg.protocol, cfg.device = "outpaint", args.data, args.n, protocol, args.device
        cfg.out = str(ROOT / "benchmarks" / "reports" / f"outpaint_{protocol}")
        report = run(cfg)
        print(f"\n## protocol={protocol}, {report['images']} validation images\n")
        print(report["table"])
        print(f"\nreport: {cfg.out}/report.md")


if __name__ == "__main__":
    main()
