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
    raw_auto, raw_auto_pixels = draw(conditional, config=tiny_config("raw"))
    cirrus, cirrus_pixels = draw(conditional, cloud_type="cirrus")
    assert (none.cloud_type, cumulus.cloud_type, auto.cloud_type) == (None, "cumulus", "cirrus")
    assert np.count_nonzero(none_pixels != cumulus_pixels) > 100
    # A named type is grown without the stages that match the input (the raw preset's); auto keeps them.
    assert np.array_equal(raw_auto_pixels, cirrus_pixels)
    assert np.count_nonzero(auto_pixels != cirrus_pixels) > 0
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
    with pytest.raises(CloudTypeError, match="grow cumulus, cirrus; not 'clearsky'"):
        draw(op)


def tiny_token_classifier(names=CLOUD_TYPES, codes: int = 16, seed: int = 0):
    from skysynth.models.token_classifier import TokenClassifierConfig, TokenCloudClassifier

    torch.manual_seed(seed)
    return TokenCloudClassifier(TokenClassifierConfig(codes, tuple(names), embed_dim=8, channels=(8, 8))).eval()


def masked_windows(maskgit, batch: int, first_unknown_column: int):
    """(batch, 8, 8) random tokens with the columns from `first_unknown_column` on masked, and that mask."""
    tokens = torch.randint(0, 16, (batch, 8, 8), generator=torch.Generator().manual_seed(1))
    unknown = torch.zeros(batch, 8, 8, dtype=torch.bool)
    unknown[:, :, first_unknown_column:] = True
    tokens[unknown] = maskgit.config.mask_token_id
    return tokens, unknown


def test_token_classifier_guidance_tilts_only_masked_draws_towards_the_type():
    from skysynth.schedulers.guidance import GuidedNet, TokenClassifierGuidance

    maskgit, classifier = tiny_maskgit(), tiny_token_classifier()
    net = GuidedNet(maskgit, None)
    tokens, unknown = masked_windows(maskgit, 3, 4)
    plain = net(tokens)
    label = CLOUD_TYPES.index("cirrus")
    assert torch.equal(TokenClassifierGuidance(net, classifier, label, 0.0)(tokens), plain)
    guided = TokenClassifierGuidance(net, classifier, label, 2.0)(tokens)
    assert torch.equal(guided[~unknown], plain[~unknown])
    assert not torch.allclose(guided[unknown], plain[unknown])

    def type_score(logits):  # the classifier's log p(cirrus) for the window with these draws
        known = torch.nn.functional.one_hot(tokens.clamp(max=15), 16).float()
        window = torch.where(unknown[..., None], logits.softmax(-1), known)
        return classifier(window).log_softmax(-1)[:, label]

    assert (type_score(guided) > type_score(plain)).all()
    # A region-pooling classifier names the masked part: pooled over everything it is the plain one.
    window = torch.rand(3, 8, 8, 16).softmax(-1)
    assert torch.allclose(classifier(window, torch.ones(3, 8, 8, dtype=torch.bool)), classifier(window), atol=1e-6)
    classifier.config.region_pooling = True
    try:
        assert not torch.allclose(TokenClassifierGuidance(net, classifier, label, 2.0)(tokens), guided)
    finally:
        classifier.config.region_pooling = False
    with pytest.raises(ValueError, match="at least 0"):
        TokenClassifierGuidance(net, classifier, label, -1.0)
    with pytest.raises(ValueError, match="reads 32 codes, the MaskGIT draws 16"):
        TokenClassifierGuidance(net, tiny_token_classifier(codes=32), label, 1.0)


@pytest.fixture(scope="module")
def steered():
    """An unconditional MaskGIT that grows types through a token classifier."""
    classifier = tiny_token_classifier()
    with torch.no_grad():  # strong type directions, so that guidance visibly moves the draws
        classifier.head.weight.normal_(0, 3.0, generator=torch.Generator().manual_seed(2))
    return Outpainter(
        tiny_vqvae(), tiny_maskgit(), tiny_upscaler(), tiny_config(), FixedClassifier("cirrus"), classifier
    ).to("cpu")


