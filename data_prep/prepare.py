"""`make prep-data`: segmentation (archives only) then sharding, with the settings in conf/prep/.

    python -m data_prep.prepare [source=DIR] [out=DIR] [masks=DIR]

Without a source a synthetic demo archive is made first, so a fresh clone can try everything.
A folder whose frames carry no timestamps in their paths is a photo folder: no segmentation.
"""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    from pathlib import Path

    import hydra
    from omegaconf import DictConfig, OmegaConf

    from data_prep import segment, shards
    from data_prep.archive import discover, looks_like_archive
    from data_prep.demo_archive import write_archive
    from data_prep.errors import exit_on_user_error

CONF = Path(__file__).resolve().parents[1] / "conf" / "prep"
DEMO_WIDTH, DEMO_HEIGHT = 800, 600


def _stage(name: str, overrides: dict) -> DictConfig:
    """A stage's own config file (conf/prep/<name>.yaml) with `overrides` applied.

    Read directly rather than through Hydra's compose API, which refuses to run inside this app."""
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    for key in ("defaults", "hydra"):
        cfg.pop(key, None)
    for key, value in overrides.items():
        cfg[key] = str(value) if isinstance(value, Path) else value
    return cfg


@hydra.main(version_base="1.3", config_path="../conf/prep", config_name="default")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    source = Path(cfg.source)
    if cfg.demo and not source.exists():
        write_archive(source, 3, 120, DEMO_WIDTH, DEMO_HEIGHT)
    crops = {k: cfg[k] for k in ("size", "downscale") if cfg.get(k) is not None}
    if cfg.demo and (source / "_truth").is_dir() and "downscale" not in crops:
        # The demo frames are half the institute's 1600x1200: half the downscale gives the same
        # 400x300 frames, in which the default 128-px crops fit the sky.
        crops["downscale"] = 2
    if looks_like_archive(discover(source)):
        for report in segment.run(_stage("segment", {"archive": source, "out": cfg.masks})):
            print(f"mask {report['location']}: sky {report['sky_fraction']:.1%}")
        manifest = shards.run(_stage("shards", {"source": source, "out": cfg.out, "masks": cfg.masks, **crops}))
    else:
        manifest = shards.run(_stage("shards", {"source": source, "out": cfg.out, "kind": "photos", **crops}))
    print(shards.summary(manifest))
    print(f"manifest: {Path(cfg.out) / 'manifest.json'}")


if __name__ == "__main__":
    main()
