"""A fixed set of outpainting jobs on tiny seeded networks, whose outputs are pinned in
tests/data/pinned_outputs.npz: a restructuring of the pipeline must leave every pixel as it was.

Regenerate only when a change of the pictures is intended (and say so in the commit):
    python -m tests.pinned_jobs
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

PINNED = Path(__file__).parent / "data" / "pinned_outputs.npz"


def pinned_outputs() -> dict[str, np.ndarray]:
    """name -> (H, W, 3) uint8 output of each job (samples > 1: stacked, (S, H, W, 3))."""
    from skysynth.outpaint.config import preset
    from skysynth.outpaint.pipeline import Outpainter
    from tests.conftest import sky_image, tiny_maskgit, tiny_upscaler, tiny_vqvae

    torch.set_num_threads(1)

    def outpainter(name="default"):
        small = ["sampling.decode_steps=3", "upscale.steps=2", "upscale.tile=64", "upscale.overlap=16"]
        small += ["decode.window=16", "sampling.bf16=false"]  # the same tokens on every CPU
        return Outpainter(tiny_vqvae(), tiny_maskgit(), tiny_upscaler(), preset(name, small)).to("cpu")

    image = sky_image(40, 32, seed=1)
    jobs = {
        "center": lambda op, g: op(image, size=(96, 64), generator=g),
        "side": lambda op, g: op(image, pad=(0, 0, 48, 0), generator=g),
        "top_two_samples": lambda op, g: op(image, pad=(0, 40, 0, 0), samples=2, generator=g),
        "panorama": lambda op, g: op.panorama(image, width=128, generator=g),
        "tile": lambda op, g: op.tile(image, size=(128, 128), generator=g),
    }
    outputs = {}
    for name, job in jobs.items():
        images = job(outpainter(), torch.Generator().manual_seed(7)).images
        arrays = np.stack([np.asarray(i) for i in images])
        outputs[name] = arrays[0] if len(images) == 1 else arrays
    raw = outpainter("raw")
    outputs["center_raw"] = np.asarray(raw(image, size=(96, 64), generator=torch.Generator().manual_seed(7)).image)
    outputs["no_upscale"] = np.asarray(
        outpainter()(image, pad=(24, 0, 24, 0), upscale=False, generator=torch.Generator().manual_seed(7)).image
    )
    return outputs


if __name__ == "__main__":
    PINNED.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(PINNED, **pinned_outputs())
    print(PINNED, {k: v.shape for k, v in np.load(PINNED).items()})