def test_an_unconditional_model_grows_types_through_the_token_classifier(steered):
    assert steered.cloud_types == CLOUD_TYPES
    raw = tiny_config("raw")
    none, none_pixels = draw(steered, cloud_type="none", config=raw)
    off, off_pixels = draw(steered, cloud_type="cumulus", type_guidance=0.0)
    cumulus, cumulus_pixels = draw(steered, cloud_type="cumulus", type_guidance=20.0)
    auto, auto_pixels = draw(steered, type_guidance=20.0, config=raw)
    cirrus, cirrus_pixels = draw(steered, cloud_type="cirrus", type_guidance=20.0)
    assert (none.cloud_type, cumulus.cloud_type, auto.cloud_type) == (None, "cumulus", "cirrus")
    assert np.array_equal(off_pixels, none_pixels)  # no guidance: the unconditional draw
    assert np.count_nonzero(cumulus_pixels != none_pixels) > 100
    # auto names the input's type but is not steered: the MaskGIT continues the input by itself.
    assert np.array_equal(auto_pixels, none_pixels) and np.count_nonzero(cirrus_pixels != none_pixels) > 100
    assert np.array_equal(cumulus_pixels[8:40, 16:48], np.asarray(sky_image(32, 32, seed=3)))
    with pytest.raises(ConfigError, match="type_guidance must be at least 0"):
        with_overrides(tiny_config(), ["sampling.type_guidance=-2"])


def tiny_token_prior(names=CLOUD_TYPES, codes: int = 16, favourite: int = 3):
    """A prior whose every type (but the first) is made mostly of its own code: `favourite` + its index."""
    from skysynth.models.token_prior import TokenPriorConfig, TokenTypePrior

    counts = torch.ones(len(names), codes)
    for i in range(1, len(names)):
        counts[i, (favourite + i) % codes] = 200.0
    return TokenTypePrior(TokenPriorConfig(codes, tuple(names))).fit(counts)


def test_token_prior_counts_and_its_exact_guidance(tmp_path):
    from skysynth.models.token_prior import TokenPriorConfig, TokenTypePrior
    from skysynth.schedulers.guidance import GuidedNet, TokenPriorGuidance

    counts = torch.tensor([[8.0, 1.0, 1.0, 0.0], [1.0, 1.0, 8.0, 0.0]])
    prior = TokenTypePrior(TokenPriorConfig(4, ("cumulus", "clearsky"))).fit(counts)
    # Laplace-smoothed: cumulus 9/14 of code 0 against the types' mean (9/14 + 2/14) / 2.
    assert torch.isclose(prior.log_ratio[0, 0], torch.tensor(9 / 5.5).log())
    assert torch.allclose(prior.log_ratio[:, 3], torch.zeros(2), atol=1e-6)  # unseen in both: neutral
    scores = prior(torch.tensor([[[0, 0], [1, 3]], [[2, 2], [2, 1]]]))
    assert scores.shape == (2, 2) and scores.argmax(-1).tolist() == [0, 1]
    loaded = TokenTypePrior.from_pretrained(prior.save_pretrained(tmp_path / "p"))
    assert loaded.config.class_names == ("cumulus", "clearsky")
    assert torch.allclose(loaded.log_ratio, prior.log_ratio, atol=1e-2)  # fp16 on disk
    with pytest.raises(ValueError, match="expected counts of shape"):
        prior.fit(torch.ones(3, 4))
    with pytest.raises(ValueError, match="smoothing must be above 0"):
        TokenTypePrior(TokenPriorConfig(4, ("a", "b"), smoothing=0))

    maskgit, big = tiny_maskgit(), tiny_token_prior()
    net = GuidedNet(maskgit, None)
    tokens, unknown = masked_windows(maskgit, 2, 5)
    plain = net(tokens)
    label = CLOUD_TYPES.index("clearsky")
    assert torch.equal(TokenPriorGuidance(net, big, label, 0.0)(tokens), plain)
    guided = TokenPriorGuidance(net, big, label, 1.5)(tokens)
    assert torch.equal(guided[~unknown], plain[~unknown])
    # Exact: each masked draw's distribution is the plain one times the ratio^scale, renormalised.
    tilted = plain[unknown].softmax(-1) * (1.5 * big.log_ratio[label]).exp()
    assert torch.allclose(guided[unknown].softmax(-1), tilted / tilted.sum(-1, keepdim=True), atol=1e-5)
    favourite = (3 + label) % 16
    assert (guided[unknown].softmax(-1)[:, favourite] > plain[unknown].softmax(-1)[:, favourite]).all()
    with pytest.raises(ValueError, match="at least 0"):
        TokenPriorGuidance(net, big, label, -1.0)
    with pytest.raises(ValueError, match="counts 32 codes, the MaskGIT draws 16"):
        TokenPriorGuidance(net, tiny_token_prior(codes=32), label, 1.0)


