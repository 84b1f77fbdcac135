"""Panoramas and tileable textures: circular token windows, wrap-periodic decoding, input kept."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from skysynth.outpaint.closing import close_circle, closing_overlap, open_circle, open_periodic
from skysynth.outpaint.growth import grow_tokens, growth_plan, window_index
from skysynth.outpaint.tiling import decode_windows
from tests.conftest import sky_image


def test_circular_windows_straddle_the_wrap_and_cover_everything():
    known = torch.zeros(8, 40, dtype=torch.bool)
    known[:, 16:24] = True
    plan = growth_plan(known, 8, (0, 16), wrap=(False, True))
    assert any(left + width > 40 for _, left, _, width in plan), "no window crosses the wrap line"
    covered = known.clone()
    for top, left, height, width in plan:
        covered[top : top + height][:, window_index(left, width, 40, True)] = True
    assert covered.all()


@settings(max_examples=25, deadline=None)
@given(width=st.integers(10, 48), left=st.integers(0, 40), span=st.integers(1, 8), seed=st.integers(0, 1000))
def test_circular_growth_never_changes_known_tokens(width, left, span, seed):
    left = left % width
    known = torch.zeros(6, width, dtype=torch.bool)
    known[:, window_index(left, min(span, width - 1), width, True)] = True
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 16, (2, 6, width), generator=generator)
    fill = lambda window_tokens, unknown, generators: torch.full_like(window_tokens, 99)  # noqa: E731
    grown = grow_tokens(tokens, known, 8, (0, left), fill, wrap=(False, True))
    assert torch.equal(grown[:, known], tokens[:, known])
    assert (grown[:, ~known] == 99).all()


def test_wrapped_decoding_is_exactly_periodic():
    # A "decoder" whose output depends on the window's content and position-in-window.
    decode = lambda t: (
        t.float()[:, None].repeat_interleave(2, -1).repeat_interleave(2, -2) / 16  # noqa: E731
        + torch.linspace(0, 0.1, t.shape[-1] * 2)
    ).expand(-1, 3, -1, -1)
    tokens = torch.randint(0, 16, (1, 4, 24))
    image = decode_windows(decode, tokens, 8, 2, wrap=(False, True))
    rolled = decode_windows(decode, tokens.roll(8, dims=-1), 8, 2, wrap=(False, True))
    assert image.shape[-2:] == (8, 48)
    assert torch.allclose(rolled, image.roll(16, dims=-1), atol=1e-6)


def test_closing_overlap_stays_clear_of_known_lines():
    known = torch.zeros(6, 40, dtype=torch.bool)
    known[:, 10:30] = True  # 10 unknown columns on each side of the wrap line
    assert closing_overlap(known, 16, (False, True)) == (0, 16)
    assert closing_overlap(known, 24, (False, True)) == (0, 20)  # limited by the known columns
    assert closing_overlap(known, 16, (False, False)) == (0, 0)
    known[:, 0] = True  # no room right after the wrap line: close with one window instead
    assert closing_overlap(known, 16, (True, True)) == (0, 0)


def test_opened_circle_grows_both_fronts_past_each_other_and_keeps_known_tokens():
    known = torch.zeros(4, 40, dtype=torch.bool)
    known[:, 16:24] = True
    tokens = torch.randint(0, 16, (1, 4, 40))
    opened, opened_known = open_circle(tokens, known, (0, 8))
    assert opened.shape == (1, 4, 48) and torch.equal(opened[:, :, 20:28], tokens[:, :, 16:24])
    fill = lambda window_tokens, unknown, generators: torch.full_like(window_tokens, 99)  # noqa: E731
    grown = grow_tokens(opened, opened_known, 8, (0, 20), fill)
    assert torch.equal(grown[:, :, 20:28], tokens[:, :, 16:24]) and (grown[:, :, :20] == 99).all()


def test_closing_cross_fades_two_different_fronts_without_a_jump():
    # Brightness drifts from 0 at the far end of one front to 1 at the far end of the other: glued
    # end to end, the circle would jump by ~1.
    band, length = 16, 64
    slope = 1.0 / (length + band - 1)
    images = (torch.arange(length + band, dtype=torch.float32) * slope).expand(1, 3, 8, -1)
    closed = close_circle(images, (0, 8), 2)
    assert closed.shape[-1] == length
    steps = (closed - closed.roll(1, dims=-1)).abs()  # includes the wrap line
    assert float(steps.max()) <= 1.0 / band + slope + 1e-6


def test_opening_and_closing_a_periodic_image_gives_it_back():
    images = torch.rand(2, 3, 20, 36)
    opened = open_periodic(images, 8, (True, True))
    assert opened.shape[-2:] == (28, 44)
    assert torch.allclose(close_circle(opened, (8, 8), 1), images, atol=1e-6)


def wrap_and_interior_seams(picture: np.ndarray) -> tuple[float, float]:
    pixels = picture.astype(np.float64)
    wrap = np.abs(pixels[:, 0] - pixels[:, -1]).mean()
    interior = np.abs(np.diff(pixels, axis=1)).mean()
    return wrap, interior


def test_panorama_closes_and_keeps_the_input(tiny_outpainter):
    image = sky_image(48, 40, seed=3)
    strip = tiny_outpainter.panorama(image, width=150, generator=torch.Generator().manual_seed(0)).image
    assert strip.size[1] == 40 and strip.size[0] % tiny_outpainter.wrap_unit == 0 and strip.size[0] >= 150
    pixels = np.asarray(strip)
    left = (strip.size[0] - 48) // 2 // tiny_outpainter.token_pixels * tiny_outpainter.token_pixels
    assert np.array_equal(pixels[:, left : left + 48], np.asarray(image))
    wrap, interior = wrap_and_interior_seams(pixels)
    assert wrap < 3 * interior  # random tiny networks are noisy; the trained check is in benchmarks


def test_tile_texture_keeps_input_and_wraps_both_ways(tiny_outpainter):
    image = sky_image(40, 40, seed=5)
    texture = tiny_outpainter.tile(image, size=(100, 90), generator=torch.Generator().manual_seed(1)).image
    unit = tiny_outpainter.wrap_unit
    assert texture.size[0] % unit == 0 and texture.size[1] % unit == 0
    pixels = np.asarray(texture)
    wrap_x, interior_x = wrap_and_interior_seams(pixels)
    wrap_y, interior_y = wrap_and_interior_seams(pixels.transpose(1, 0, 2))
    assert wrap_x < 3 * interior_x and wrap_y < 3 * interior_y
    assert any(
        np.array_equal(pixels[t : t + 40, l : l + 40], np.asarray(image))
        for t in range(0, pixels.shape[0] - 39, tiny_outpainter.token_pixels)
        for l in range(0, pixels.shape[1] - 39, tiny_outpainter.token_pixels)
    )


def test_a_tile_smaller_than_the_blurs_wraps_round_more_than_once(tiny_outpainter):
    # A 64-px torus under a 24-px colour fade (72-px blur radius) used to fail in F.pad(circular).
    image = sky_image(40, 32, seed=1)
    texture = tiny_outpainter.tile(image, size=(64, 64), generator=torch.Generator().manual_seed(0)).image
    assert texture.size == (64, 64)
    # The input's own pixels are somewhere in the tile, unchanged.
    pixels = np.asarray(texture)
    source = np.asarray(image)
    found = any(np.array_equal(pixels[y : y + 32, x : x + 40], source) for y in range(0, 33) for x in range(0, 25))
    assert found
