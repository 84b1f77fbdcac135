"""The bundled weights: fp16 safetensors with a JSON config and a model card each, under 40 MB in all."""

from __future__ import annotations

import json

from safetensors import safe_open

from tests.helpers import ROOT

WEIGHTS = ROOT / "skysynth" / "weights"


def test_every_bundled_model_is_fp16_with_config_and_card():
    folders = sorted(p.parent for p in WEIGHTS.glob("*/config.json"))
    assert {f.name for f in folders} >= {"tokenizer", "maskgit", "upscaler", "classifier"}
    for folder in folders:
        assert json.loads((folder / "config.json").read_text()), folder
        card = (folder / "MODEL_CARD.md").read_text()
        for heading in ("**Data**", "**Command**", "**Steps**", "**Wall time**", "**Hardware**", "**Validation**"):
            assert heading in card, f"{folder.name}/MODEL_CARD.md lacks {heading}"
        with safe_open(folder / "model.safetensors", "pt") as tensors:
            floats = {
                str(tensors.get_tensor(k).dtype) for k in tensors.keys() if tensors.get_tensor(k).is_floating_point()
            }
        assert floats == {"torch.float16"}, f"{folder.name}: {floats}"


def test_all_bundled_weights_fit_in_40_mb():
    total = sum(p.stat().st_size for p in WEIGHTS.rglob("*.safetensors"))
    assert total < 40 * 1024 * 1024, f"{total / 2**20:.1f} MiB"