def test_an_unconditional_model_grows_types_through_the_token_prior():
    op = Outpainter(
        tiny_vqvae(),
        tiny_maskgit(),
        tiny_upscaler(),
        tiny_config(),
        FixedClassifier("cirrus"),
        None,
        tiny_token_prior(),
    ).to("cpu")
    assert op.cloud_types == CLOUD_TYPES
    raw = tiny_config("raw")
    grown, grow = [], op._grow
    op._grow = lambda call, n: grown.append(grow(call, n)) or grown[-1]  # keeps each draw's tokens
    drawn = {}
    for name, settings in {
        "none": dict(cloud_type="none", config=raw),
        "off": dict(cloud_type="clearsky", type_prior=0.0),
        "auto": dict(config=raw, type_prior=3.0),
        "clearsky": dict(cloud_type="clearsky", type_prior=3.0),
    }.items():
        grown.clear()
        result, pixels = draw(op, **settings)
        drawn[name] = (grown[0][0], pixels, result.cloud_type)
    favourite = (3 + CLOUD_TYPES.index("clearsky")) % 16
    share = {name: float((tokens == favourite).float().mean()) for name, (tokens, _, _) in drawn.items()}
    assert share["clearsky"] > share["none"] + 0.3  # the prior's code takes over the grown tokens
    assert np.array_equal(drawn["off"][1], drawn["none"][1]) and np.array_equal(drawn["auto"][1], drawn["none"][1])
    assert drawn["auto"][2] == "cirrus" and drawn["clearsky"][2] == "clearsky"
    assert np.array_equal(drawn["clearsky"][1][8:40, 16:48], np.asarray(sky_image(32, 32, seed=3)))
    with pytest.raises(ConfigError, match="type_prior must be at least 0"):
        with_overrides(tiny_config(), ["sampling.type_prior=-1"])
    with pytest.raises(ValueError, match="token prior and the MaskGIT disagree"):
        Outpainter(tiny_vqvae(), tiny_maskgit(), None, tiny_config(), None, None, tiny_token_prior(codes=32))
    with pytest.raises(ValueError, match="token classifier and the token prior disagree on the cloud types"):
        Outpainter(
            tiny_vqvae(),
            tiny_maskgit(),
            None,
            tiny_config(),
            None,
            tiny_token_classifier(),
            tiny_token_prior(("a", "b")),
        )


