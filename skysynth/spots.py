"""Isolated spots: token-sized blobs that stand out of a smooth surround.

The small white balls on smooth blue sky (and the dark dots on smooth cloud) that a viewer notices
first in a generated sky. Shared by the sampler's spot repair (skysynth.schedulers.masking) and the
measurement (benchmarks/dark_spots.py), so the two cannot drift apart. All sizes are in units of
one token's pixels at the image's resolution (8 px at 224 after the 2x upscaler, 4 px as decoded).
"""

from __future__ import annotations

import kornia
import torch
import torch.nn.functional as F

INNER, OUTER = 3 / 8, 1.0  # band of a blob about a token across (difference of Gaussians)
SURROUND = 10 / 8  # the neighbourhood whose band RMS a spot is compared with
DEPTH = 4.0  # grey levels (0-255) out of the surround, at least


def blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (B, C, H, W), kernel 2 * int(3 sigma) + 1, reflected borders."""
    size = 2 * int(3 * sigma) + 1
    return kornia.filters.gaussian_blur2d(image, (size, size), (sigma, sigma), border_type="reflect")


def isolated_spots(
    rgb: torch.Tensor, isolation: float, bright: bool = False, token_pixels: int = 8, depth: float = DEPTH
) -> torch.Tensor:
    """(B, 3, H, W) images in [0, 1] -> (B, H, W) bool map of isolated dark spots (bright ones if
    `bright`): local minima, over (2 token_pixels - 1)^2 neighbourhoods, of the band
    blur(L, INNER) - blur(L, OUTER) (L = luminance 0-255, or 255 - L if `bright`) at least `depth`
    deep and at least `isolation` x the band's local RMS (a spot alone on smooth sky, not one dip
    of a textured cloud field)."""
    grey = kornia.color.rgb_to_grayscale(rgb.float()) * 255.0
    if bright:
        grey = 255.0 - grey
    band = blur(grey, INNER * token_pixels) - blur(grey, OUTER * token_pixels)
    window = 2 * token_pixels - 1
    lowest = -F.max_pool2d(-band, window, stride=1, padding=window // 2)
    surround = blur(band.square(), SURROUND * token_pixels).sqrt()
    return ((band <= lowest) & (-band >= depth) & (-band >= isolation * surround))[:, 0]


def spot_tokens(images: torch.Tensor, token_pixels: int, isolation: float, kinds: tuple[str, ...]) -> torch.Tensor:
    """(B, 3, h * p, w * p) decoded images -> (B, h, w) bool: the tokens (p = `token_pixels` per
    side) under an isolated spot of any of `kinds` ("bright", "dark")."""
    found = None
    for kind in kinds:
        spots = isolated_spots(images, isolation, bright=kind == "bright", token_pixels=token_pixels)
        found = spots if found is None else found | spots
    b, height, width = found.shape
    p = token_pixels
    return found[:, : height // p * p, : width // p * p].view(b, height // p, p, width // p, p).any(4).any(2)
