"""python -m skysynth.outpaint input=IN output=OUT [size=[W,H] | grow=F | pad=[L,T,R,B]] ..."""

from __future__ import annotations

import hydra
from omegaconf import DictConfig, OmegaConf

from skysynth.outpaint.cli import _guard, run


@hydra.main(version_base="1.3", config_path="../../conf", config_name="outpaint")
def main(cfg: DictConfig) -> None:
    c = OmegaConf.to_container(cfg, resolve=True)
    _guard(
        lambda: run(
            c["input"],
            c["output"],
            size=c["size"],
            grow=c["grow"],
            pad=c["pad"],
            samples=c["samples"],
            seed=c["seed"],
            temperature=c["temperature"],
            sampling_temperature=c["sampling_temperature"],
            decode_steps=c["decode_steps"],
            upscale_steps=c["upscale_steps"],
            upscale_draws=c["upscale_draws"],
            upscale=c["upscale"],
            match_input=c["match_input"],
            order=c["order"],
            device=c["device"],
            weights=c["weights"],
            progress=c["progress"],
            mode=c["mode"],
            width=c["width"],
            height=c["height"],
        )
    )


if __name__ == "__main__":
    main()
