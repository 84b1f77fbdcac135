"""Evaluate a trained model on the validation split of a shard folder.

    python -m skysynth.eval task=vqvae    [weights=DIR] [data=SHARDS] [n=256]
    python -m skysynth.eval task=maskgit  [weights=DIR] [tokenizer=DIR]
    python -m skysynth.eval task=upscaler [weights=DIR] [tokenizer=DIR] [steps=[4,8,16,50]]
    python -m skysynth.eval task=outpaint data=FOLDER [protocol=center|left|right|top|bottom] [n=N]
                            [weights=DIR] [baselines=[reflect,telea,ns,mean]] [out=REPORT_DIR]

Each task prints a table, writes `report.json` and a grid PNG into `out` (default runs/eval/<task>).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, OmegaConf

TASKS = ("vqvae", "maskgit", "upscaler", "outpaint")


def run(cfg: DictConfig) -> dict:
    """Run one evaluation task; returns its report (also written to out/report.json)."""
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}: choose one of {', '.join(TASKS)}")
    for name, low in (("n", 1), ("batch", 1), ("size", 8), ("c2st_steps", 1), ("c2st_folds", 2)):
        value = cfg.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{name} must be a whole number, got {value!r}")
        if value < low:
            raise ValueError(f"{name} must be at least {low}, got {value}")
    if cfg.get("device", "cpu") not in ("cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise ValueError(f"device must be cpu or cuda (cuda:N), got {cfg.device!r}")
    import importlib

    module = importlib.import_module(f"skysynth.eval.{cfg.task}_eval")
    report = module.evaluate(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    report["settings"] = OmegaConf.to_container(cfg, resolve=True)
    tmp = out / ".report.json.tmp"
    tmp.write_text(json.dumps(report, indent=2))
    tmp.replace(out / "report.json")
    lines = [f"# skysynth eval: {cfg.task}", "", report["table"], ""]
    for key in ("plot", "grid"):
        if key in report:
            lines.append(f"![{key}]({Path(report[key]).name})")
    if "page" in report:
        lines.append(f"\n[Side-by-side page, one row per photo]({Path(report['page']).name})")
    if "grid_rows" in report:
        lines.append(f"\nGrid rows: {report['grid_rows']}.")
    tmp = out / ".report.md.tmp"
    tmp.write_text("\n".join(lines) + "\n")
    tmp.replace(out / "report.md")
    return report


@hydra.main(version_base="1.3", config_path="../../conf/eval", config_name="eval")
def main(cfg: DictConfig) -> None:
    try:
        report = run(cfg)
    except (FileNotFoundError, ValueError, KeyError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: no report was written", file=sys.stderr)
        sys.exit(130)
    print(report["table"])
    print(f"report: {Path(cfg.out) / 'report.json'}")


if __name__ == "__main__":
    main()
