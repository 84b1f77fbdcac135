"""A synthetic webcam that knows its true sky mask: for tests and demos.

Static textured landscape under a random horizon, procedural clouds that drift between frames,
a logo box (top-left) and a weather-text box (top-right) whose text changes, day/night light,
JPEG noise when saved.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from PIL import Image

# The institute's overlays at 1600x1200 (DESIGN.md): logo top-left, text top-right.
LOGO_BOX = (270, 115)
TEXT_BOX = (250, 250)


def smooth_noise(rng: np.random.Generator, height: int, width: int, cells: int) -> np.ndarray:
    """Value noise in [0, 1]: a coarse random grid bicubically enlarged."""
    grid = rng.random((cells + 3, int(cells * width / height) + 3))
    image = Image.fromarray((grid * 255).astype(np.uint8)).resize(
        (width + 2 * width // cells, height + 2 * height // cells), Image.Resampling.BICUBIC
    )
    return np.asarray(image, dtype=np.float32)[:height, :width] / 255.0


@dataclass
class SyntheticWebcam:
    """One location. `frame(i)` renders frame i; `sky_mask` is the truth (True = sky)."""

    seed: int = 0
    width: int = 1600
    height: int = 1200
    rectangles: bool = True
    minutes_per_frame: int = 5

    def __post_init__(self):
        rng = np.random.default_rng(self.seed)
        h, w = self.height, self.width
        xs = np.linspace(0, 1, w)
        horizon = 0.55 + 0.12 * rng.random()
        for _ in range(4):
            horizon = horizon + 0.05 * rng.random() * np.sin(2 * np.pi * (rng.uniform(0.5, 4) * xs + rng.random()))
        horizon_rows = (np.clip(horizon, 0.3, 0.9) * h).astype(int)
        rows = np.arange(h)[:, None]
        sky = rows < horizon_rows[None, :]
        if rng.random() < 0.7:  # a building or mast sticking up: a rectangle of landscape in the sky
            bw, bh = int(w * rng.uniform(0.05, 0.12)), int(h * rng.uniform(0.08, 0.2))
            bx = int(rng.uniform(0.2, 0.7) * w)
            base = int(horizon_rows[bx : bx + bw].min())
            sky[max(0, base - bh) : base, bx : bx + bw] = False
        self.logo = (0, 0, round(LOGO_BOX[0] * w / 1600), round(LOGO_BOX[1] * h / 1200))
        self.text = (w - round(TEXT_BOX[0] * w / 1600), 0, w, round(TEXT_BOX[1] * h / 1200))
        if self.rectangles:
            for x0, y0, x1, y1 in (self.logo, self.text):
                sky[y0:y1, x0:x1] = False
        self.sky_mask = sky
        # Landscape: fields and trees with strong texture (edges that persist in every frame).
        tone = rng.uniform(0.2, 0.45, size=3) * np.array([0.8, 1.0, 0.6])
        # Trees and rocks: coarse, high-contrast speckle that survives JPEG and downscaling.
        cell = max(2, w // 200)
        texture = np.kron(rng.random((h // cell + 1, w // cell + 1)), np.ones((cell, cell)))[:h, :w].astype(np.float32)
        fields = smooth_noise(rng, h, w, 12)
        self.landscape = (tone[None, None, :] * (0.3 + 0.6 * fields[..., None] + 1.2 * texture[..., None])).astype(
            np.float32
        )
        self.cloud_field = smooth_noise(rng, h, 2 * w, 6) * 0.6 + smooth_noise(rng, h, 2 * w, 24) * 0.4
        self.cloud_cover = rng.uniform(0.3, 0.65)
        self.wind = rng.uniform(1.0, 3.0) * w / 400  # pixels per frame
        self.start = dt.datetime(2024, 6, 1, 12, 0) - dt.timedelta(minutes=self.minutes_per_frame * 10)
        self.rng_seed = self.seed

    def time_of(self, index: int) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.minutes_per_frame * index)

    def daylight(self, when: dt.datetime) -> float:
        """1 at noon, ~0.05 at night, smooth dawn and dusk."""
        hours = when.hour + when.minute / 60
        return float(np.clip(np.cos((hours - 13) / 24 * 2 * np.pi) * 1.6 + 0.2, 0.05, 1.0))

    def frame(self, index: int) -> np.ndarray:
        """(H, W, 3) uint8 frame number `index`."""
        h, w = self.height, self.width
        when = self.time_of(index)
        light = self.daylight(when)
        shift = int(index * self.wind) % w
        field = np.roll(self.cloud_field, -shift, axis=1)[:, :w]
        clouds = np.clip((field - (1 - self.cloud_cover)) * 3.0, 0, 1)[..., None]
        y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        blue = np.concatenate([0.3 + 0.35 * y, 0.5 + 0.3 * y, 0.85 + 0.1 * y], axis=2)
        sky = blue * (1 - clouds) + (0.8 + 0.15 * field[..., None]) * clouds
        image = np.where(self.sky_mask[..., None] | self._boxes_mask()[..., None], sky, self.landscape) * light
        if self.rectangles:
            image = self._draw_boxes(image, index)
        return (np.clip(image, 0, 1) * 255).astype(np.uint8)

    def _boxes_mask(self) -> np.ndarray:
        mask = np.zeros((self.height, self.width), dtype=bool)
        if self.rectangles:
            for x0, y0, x1, y1 in (self.logo, self.text):
                mask[y0:y1, x0:x1] = True
        return mask

    def _draw_boxes(self, image: np.ndarray, index: int) -> np.ndarray:
        x0, y0, x1, y1 = self.logo
        image[y0:y1, x0:x1] = (0.1, 0.3, 0.7)
        image[y0 + (y1 - y0) // 3 : y1 - (y1 - y0) // 3, x0 + 8 : x1 - 8] = (1.0, 1.0, 1.0)
        x0, y0, x1, y1 = self.text
        image[y0:y1, x0:x1] = 0.15
        rng = np.random.default_rng([self.rng_seed, index])
        line = max(4, (y1 - y0) // 10)
        for row in range(y0 + line // 2, y1 - line, line):  # "text": bars whose lengths change per frame
            length = int((x1 - x0 - 8) * rng.uniform(0.3, 0.95))
            image[row : row + line // 2, x0 + 4 : x0 + 4 + length] = 0.95
        return image


def save_frame(pixels: np.ndarray, path, quality: int = 85) -> None:
    Image.fromarray(pixels).save(path, format="JPEG", quality=quality)
