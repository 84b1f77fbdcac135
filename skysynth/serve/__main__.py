"""python -m skysynth.serve [host=127.0.0.1] [port=7860] [weights=DIR] [device=cpu] [NAME=VALUE ...]

NAME is a server option below or any pipeline setting by its dotted name (skysynth.outpaint.config),
e.g. `sampling.decode_steps=8`; `--cfg job` prints them all with their defaults."""

from __future__ import annotations

from skysynth.common.startup import quiet_start

with quiet_start(__name__):
    import sys
    from dataclasses import dataclass

    import hydra
    from omegaconf import DictConfig, OmegaConf

    from skysynth.common.hydra_app import check_overrides
    from skysynth.common.threads import parse_threads
    from skysynth.outpaint.config import ConfigError, OutpaintConfig, register_configs, to_config


@dataclass
class ServeApp(OutpaintConfig):
    host: str = "127.0.0.1"  # only this machine; another address opens the page to the network
    port: int = 7860
    weights: str | None = None  # folder with tokenizer/, maskgit/, upscaler/; null = bundled
    device: str = "cpu"
    max_upload_mb: float = 10.0
    max_input_megapixels: float = 4.0
    max_output_megapixels: float = 16.0
    max_samples: int = 4
    threads: str = "auto"  # CPU threads per job: auto = one per core that is free when the job starts, or a number

    def __post_init__(self):
        for name, low, high in (
            ("port", 1, 65535), ("max_samples", 1, 64), ("max_upload_mb", 0.001, 1e4),
            ("max_input_megapixels", 0.001, 1e4), ("max_output_megapixels", 0.001, 1e4),
        ):  # fmt: skip
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"{name} must be from {low:g} to {high:g}, got {getattr(self, name)!r}")
        if self.device not in ("cpu", "cuda"):
            raise ValueError(f"device must be cpu or cuda, got {self.device!r}")
        parse_threads(self.threads)


register_configs({"serve_app": ServeApp})


def fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    sys.exit(2)


@hydra.main(version_base="1.3", config_path="../../conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    import uvicorn

    from skysynth.outpaint.pipeline import Outpainter
    from skysynth.serve.app import Limits, create_app

    try:
        app_cfg = OmegaConf.to_object(cfg)
        config = to_config(cfg)
    except (ConfigError, ValueError) as error:
        fail(str(error).splitlines()[0])
    if app_cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            fail("device=cuda but no CUDA GPU is available")
    try:  # fail now, not at the first upload, when the weights are missing
        Outpainter.from_pretrained(app_cfg.weights, device="cpu")
    except FileNotFoundError as error:
        fail(f"missing weights: {error}")
    limits = Limits(
        max_bytes=int(app_cfg.max_upload_mb * 1024 * 1024),
        max_input_pixels=int(app_cfg.max_input_megapixels * 1e6),
        max_output_pixels=int(app_cfg.max_output_megapixels * 1e6),
        max_samples=app_cfg.max_samples,
    )
    make = lambda: Outpainter.from_pretrained(app_cfg.weights, config=config, device=app_cfg.device)  # noqa: E731
    app = create_app(
        make,
        limits,
        defaults={"temperature": config.sampling.temperature, "cloud_type": config.sampling.cloud_type},
        threads=app_cfg.threads,
    )
    if app_cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {app_cfg.host}: anyone who can reach this address can use it", file=sys.stderr)
    print(f"skysynth: open http://{app_cfg.host}:{app_cfg.port}/ in a browser (Ctrl+C stops)")
    uvicorn.run(app, host=app_cfg.host, port=app_cfg.port, log_level="warning")


if __name__ == "__main__":
    check_overrides("serve")
    main()
