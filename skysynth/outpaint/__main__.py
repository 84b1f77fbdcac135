"""python -m skysynth.outpaint input=IN output=OUT [size=[W,H] | grow=F | pad=[L,T,R,B]] [preset=raw] [NAME=VALUE ...]

NAME is any field of the job (skysynth.outpaint.cli.JobOptions) or of the pipeline config by its
dotted name (skysynth.outpaint.config); `--cfg job` prints them all with their defaults."""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    import hydra
    from omegaconf import DictConfig

    from skysynth.common.hydra_app import check_overrides
    from skysynth.outpaint.cli import OutpaintApp, _guard, run_app
    from skysynth.outpaint.config import register_configs

register_configs({"outpaint_app": OutpaintApp})


@hydra.main(version_base="1.3", config_path="../../conf", config_name="outpaint")
def main(cfg: DictConfig) -> None:
    _guard(lambda: run_app(cfg))


if __name__ == "__main__":
    check_overrides("outpaint")
    main()
