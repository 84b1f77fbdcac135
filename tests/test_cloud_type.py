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


def test_token_classifier_guidance_tilts_only_masked_draws_towards_the_type():
    from skysynth.schedulers.guidance import GuidedNet, TokenClassifierGuidance

    maskgit, classifier = tiny_maskgit(), tiny_token_classifier()
    net = GuidedNet(maskgit, None)
    tokens = torch.randint(0, 16, (3, 8, 8), generator=torch.Generator().manual_seed(1))
    unknown = torch.zeros(3, 8, 8, dtype=torch.bool)
    unknown[:, :, 4:] = True
    tokens[unknown] = maskgit.config.mask_token_id
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


def test_best_of_keeps_the_draw_the_score_rates_highest():
    from skysynth.schedulers.masking import MaskGITSampler
    from skysynth.schedulers.selection import BestOfSampler, TokenTypeScore

    maskgit, classifier = tiny_maskgit(), tiny_token_classifier()
    sampler = MaskGITSampler(decode_steps=3)
    tokens = torch.randint(0, 16, (3, 8, 8), generator=torch.Generator().manual_seed(1))
    unknown = torch.zeros(3, 8, 8, dtype=torch.bool)
    unknown[:, :, 4:] = True
    seeded = lambda: [torch.Generator().manual_seed(10 + i) for i in range(3)]  # noqa: E731
    score = TokenTypeScore(classifier, CLOUD_TYPES.index("cumulus"))
    one = BestOfSampler(sampler, 1, score).sample(maskgit, tokens, unknown, seeded())
    assert torch.equal(one, sampler.sample(maskgit, tokens, unknown, seeded()))
    best = BestOfSampler(sampler, 6, score).sample(maskgit, tokens, unknown, seeded())
    assert torch.equal(best[~unknown], tokens[~unknown])
    # The kept draw is the best of the six: at least as good as every one of them, and as the single draw.
    candidates = [
        sampler.sample(maskgit, tokens[i : i + 1].repeat(6, 1, 1), unknown[i : i + 1].repeat(6, 1, 1), gens)
        for i, gens in enumerate(
            [
                [torch.Generator().manual_seed(s) for s in torch.randint(0, 2**62, (6,), generator=g).tolist()]
                for g in seeded()
            ]
        )
    ]
    for i, drawn in enumerate(candidates):
        scores = score(drawn, unknown[i : i + 1].repeat(6, 1, 1))
        assert torch.isclose(score(best[i : i + 1], unknown[i : i + 1]), scores.max())
        assert any(torch.equal(best[i], d) for d in drawn)
    assert (score(best, unknown) >= score(one, unknown)).all() and (score(best, unknown) > score(one, unknown)).any()
    # Each row draws from its own generator: a row alone comes out as in the batch.
    alone = BestOfSampler(sampler, 6, score).sample(maskgit, tokens[1:2], unknown[1:2], seeded()[1:2])
    assert torch.equal(alone[0], best[1])
    with pytest.raises(ValueError, match="candidates must be at least 1"):
        BestOfSampler(sampler, 0, score)


def test_type_candidates_apply_to_named_types_only(steered):
    raw = tiny_config("raw")
    _, single = draw(steered, cloud_type="cumulus")
    _, chosen = draw(steered, cloud_type="cumulus", type_candidates=3)
    _, auto_single = draw(steered, config=raw)
    _, auto_three = draw(steered, config=raw, type_candidates=3)
    assert np.count_nonzero(single != chosen) > 100
    assert np.array_equal(auto_single, auto_three)  # auto and none are not steered
    assert np.array_equal(chosen[8:40, 16:48], np.asarray(sky_image(32, 32, seed=3)))
    with pytest.raises(ConfigError, match="type_candidates must be at least 1"):
        with_overrides(tiny_config(), ["sampling.type_candidates=0"])


