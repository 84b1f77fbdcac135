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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.common.hydra_app import CONF_DIR, compose_app  # noqa: E402
from skysynth.eval.__main__ import run  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "work_data" / "gcd_shards"))
    parser.add_argument("--n", type=int, default=100)
    parser.add_argument("--protocols", nargs="+", default=["center", "right"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    for protocol in args.protocols:
        out = ROOT / "benchmarks" / "reports" / f"outpaint_{protocol}"
        overrides = ["task=outpaint", f"data={args.data}", f"n={args.n}", f"protocol={protocol}"]
        cfg = compose_app("eval", [*overrides, f"device={args.device}", f"out={out}"], CONF_DIR / "eval")
        report = run(cfg)
        print(f"\n## protocol={protocol}, {report['images']} validation images\n")
        print(report["table"])
        print(f"\nreport: {cfg.out}/report.md")


if __name__ == "__main__":
    main()