def tiny_guide_inputs(tmp_path):
    """A tiny weights set (tmp_path/set: tokenizer, MaskGIT) and photo folder (tmp_path/photos:
    6 cumulus, 6 clear sky) for the guides' trainers."""
    tiny_vqvae().save_pretrained(tmp_path / "set" / "tokenizer")
    tiny_maskgit().save_pretrained(tmp_path / "set" / "maskgit")
    for folder, seed in (("1_cumulus", 0), ("4_clearsky", 50)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for i in range(6):
            sky_image(32, 32, seed=seed + i).save(tmp_path / "photos" / folder / f"{i}.jpg")


def test_fit_token_prior_on_a_tiny_folder(tmp_path):
    from omegaconf import OmegaConf

    from skysynth.eval.fit_token_prior import fit
    from skysynth.models.token_prior import TokenTypePrior
    from tests.helpers import assert_one_line_error, run_module

    tiny_guide_inputs(tmp_path)
    cfg = OmegaConf.load("conf/eval/token_prior.yaml")
    cfg.update(
        data=str(tmp_path / "photos"), out=str(tmp_path / "out"), weights=str(tmp_path / "set"), image_size=32,
        val_fraction=0.5, progress=False,
    )  # fmt: skip
    metrics = fit(cfg)
    assert metrics["val_images"] + metrics["train_images"] == 12 and 0 <= metrics["val_photo_accuracy"] <= 1
    # Every training photo's codes are counted: 8x8 tokens each.
    assert sum(metrics["train_codes_per_class"]) == 64 * metrics["train_images"]
    prior = TokenTypePrior.from_pretrained(tmp_path / "out")
    assert prior.config.class_names == ("cumulus", "clearsky") and prior.log_ratio.shape == (2, 16)
    result = run_module("skysynth.eval.fit_token_prior", f"data={tmp_path}/none", f"out={tmp_path}/p")
    assert_one_line_error(result, "data folder not found")
    result = run_module("skysynth.eval.fit_token_prior", f"data={tmp_path}/photos", f"out={tmp_path}/p", "smoothing=x")
    assert_one_line_error(result, "smoothing must be float, got 'x'")
    assert not (tmp_path / "p").exists()


def test_a_token_classifier_for_another_codebook_is_refused():
    with pytest.raises(ValueError, match="token classifier and the MaskGIT disagree"):
        Outpainter(tiny_vqvae(), tiny_maskgit(), None, tiny_config(), None, tiny_token_classifier(codes=32))
    two_types = tiny_token_classifier(("cumulus", "cirrus"))
    op = Outpainter(tiny_vqvae(), tiny_maskgit(), None, tiny_config(), None, two_types).to("cpu")
    with pytest.raises(CloudTypeError, match="grow cumulus, cirrus; not 'clearsky'"):
        draw(op, cloud_type="clearsky")


def test_train_token_classifier_on_a_tiny_folder(tmp_path):
    from omegaconf import OmegaConf

    from skysynth.eval.train_token_classifier import train
    from skysynth.models.token_classifier import TokenCloudClassifier

    tiny_guide_inputs(tmp_path)
    cfg = OmegaConf.load("conf/eval/token_classifier.yaml")
    cfg.update(
        data=str(tmp_path / "photos"), out=str(tmp_path / "out"), weights=str(tmp_path / "set"), image_size=32,
        steps=4, eval_every=2, batch=4, val_fraction=0.5, progress=False, embed_dim=8, channels=[8, 8],
    )  # fmt: skip
    metrics = train(cfg)
    assert [step for step, _ in metrics["history"]] == [2, 4] and 0 <= metrics["val_window_accuracy"] <= 1
    assert metrics["val_images"] + metrics["train_images"] == 12
    model = TokenCloudClassifier.from_pretrained(tmp_path / "out")
    assert model.config.class_names == ("cumulus", "clearsky") and model.config.codebook_size == 16
    assert model(torch.nn.functional.one_hot(torch.zeros(2, 8, 8, dtype=torch.long), 16).float()).shape == (2, 2)


def test_train_token_classifier_refuses_a_missing_folder(tmp_path):
    from tests.helpers import assert_one_line_error, run_module

    result = run_module("skysynth.eval.train_token_classifier", f"data={tmp_path}/none", f"out={tmp_path}/c")
    assert_one_line_error(result, "data folder not found")
    for setting, message in (("steps=abc", "steps must be int, got 'abc'"), ("channels=5", "channels must be a list")):
        result = run_module("skysynth.eval.train_token_classifier", f"data={tmp_path}", f"out={tmp_path}/c", setting)
        assert_one_line_error(result, message)