def test_a_token_classifier_for_another_codebook_is_refused():
    with pytest.raises(ValueError, match="token classifier and the MaskGIT disagree"):
        Outpainter(tiny_vqvae(), tiny_maskgit(), None, tiny_config(), None, tiny_token_classifier(codes=32))
    two_types = tiny_token_classifier(("cumulus", "cirrus"))
    op = Outpainter(tiny_vqvae(), tiny_maskgit(), None, tiny_config(), None, two_types).to("cpu")
    with pytest.raises(CloudTypeError, match="grow cumulus, cirrus; not 'clearsky'"):
        draw(op, cloud_type="clearsky")


def test_mixed_windows_grow_one_photo_next_to_another():
    from skysynth.eval.train_token_classifier import draft_windows
    from skysynth.schedulers.masking import outpaint_masks

    maskgit = tiny_maskgit()
    content, context = torch.full((64, 8, 8), 3), torch.full((64, 8, 8), 5)
    rows, masked, mixed = draft_windows(content, maskgit, torch.Generator().manual_seed(0), 0.2, context, 0.5)
    assert rows.shape == (64, 8, 8, 16) and 10 < int(mixed.sum()) < 54
    one_hot = rows.max(-1).values == 1.0  # drawn or known tokens; the masked ones are distributions
    assert torch.equal(~one_hot, masked & (rows.max(-1).values < 1.0))
    codes = rows.argmax(-1)
    regions = outpaint_masks(8, 8)
    for i in range(64):
        from_context = one_hot[i] & (codes[i] == 5)
        if not mixed[i]:
            assert not from_context.any()  # plain windows are one photo
            continue
        # A mixed window: the other photo outside one outpainting region, this photo's codes
        # (or the MaskGIT's distributions where masked) inside it.
        grown = ~from_context
        assert any(torch.equal(grown, r) for r in regions) and masked[i][~grown].sum() == 0
    plain = draft_windows(content, maskgit, torch.Generator().manual_seed(0), 0.2)
    assert not plain[2].any()


def test_train_token_classifier_on_a_tiny_folder(tmp_path):
    from omegaconf import OmegaConf

    from skysynth.eval.train_token_classifier import train
    from skysynth.models.token_classifier import TokenCloudClassifier

    tiny_vqvae().save_pretrained(tmp_path / "set" / "tokenizer")
    tiny_maskgit().save_pretrained(tmp_path / "set" / "maskgit")
    for folder, seed in (("1_cumulus", 0), ("4_clearsky", 50)):
        (tmp_path / "photos" / folder).mkdir(parents=True)
        for i in range(6):
            sky_image(32, 32, seed=seed + i).save(tmp_path / "photos" / folder / f"{i}.jpg")
    cfg = OmegaConf.load("conf/eval/token_classifier.yaml")
    cfg.update(
        data=str(tmp_path / "photos"), out=str(tmp_path / "out"), weights=str(tmp_path / "set"), image_size=32,
        steps=4, eval_every=2, batch=4, val_fraction=0.5, progress=False, embed_dim=8, channels=[8, 8],
    )  # fmt: skip
    metrics = train(cfg)
    assert [step for step, *_ in metrics["history"]] == [2, 4] and 0 <= metrics["val_window_accuracy"] <= 1
    assert 0 <= metrics["val_mixed_window_accuracy"] <= 1 and metrics["mixed_fraction"] == 0.5
    assert metrics["val_images"] + metrics["train_images"] == 12
    model = TokenCloudClassifier.from_pretrained(tmp_path / "out")
    assert model.config.class_names == ("cumulus", "clearsky") and model.config.codebook_size == 16
    assert model(torch.nn.functional.one_hot(torch.zeros(2, 8, 8, dtype=torch.long), 16).float()).shape == (2, 2)


def test_train_token_classifier_refuses_a_missing_folder(tmp_path):
    from tests.helpers import assert_one_line_error, run_module

    result = run_module("skysynth.eval.train_token_classifier", f"data={tmp_path}/none", f"out={tmp_path}/c")
    assert_one_line_error(result, "data folder not found")
