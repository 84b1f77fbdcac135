"""Evaluate a trained model on the validation split of a shard folder.

    python -m skysynth.eval task=vqvae    [weights=DIR] [data=SHARDS] [n=256]
    python -m skysynth.eval task=maskgit  [weights=DIR] [tokenizer=DIR]
    python -m skysynth.eval task=upscaler [weights=DIR] [tokenizer=DIR] [steps=[4,8,16,50]]
    python -m skysynth.eval task=outpaint data=FOLDER [protocol=center|left|right|top|bottom] [n=N]
                            [weights=DIR] [baselines=[reflect,telea,ns,mean]] [out=REPORT_DIR]
                            [preset=raw] [finish.bands.enabled=false ...]  (any pipeline setting)
    python -m skysynth.eval task=cloud_type weights=DIR [protocol=right] [per_type=8]   (a conditional MaskGIT)

Each task prints a table, writes `report.json` and a grid PNG into `out` (default runs/eval/<task>).
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start, work_starts

with quiet_start(__name__):
    import json
    import sys
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig, OmegaConf
    from omegaconf.errors import OmegaConfBaseException

    from skysynth.common.hydra_app import CONF_DIR, check_overrides
    from skysynth.common.threads import use_threads
    from skysynth.eval.config import EvalApp
    from skysynth.outpaint.config import ConfigError, register_configs

register_configs({"eval_app": EvalApp})


def run(cfg: DictConfig) -> dict:
    """Run one evaluation task; returns its report (also written to out/report.json)."""
    try:
        OmegaConf.to_object(cfg)  # types and ranges (skysynth.eval.config.EvalApp)
    except OmegaConfBaseException as error:
        raise ValueError(str(error).splitlines()[0]) from None
    import importlib

    use_threads(cfg.threads)
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
    work_starts()
    try:
        report = run(cfg)
    except (FileNotFoundError, ValueError, KeyError, ConfigError) as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: no report was written", file=sys.stderr)
        sys.exit(130)
    print(report["table"])
    print(f"report: {Path(cfg.out) / 'report.json'}")


if __name__ == "__main__":
    check_overrides("eval", config_dir=CONF_DIR / "eval")
    main()
