"""python -m skysynth.serve [host=127.0.0.1] [port=7860] [weights=DIR] [device=cpu]"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig


@hydra.main(version_base="1.3", config_path="../../conf", config_name="serve")
def main(cfg: DictConfig) -> None:
    import uvicorn

    from skysynth.outpaint.pipeline import Outpainter, OutpaintSettings
    from skysynth.serve.app import Limits, create_app

    for name, low, high in (
        ("port", 1, 65535), ("decode_steps", 1, 1000), ("upscale_steps", 1, 1000), ("max_samples", 1, 64),
        ("max_upload_mb", 0.001, 1e4), ("max_input_megapixels", 0.001, 1e4), ("max_output_megapixels", 0.001, 1e4),
    ):
        value = cfg[name]
        integral = name in ("port", "decode_steps", "upscale_steps", "max_samples")
        typed = not isinstance(value, bool) and isinstance(value, int if integral else (int, float))
        if not typed or not low <= value <= high:
            kind = "a whole number" if integral else "a number"
            print(f"error: {name} must be {kind} from {low:g} to {high:g}, got {value!r}", file=sys.stderr)
            sys.exit(2)
    if cfg.device not in ("cpu", "cuda"):
        print(f"error: device must be cpu or cuda, got {cfg.device!r}", file=sys.stderr)
        sys.exit(2)
    if cfg.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("error: device=cuda but no CUDA GPU is available", file=sys.stderr)
            sys.exit(2)
    try:  # fail now, not at the first upload, when the weights are missing
        Outpainter.from_pretrained(cfg.weights, device="cpu")
    except FileNotFoundError as error:
        print(f"error: missing weights: {error}", file=sys.stderr)
        sys.exit(2)
    settings = OutpaintSettings(decode_steps=cfg.decode_steps, upscale_steps=cfg.upscale_steps)
    limits = Limits(
        max_bytes=int(cfg.max_upload_mb * 1024 * 1024),
        max_input_pixels=int(cfg.max_input_megapixels * 1e6),
        max_output_pixels=int(cfg.max_output_megapixels * 1e6),
        max_samples=cfg.max_samples,
    )
    app = create_app(lambda: Outpainter.from_pretrained(cfg.weights, settings=settings, device=cfg.device), limits)
    if cfg.host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {cfg.host}: anyone who can reach this address can use it", file=sys.stderr)
    print(f"skysynth: open http://{cfg.host}:{cfg.port}/ in a browser (Ctrl+C stops)")
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="warning")


if __name__ == "__main__":
    main()
