"""The frozen tokenizer that MaskGIT and the upscaler train against."""

from __future__ import annotations

from pathlib import Path

from skysynth.models.vqvae import VQVAE
from skysynth.weights import bundled_path


def load_frozen_tokenizer(path: str | None) -> VQVAE:
    """Load tokenizer weights (default: the bundled ones) with gradients off."""
    directory = Path(path) if path else bundled_path("tokenizer")
    tokenizer = VQVAE.from_pretrained(directory)
    for parameter in tokenizer.parameters():
        parameter.requires_grad_(False)
    return tokenizer.eval()
