"""The two-sample classifier test: indistinguishable sets score ~50%, visible defects clearly more."""

from __future__ import annotations

import kornia
import numpy as np
import pytest
import torch

from skysynth.common.hardware import use_bf16
from skysynth.eval.c2st import C2STConfig, border_crops, two_sample_test, wilson_interval
from tests.conftest import sky_image

SIZE, PAIRS = 64, 40
# The evaluation's architecture with a smaller budget, so the suite stays fast.
SMALL = C2STConfig(folds=3, steps=100, batch_size=16)


def skies(n: int, seed: int) -> torch.Tensor:
    """(n, 3, SIZE, SIZE) procedural skies with what real ones have: the sun's brightening
    towards one side and a pixel grain."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        base = torch.from_numpy(np.array(sky_image(SIZE, SIZE, seed=seed * 1000 + i))).permute(2, 0, 1) / 255.0
        slope = 0.15 + 0.2 * torch.rand((), generator=g)
        ramp = torch.linspace(-0.5, 0.5, SIZE)[None, None, :] * slope
        out.append((base + ramp + 0.03 * torch.randn(1, SIZE, SIZE, generator=g)).clamp(0, 1))
    return torch.stack(out)


@pytest.fixture(scope="module")
def real():
    return skies(PAIRS, seed=1)


def with_right_half(real: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
    out = real.clone()
    out[..., SIZE // 2 :] = fill
    return out


def test_real_against_other_real_photos_is_chance(real):
    result = two_sample_test(real, skies(PAIRS, seed=2), SMALL)
    assert result["ci_low"] < 0.5 < result["ci_high"] and abs(result["accuracy"] - 0.5) < 0.15


def visible_fills(real: torch.Tensor) -> dict[str, torch.Tensor]:
    """Right halves (N, 3, SIZE, SIZE // 2) that a viewer tells from the real ones."""
    half = real[..., : SIZE // 2]
    return {
        "mirror": half.flip(-1),  # reflect padding: the sun's gradient runs backwards
        "blur": kornia.filters.gaussian_blur2d(real, (13, 13), (3.0, 3.0))[..., SIZE // 2 :],  # no grain
        "mean": half.mean(dim=(2, 3), keepdim=True).expand_as(half),
    }


@pytest.mark.parametrize("fill", ["mirror", "blur", "mean"])
def test_visible_fills_are_told_apart(real, fill):
    result = two_sample_test(real, with_right_half(real, visible_fills(real)[fill]), SMALL)
    assert result["ci_low"] > 0.6, result


def test_pairs_stay_in_one_fold_and_results_are_seeded(real):
    # Identical pairs: a classifier that saw one copy in training would still have to guess.
    same = two_sample_test(real, real.clone(), SMALL, seed=3)
    assert same["accuracy"] <= 0.6
    # Seeding and the per-pair bookkeeping need no full budget.
    short = C2STConfig(folds=3, steps=10, batch_size=8)
    first, again = (two_sample_test(real[:12], real[:12].flip(-2), short, seed=4) for _ in range(2))
    assert first["accuracy"] == again["accuracy"] and torch.equal(first["per_pair"], again["per_pair"])
    assert first["per_pair"].sum() == round(first["accuracy"] * 24) and int(first["per_pair"].max()) <= 2
    with pytest.raises(ValueError, match="one shape"):
        two_sample_test(real, real[:, :, :8], SMALL)


def test_wilson_interval_and_border_crops():
    low, high = wilson_interval(50, 100)
    assert low < 0.5 < high and high - low == pytest.approx(0.19, abs=0.01)
    assert wilson_interval(100, 100)[1] == pytest.approx(1.0)
    images = torch.arange(2 * 3 * 64 * 64, dtype=torch.float32).reshape(2, 3, 64, 64)
    crops = border_crops(images, (0, 0, 32, 64), 16, 3, torch.Generator().manual_seed(0))
    assert crops.shape == (6, 3, 16, 16)
    columns = crops[:, 0] % 64  # each pixel's column in its image
    assert bool((columns.min(dim=2).values.min(dim=1).values == 24).all())  # centred on column 32


def test_the_verdict_does_not_depend_on_the_cpu():
    # bf16 autocast blunts the grain (the blurred fill scored 0.64 in bf16, 0.78 in fp32, same seed):
    # the default must be fp32 on every machine, bf16 machines included.
    assert C2STConfig().bf16 is False and use_bf16(C2STConfig().bf16, "cpu") is False


def test_a_budget_too_small_to_train_is_refused():
    with pytest.raises(ValueError, match="at least 10 steps"):
        C2STConfig(steps=5)
    with pytest.raises(ValueError, match="and 2 folds, got 300 and 1"):
        C2STConfig(folds=1)
    assert C2STConfig(steps=10).steps == 10
