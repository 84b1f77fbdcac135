"""Shared fixtures: tiny random networks and procedural sky images (no ../shared needed)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from skysynth.models.maskgit import MaskGIT, MaskGITConfig
from skysynth.models.upscaler import UNet, UpscalerConfig
from skysynth.models.vqvae import VQVAE, VQVAEConfig

torch.set_num_threads(1)


def tiny_vqvae(seed: int = 0) -> VQVAE:
    torch.manual_seed(seed)
    return VQVAE(VQVAEConfig(base_channels=8, channel_multipliers=(1, 2, 2), embed_dim=8, codebook_size=16)).eval()


def tiny_maskgit(seed: int = 0, side: int = 8, local_mixing: bool = True, class_names: tuple = ()) -> MaskGIT:
    torch.manual_seed(seed)
    return MaskGIT(
        MaskGITConfig(
            codebook_size=16,
            tokens_per_side=side,
            hidden_size=32,
            intermediate_size=64,
            num_heads=2,
            num_layers=1,
            dropout=0.0,
            local_mixing=local_mixing,
            class_names=class_names,
        )
    ).eval()


def tiny_upscaler(seed: int = 0) -> UNet:
    torch.manual_seed(seed)
    net = UNet(UpscalerConfig(channels=(8, 16), scale_factor=2))
    # Non-zero output layer so the sampler's output depends on the network.
    torch.nn.init.normal_(net.conv_out.weight, std=0.01)
    return net.eval()


def sky_image(width: int, height: int, seed: int = 0) -> Image.Image:
    """A procedural sky: vertical blue gradient plus soft random clouds."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, height)[:, None, None]
    base = np.concatenate([0.35 + 0.3 * y, 0.55 + 0.25 * y, 0.9 + 0.05 * y], axis=2) * np.ones((1, width, 1))
    noise = rng.random((height // 8 + 2, width // 8 + 2))
    clouds = np.asarray(Image.fromarray((noise * 255).astype(np.uint8)).resize((width, height), Image.BICUBIC)) / 255.0
    clouds = np.clip((clouds - 0.45) * 2.5, 0, 1)[..., None]
    pixels = base * (1 - clouds) + 0.95 * clouds
    return Image.fromarray((np.clip(pixels, 0, 1) * 255).astype(np.uint8))


@pytest.fixture
def tiny_outpainter():
    from skysynth.outpaint.pipeline import Outpainter

    return Outpainter(tiny_vqvae(), tiny_maskgit(), tiny_upscaler(), tiny_config()).to("cpu")


def tiny_config(name: str = "default", overrides=()):
    """The pipeline config, small enough for tiny networks on tiny canvases."""
    from skysynth.outpaint.config import preset

    small = ["sampling.decode_steps=3", "upscale.steps=2", "upscale.tile=64", "upscale.overlap=16", "decode.window=16"]
    return preset(name, [*small, *overrides])
