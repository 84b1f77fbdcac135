"""Make examples/sky.jpg: a procedural cumulus sky (multi-octave value noise over a blue gradient).

    .venv/bin/python examples/make_sky.py

Made here so that the README's example needs no photo from anywhere else.
"""

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter


def octave_noise(rng: np.random.Generator, size: int, octaves: int = 5) -> np.ndarray:
    total, weight_sum = np.zeros((size, size), np.float32), 0.0
    for octave in range(octaves):
        cells = 3 * 2**octave
        grid = (rng.random((cells + 1, cells + 1)) * 255).astype(np.uint8)
        layer = np.asarray(Image.fromarray(grid).resize((size, size), Image.Resampling.BICUBIC), np.float32) / 255
        weight = 0.55**octave
        total += weight * layer
        weight_sum += weight
    return total / weight_sum


def make_sky(size: int = 224, seed: int = 7) -> Image.Image:
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, size, dtype=np.float32)[:, None, None]
    sky = np.concatenate([0.22 + 0.35 * y, 0.45 + 0.3 * y, 0.85 + 0.1 * y], axis=2) * np.ones((1, size, 1), np.float32)
    density = np.clip((octave_noise(rng, size) - 0.47) * 3.2, 0, 1)[..., None]
    shade = octave_noise(rng, size, 4)[..., None]
    # Cloud bodies: bright tops, greyer bases; thin edges let the blue through.
    cloud = 0.98 - 0.3 * shade * density - 0.12 * y
    pixels = sky * (1 - density) + cloud * density
    image = Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))
    return image.filter(ImageFilter.GaussianBlur(0.6))


if __name__ == "__main__":
    out = Path(__file__).with_name("sky.jpg")
    make_sky().save(out, quality=92)
    print(out)
