"""Bundled default weights: fp16 safetensors + config.json + MODEL_CARD.md per model."""

from __future__ import annotations

from pathlib import Path

BUNDLED = {
    "tokenizer": "tokenizer",
    "maskgit": "maskgit",
    "upscaler": "upscaler",
    "classifier": "classifier",
    "token_classifier": "token_classifier",
    "token_prior": "token_prior",
}


def bundled_path(name: str) -> Path:
    """Folder of the bundled weights of `name` (tokenizer, maskgit, upscaler, classifier,
    token_classifier or token_prior)."""
    if name not in BUNDLED:
        raise KeyError(f"no bundled model named {name!r}")
    return Path(__file__).parent / BUNDLED[name]
