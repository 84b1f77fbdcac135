"""Cloud-type control in the pipeline: which type grows, and the refusals."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from skysynth.common.cloud_types import CLOUD_TYPES
from skysynth.models.classifier import ClassifierConfig, CloudClassifier
from skysynth.outpaint.cloud_type import CloudTypeError
from skysynth.outpaint.config import ConfigError, with_overrides
from skysynth.outpaint.pipeline import Outpainter
from tests.conftest import sky_image, tiny_config, tiny_maskgit, tiny_upscaler, tiny_vqvae


class FixedClassifier(CloudClassifier):
    """Says every image is `name` (the bundled classifier's folder-style class names)."""

    def __init__(self, name: str):
        names = tuple(f"{i + 1}_{t}" for i, t in enumerate(CLOUD_TYPES))
        super().__init__(ClassifierConfig(class_names=names, channels=(8,), image_size=8))
        self.index = names.index(f"{CLOUD_TYPES.index(name) + 1}_{name}")

    def forward(self, images):
        logits = torch.zeros(len(images), len(CLOUD_TYPES))
        logits[:, self.index] = 1.0
        return logits


@pytest.fixture(scope="module")
def conditional():
    maskgit = tiny_maskgit(class_names=CLOUD_TYPES)
    with torch.no_grad():  # the embedding starts at zero (= unconditional): give the types a voice
        maskgit.class_embedding.weight.normal_(0, 2.0, generator=torch.Generator().manual_seed(0))
    return Outpainter(tiny_vqvae(), maskgit, tiny_upscaler(), tiny_config(), FixedClassifier("cirrus")).to("cpu")


def draw(op, **kwargs):
    result = op(sky_image(32, 32, seed=3), size=(64, 48), generator=torch.Generator().manual_seed(0), **kwargs)
    return result, np.asarray(result.image)


def test_named_types_grow_different_skies_and_auto_uses_the_classifier(conditional):
    none, none_pixels = draw(conditional, cloud_type="none")
    cumulus, cumulus_pixels = draw(conditional, cloud_type="cumulus")
    auto, auto_pixels = draw(conditional)  # the default is auto
    cirrus, cirrus_pixels = draw(conditional, cloud_type="cirrus")
    assert (none.cloud_type, cumulus.cloud_type, auto.cloud_type) == (None, "cumulus", "cirrus")
    assert np.count_nonzero(none_pixels != cumulus_pixels) > 100
    assert np.array_equal(auto_pixels, cirrus_pixels)
    # The input's own pixels are kept whatever grows around them.
    assert np.array_equal(cumulus_pixels[8:40, 16:48], np.asarray(sky_image(32, 32, seed=3)))


def test_guidance_changes_the_draw_and_is_checked(conditional):
    _, plain = draw(conditional, cloud_type="cumulus")
    _, guided = draw(conditional, cloud_type="cumulus", guidance_scale=3.0)
    assert np.count_nonzero(plain != guided) > 0
    with pytest.raises(ConfigError, match="guidance_scale must be at least 0"):
        with_overrides(tiny_config(), ["sampling.guidance_scale=-1"])


def test_an_unconditional_model_grows_auto_as_none_and_refuses_a_type():
    op = Outpainter(tiny_vqvae(), tiny_maskgit(), tiny_upscaler(), tiny_config()).to("cpu")
    auto, auto_pixels = draw(op)
    none, none_pixels = draw(op, cloud_type="none")
    assert auto.cloud_type is None and np.array_equal(auto_pixels, none_pixels)
    with pytest.raises(CloudTypeError, match="needs a class-conditional MaskGIT"):
        draw(op, cloud_type="cumulus")


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ConfigError, match="must be one of auto, none, cumulus, altocumulus"):
        with_overrides(tiny_config(), ["sampling.cloud_type=stormy"])
    maskgit = tiny_maskgit(class_names=("cumulus", "cirrus"))
    op = Outpainter(tiny_vqvae(), maskgit, None, tiny_config(), FixedClassifier("clearsky")).to("cpu")
    with pytest.raises(CloudTypeError, match="grows cumulus, cirrus; not 'clearsky'"):
        draw(op)
