import itertools

import numpy as np
import pytest
import torch

from skysynth.outpaint.growth import growth_plan, growth_waves
from skysynth.outpaint.layout import plan
from tests.conftest import sky_image, tiny_config


@pytest.mark.parametrize(
    "input_size, kwargs",
    [
        ((64, 48), {"size": (128, 96)}),  # centre
        ((61, 37), {"size": (131, 90)}),  # odd sizes
        ((64, 64), {"pad": (0, 0, 48, 0)}),  # one side
        ((64, 64), {"pad": (40, 24, 0, 0)}),  # corner
        ((40, 72), {"grow": 1.5}),
    ],
)
def test_output_size_and_input_preserved(tiny_outpainter, input_size, kwargs):
    image = sky_image(*input_size, seed=3)
    out = tiny_outpainter(image, generator=torch.Generator().manual_seed(0), **kwargs).image
    layout = tiny_outpainter.plan(image.size, **kwargs)
    assert out.size == layout.output_size
    left, top = layout.offset
    region = np.asarray(out)[top : top + input_size[1], left : left + input_size[0]]
    assert np.array_equal(region, np.asarray(image))


def test_same_seed_same_image(tiny_outpainter):
    image = sky_image(48, 48, seed=1)
    a = tiny_outpainter(image, size=(96, 64), generator=torch.Generator().manual_seed(7)).image
    b = tiny_outpainter(image, size=(96, 64), generator=torch.Generator().manual_seed(7)).image
    c = tiny_outpainter(image, size=(96, 64), generator=torch.Generator().manual_seed(8)).image
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(c))


def test_matching_the_input_moves_generated_colours_towards_it(tiny_outpainter):
    from tests.conftest import tiny_config

    image = sky_image(48, 48, seed=3)
    source = np.asarray(image).astype(float)
    plain = tiny_config("raw")  # a per-call config: the Outpainter's own stays as it is
    matched = np.asarray(tiny_outpainter(image, pad=(48, 0, 0, 0), generator=torch.Generator().manual_seed(1)).image)
    plain = np.asarray(
        tiny_outpainter(image, pad=(48, 0, 0, 0), generator=torch.Generator().manual_seed(1), config=plain).image
    )
    assert np.array_equal(matched[:, 48:], source) and np.array_equal(plain[:, 48:], source)
    # Random tiny networks drift far from the input's colours; matching pulls the mean back.
    drift = lambda out: np.abs(out[:, :40].astype(float).mean((0, 1)) - source.mean((0, 1))).mean()  # noqa: E731
    assert drift(matched) < 0.5 * drift(plain)


def test_redraw_below_gives_the_unlikely_tokens_a_second_draw_in_the_pipeline(tiny_outpainter):
    from skysynth.outpaint.config import SamplingConfig

    image = sky_image(48, 48, seed=1)

    def run(**sampling):
        seed = torch.Generator().manual_seed(7)
        return np.asarray(tiny_outpainter(image, size=(96, 64), generator=seed, **sampling).image)

    plain = run()
    assert np.array_equal(run(redraw_below=0.0), plain)  # off by default
    second_look = run(redraw_below=0.5)  # an untrained MaskGIT finds most draws unlikely
    assert not np.array_equal(second_look, plain)
    assert np.array_equal(second_look[8:56, 24:72], np.asarray(image))  # the input stays as it was
    with pytest.raises(ValueError, match="sampling.redraw_below must be in"):
        SamplingConfig(redraw_below=1.0)


def test_repair_spots_sees_the_whole_decoded_canvas(tiny_outpainter, monkeypatch):
    from skysynth.outpaint import pipeline
    from skysynth.outpaint.config import SamplingConfig

    image = sky_image(48, 48, seed=1)
    calls = []

    def recording(net, tokens, generated, repair, window, generators, temperature=1.0):
        calls.append((repair.kinds, repair.isolation, tuple(repair.decode(tokens).shape), tuple(tokens.shape)))
        return tokens

    monkeypatch.setattr(pipeline, "repair_spots", recording)

    def run(**sampling):
        seed = torch.Generator().manual_seed(7)
        return np.asarray(tiny_outpainter(image, size=(96, 64), generator=seed, **sampling).image)

    plain = run(repair_spots="none")
    assert not calls
    assert np.array_equal(run(), plain)  # the recorder changes nothing
    assert calls[0][:2] == (("bright",), 3.0)  # on by default: the white balls
    run(repair_spots="both", spot_isolation=2.5)
    p = tiny_outpainter.tokenizer.config.downsample_factor
    kinds, isolation, decoded, canvas = calls[1]
    assert kinds == ("bright", "dark") and isolation == 2.5
    assert decoded == (canvas[0], 3, canvas[1] * p, canvas[2] * p)  # the whole canvas, decoded by the tokenizer
    monkeypatch.undo()  # and for real, on a tiny model: the input stays as it was
    assert np.array_equal(run(repair_spots="both")[8:56, 24:72], np.asarray(image))
    from skysynth.outpaint.config import OutpaintConfig, with_overrides

    # A dotted override on the command line reads as YAML: the choices are not YAML booleans.
    assert with_overrides(OutpaintConfig(), ["sampling.repair_spots=none"]).sampling.spot_kinds == ()
    with pytest.raises(ValueError, match="sampling.repair_spots must be one of none, bright, dark, both"):
        SamplingConfig(repair_spots="white")
    with pytest.raises(ValueError, match="sampling.spot_isolation must be above 0"):
        SamplingConfig(spot_isolation=0)


def test_the_spot_repairs_last_look_is_the_canvas_decoded_once(tiny_outpainter, monkeypatch):
    from skysynth.outpaint import pipeline

    image, decodes = sky_image(48, 48, seed=1), []
    real = pipeline.decode_windows
    monkeypatch.setattr(pipeline, "decode_windows", lambda *a, **k: decodes.append(1) or real(*a, **k))

    def run(**sampling):
        decodes.clear()
        out = tiny_outpainter(image, size=(96, 64), generator=torch.Generator().manual_seed(7), **sampling).image
        return np.asarray(out), len(decodes)

    (plain, once), (repaired, looked) = run(repair_spots="none"), run()
    assert once == 1 and looked == 1  # no spot on this canvas: the repair's look is the decode _draw uses
    assert np.array_equal(plain, repaired)


def test_right_margin_grows_past_the_edge_and_cuts_it_off(tiny_outpainter, monkeypatch):
    from skysynth.outpaint import pipeline

    image = sky_image(96, 48, seed=2)
    windows, outputs, finished = {}, {}, {}
    real_stages, shapes = pipeline.run_stages, []
    monkeypatch.setattr(pipeline, "run_stages", lambda st, im, *a: shapes.append(im.shape) or real_stages(st, im, *a))
    for tokens in (0, 2):
        events = []
        shapes.clear()
        config = tiny_config(overrides=[f"sampling.right_margin_tokens={tokens}"])
        generator = torch.Generator().manual_seed(0)
        out = tiny_outpainter(image, pad=(0, 32, 0, 0), config=config, generator=generator, callback=events.append)
        grown = [e for e in events if e["stage"] == "grow tokens"]
        windows[tokens] = grown[-1]["total"]
        outputs[tokens] = np.asarray(out.image)
        assert out.image.size == (96, 80)  # the margin is cut off with the rest
        assert np.array_equal(outputs[tokens][32:], np.asarray(image))
        assert grown[-1]["preview"]().size == (48, 40)  # the output's part, at the tokenizer's scale
        finished[tokens] = list(shapes)
    assert windows[2] > windows[0]  # the 2 tokens past the right edge were grown too
    assert finished[2] == finished[0] and finished[0]  # the finishing stages see the canvas without them
    monkeypatch.undo()
    assert not np.array_equal(outputs[0], outputs[2])
    # A circular axis has no right edge: the panorama's canvas and draws are the same either way.
    def panorama(config):
        return np.asarray(tiny_outpainter.panorama(image, width=192, config=config, generator=generator).image)

    generator = torch.Generator().manual_seed(0)
    plain = panorama(tiny_config())
    generator = torch.Generator().manual_seed(0)
    pano = [plain, panorama(tiny_config(overrides=["sampling.right_margin_tokens=2"]))]
    assert pano[0].shape == pano[1].shape and np.array_equal(pano[0], pano[1])
    with pytest.raises(ValueError, match="sampling.right_margin_tokens must be at least 0"):
        tiny_config(overrides=["sampling.right_margin_tokens=-1"])


def test_grid_margin_ends_the_widened_axis_on_the_window_grid():
    from skysynth.outpaint.growth import grid_margin, window_starts

    assert grid_margin(28, 16, 7, 0) == 0  # off
    cases = [(28, 0, 1), (28, 7, 1), (28, 7, 4), (128, 56, 1), (32, 0, 1), (10, 0, 1), (31, 3, 2)]
    for length, anchor, minimum in cases:
        margin = grid_margin(length, 16, anchor, minimum)
        assert minimum <= margin < minimum + 8
        starts = window_starts(length + margin, 16, anchor)
        # every window a whole grid step from the one before (no thin last window)
        assert all(b - a == 8 for a, b in zip(starts[1:], starts[2:]))
        assert starts[-1] + 16 == max(length + margin, 16)
    assert grid_margin(28, 16, 0, 1) == 4 and grid_margin(28, 16, 7, 1) == 3


def test_samples_gives_variants(tiny_outpainter):
    result = tiny_outpainter(sky_image(48, 48), size=(96, 48), samples=3)
    images = result.images
    assert set(result.timings) >= {"tokenize", "grow tokens", "decode", "upscale", "finish"}
    assert len(images) == 3 and all(i.size == (96, 48) for i in images)


def test_growth_plan_sides_before_corners():
    known = torch.zeros(16, 16, dtype=torch.bool)
    known[4:12, 4:12] = True
    order = growth_plan(known, window=8, anchor=(4, 4))
    first_shares = []
    covered = known.clone()
    for top, left, h, w in order:
        first_shares.append(float(covered[top : top + h, left : left + w].float().mean()))
        covered[top : top + h, left : left + w] = True
    assert covered.all()
    assert all(share > 0 for share in first_shares)  # always next to known tokens
    assert first_shares[0] == 0.5  # a side window first: half known


def greedy_plan(known, window, anchor, wrap):
    """The growth plan's definition, as a plain loop: each next window is the first grid window
    (row-major) with the most known tokens that is not already full; a window closing a circle's
    gap comes before every grid window."""
    from skysynth.outpaint.growth import _closing_starts, window_index, window_starts, wrapped_starts

    known = known.clone()
    (height, width), win_h, win_w = known.shape, min(window, known.shape[0]), min(window, known.shape[1])
    wrap_y, wrap_x = wrap[0] and height > win_h, wrap[1] and width > win_w
    tops = (wrapped_starts if wrap_y else window_starts)(height, win_h, anchor[0])
    lefts = (wrapped_starts if wrap_x else window_starts)(width, win_w, anchor[1])
    area = lambda t, l: (window_index(t, win_h, height, wrap_y)[:, None], window_index(l, win_w, width, wrap_x))  # noqa: E731
    order = []
    while not known.all():
        closing = [(t, l) for t in tops for l in _closing_starts(known, 1, win_w)] if wrap_x else []
        closing += [(t, l) for t in _closing_starts(known, 0, win_h) for l in lefts] if wrap_y else []
        grid = [(t, l) for t in tops for l in lefts]
        scored = [(c, int(known[area(*c)].sum())) for c in closing + grid]
        open_closing = [(c, n) for c, n in scored[: len(closing)] if n < win_h * win_w]
        pool = open_closing or [(c, n) for c, n in scored[len(closing) :] if n < win_h * win_w]
        (top, left), _ = max(pool, key=lambda item: item[1])  # max keeps the first of equals
        order.append((top, left, win_h, win_w))
        known[area(top, left)] = True
    return order


@pytest.mark.parametrize("wrap", [(False, False), (False, True), (True, False), (True, True)])
def test_growth_plan_is_the_greedy_order_on_many_canvases(wrap):
    generator = torch.Generator().manual_seed(sum(wrap) + 2 * wrap[0])
    for _ in range(12):
        height, width = (int(v) for v in torch.randint(4, 40, (2,), generator=generator))
        known = torch.zeros(height, width, dtype=torch.bool)
        top, left = (
            int(torch.randint(0, height, (1,), generator=generator)),
            int(torch.randint(0, width, (1,), generator=generator)),
        )
        known[top : top + 1 + height // 3, left : left + 1 + width // 3] = True
        if bool(torch.rand(1, generator=generator) < 0.3):
            known |= torch.rand(height, width, generator=generator) < 0.2
        window = int(torch.tensor([4, 8, 16])[torch.randint(0, 3, (1,), generator=generator)])
        assert growth_plan(known, window, (top, left), wrap) == greedy_plan(known, window, (top, left), wrap)


def _overlap(a, b) -> bool:
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]


def test_growth_waves_keep_every_overlapping_pair_in_plan_order_and_batch_the_rest():
    known = torch.zeros(12, 48, dtype=torch.bool)
    known[3:9, 21:27] = True
    order = growth_plan(known, window=8, anchor=(3, 21))
    waves = growth_waves(order, (12, 48))
    wave_of = {w: k for k, wave in enumerate(waves) for w in wave}
    assert sorted(wave_of) == list(range(len(order)))
    for i, j in itertools.combinations(range(len(order)), 2):
        if _overlap(order[i], order[j]):
            assert wave_of[i] < wave_of[j]  # a window sees what every earlier overlapping one drew
    assert len(waves) < len(order)  # the two growth fronts, at least, share waves


def test_batched_windows_draw_the_same_pixels_as_windows_one_by_one(tiny_outpainter):
    image = sky_image(48, 48, seed=3)
    outputs = {}
    for batch in (1, 16):
        config = tiny_config(overrides=[f"sampling.batch_windows={batch}"])
        result = tiny_outpainter(
            image, size=(256, 96), samples=2, config=config, generator=torch.Generator().manual_seed(4)
        )
        outputs[batch] = [np.asarray(i) for i in result.images]
    assert all(np.array_equal(a, b) for a, b in zip(outputs[1], outputs[16]))
    assert not np.array_equal(outputs[1][0], outputs[1][1])  # the two samples still differ


def test_a_context_maskgit_is_given_the_inputs_code_shares_in_every_pass():
    import dataclasses

    from skysynth.common.images import to_tensor
    from skysynth.models.maskgit import MaskGIT
    from skysynth.outpaint.canvas import Canvas
    from skysynth.outpaint.growth import initial_tokens
    from skysynth.outpaint.pipeline import Outpainter
    from skysynth.schedulers.masking import code_shares
    from tests.conftest import tiny_maskgit, tiny_upscaler, tiny_vqvae

    plain = tiny_maskgit()
    net = MaskGIT(dataclasses.replace(plain.config, context_codes=True)).eval()
    net.add_conditions_to(plain)
    torch.nn.init.normal_(net.context_projection.weight)
    seen = []
    hook = net.register_forward_hook(lambda m, args, kwargs, out: seen.append(args[2]), with_kwargs=True)
    outpainter = Outpainter(tiny_vqvae(), net, tiny_upscaler(), tiny_config()).to("cpu")
    image = sky_image(40, 32, seed=2)
    outpainter(image, size=(96, 64), generator=torch.Generator().manual_seed(1))
    hook.remove()
    canvas = Canvas.place(to_tensor(image), outpainter.plan(image.size, size=(96, 64)))
    tokens, known = initial_tokens(outpainter.tokenizer.encode, canvas, outpainter.scale_factor, 1)
    expected = code_shares(tokens[0], known, 16)
    assert seen and all(torch.allclose(c, expected.expand_as(c)) for c in seen)


@pytest.mark.parametrize("bf16", [True, False])
def test_bf16_runs_maskgit_in_bf16_and_judges_pixels_in_fp32(tiny_outpainter, bf16):
    seen = {"maskgit": set(), "decoder": set()}
    hook = tiny_outpainter.maskgit.register_forward_hook(lambda m, i, out: seen["maskgit"].add(out.dtype))
    decode = tiny_outpainter.tokenizer.decode

    def recording_decode(tokens):
        out = decode(tokens)
        seen["decoder"].add(out.dtype)
        return out

    tiny_outpainter.tokenizer.decode = recording_decode
    try:
        image = sky_image(40, 32, seed=2)
        config = tiny_config(overrides=[f"sampling.bf16={str(bf16).lower()}"])
        result = tiny_outpainter(image, size=(96, 64), config=config, generator=torch.Generator().manual_seed(1))
    finally:
        hook.remove()
        del tiny_outpainter.tokenizer.decode
    assert seen["maskgit"] == ({torch.bfloat16} if bf16 else {torch.float32})
    assert seen["decoder"] == {torch.float32}  # guard checks and the final decode
    out = np.asarray(result.image)
    left, top = (96 - 40) // 2, (64 - 32) // 2
    assert np.array_equal(out[top : top + 32, left : left + 40], np.asarray(image))


def test_bf16_auto_follows_the_hardware(monkeypatch):
    from skysynth.common import hardware

    assert hardware.use_bf16(True, "cpu") and not hardware.use_bf16(False, "cpu")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: False)
    assert not hardware.use_bf16(None, "cpu")
    monkeypatch.setattr(hardware, "cpu_has_native_bf16", lambda: True)
    assert hardware.use_bf16(None, "cpu")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"size": (10, 10)}, "smaller than the input"),
        ({"size": (100000, 100000)}, "memory guard"),
        ({"grow": 0.5}, "grow must be"),
        ({"pad": (1, 2, 3)}, "four non-negative"),
        ({"size": (100, 100), "grow": 2.0}, "exactly one"),
    ],
)
def test_bad_layouts(kwargs, message):
    with pytest.raises(ValueError, match=message):
        plan((64, 64), 8, **kwargs)


def test_harmonize_border_fades_input_colours_out_and_leaves_the_rest():
    from skysynth.outpaint.finish.border_fade import harmonize_border

    generated = torch.full((2, 3, 64, 128), 0.5)
    canvas_input = torch.zeros(1, 3, 64, 128)
    known = torch.zeros(1, 1, 64, 128, dtype=torch.bool)
    known[..., :, 0:32] = True
    canvas_input[..., :, 0:32] = 0.8
    out = harmonize_border(generated, canvas_input, known, sigma=4.0)
    assert torch.equal(out[..., 0:32], generated[..., 0:32])  # inside: untouched (the input is pasted there)
    border, far = out[0, 0, 32, 32], out[0, 0, 32, 80]
    assert abs(float(border) - 0.8) < 0.05 and float(far) == 0.5
    assert (out[0, 0, 32, 32:48].diff() <= 1e-6).all()  # a monotone fade, no ring
    assert torch.equal(harmonize_border(generated, canvas_input, known, sigma=0.0), generated)
    # On a circular x axis the input at the left edge also colours the right end of the canvas.
    wrapped = harmonize_border(generated, canvas_input, known, sigma=4.0, wrap=(False, True))
    assert abs(float(wrapped[0, 0, 32, 127]) - 0.8) < 0.05 and float(out[0, 0, 32, 127]) == 0.5


def test_border_fade_moves_the_grown_sky_by_the_inputs_offset_once():
    from skysynth.outpaint.canvas import Canvas
    from skysynth.outpaint.finish.border_fade import BorderFade, BorderFadeConfig

    # A flat grown sky 0.05 darker than a textured input on its left. The fade may lift the
    # grown sky towards the input by at most that offset, fading it out smoothly. A second pass
    # measured the same difference again (the input's side is left untouched) and added it on
    # top next to the border: an overshoot and a ramp of lines a few pixels out.
    generator = torch.Generator().manual_seed(0)
    canvas_input, known = _input_on_canvas(
        0.5 + 0.1 * torch.randn(1, 1, 64, 48, generator=generator).expand(1, 3, 64, 48)
    )
    canvas = Canvas(None, canvas_input, known, None, None, (False, False), token_pixels=8)
    generated = torch.full((1, 3, 64, 128), 0.45)
    lift = (BorderFade(BorderFadeConfig())(generated.clone(), canvas, None) - generated)[..., 48:60]
    by_column = lift.mean((0, 1, 2))
    assert 0.01 < float(by_column[0]) <= 0.05 + 1e-3
    assert float(by_column.diff().abs().max()) < 0.004


def _input_on_canvas(texture: torch.Tensor, width: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """The input `texture` (1, 3, H, W0) on the left of a (1, 3, H, width) canvas, and its mask."""
    height, known_width = texture.shape[-2:]
    canvas_input = torch.zeros(1, 3, height, width)
    canvas_input[..., :known_width] = texture
    known = torch.zeros(1, 1, height, width, dtype=torch.bool)
    known[..., :known_width] = True
    return canvas_input, known


def test_transfer_colour_gives_the_generated_area_the_inputs_statistics():
    from skysynth.outpaint.finish.colour import transfer_colour

    generator = torch.Generator().manual_seed(0)
    ramp = torch.linspace(0, 1, 64)[None, None, :, None]
    texture = 0.55 + 0.3 * (ramp.expand(1, 3, 64, 48) - 0.5) * torch.tensor([1.0, 0.9, 0.8])[None, :, None, None]
    canvas_input, known = _input_on_canvas(texture)
    # A drifted sky: darker, grey, less contrasted, with fine noise of its own.
    generated = 0.35 + 0.2 * (ramp.expand(2, 3, 64, 128) - 0.5) + 0.01 * torch.randn(2, 3, 64, 128, generator=generator)
    out = transfer_colour(generated, canvas_input, known, sigma=4.0)
    outside = out[..., 8:-8, 56:-8]  # away from the canvas edges
    target = texture[..., 8:-8, :]
    assert (outside.mean(dim=(2, 3)) - target.mean(dim=(2, 3))).abs().max() < 0.02
    assert (outside.std(dim=(2, 3)) / target.std(dim=(2, 3)) - 1).abs().max() < 0.15
    # The fine detail above the low band is kept.
    fine = lambda x: x - torch.nn.functional.avg_pool2d(x, 3, 1, 1)  # noqa: E731
    assert torch.allclose(fine(out)[..., 8:-8, 60:-8], fine(generated)[..., 8:-8, 60:-8], atol=2e-3)
    # The scale is clamped: a flat input does not flatten the generated sky.
    flat_input, _ = _input_on_canvas(torch.full((1, 3, 64, 48), 0.5))
    kept = transfer_colour(generated, flat_input, known, sigma=4.0, std_range=(0.5, 2.0))
    assert float(kept[..., 56:].std()) > 0.4 * float(generated[..., 56:].std())
    assert torch.equal(transfer_colour(generated, canvas_input, known, sigma=0.0), generated)


def test_match_bands_gives_generated_sky_the_inputs_energy_per_band():
    import kornia

    from skysynth.outpaint.finish.bands import match_bands

    generator = torch.Generator().manual_seed(0)

    def blotches(n, amplitude, width):
        """Grey sky with structure at about 3-10 px, of RMS about `amplitude`."""
        noise = kornia.filters.gaussian_blur2d(torch.randn(n, 1, 64, width, generator=generator), (19, 19), (3.0, 3.0))
        return (0.5 + amplitude * noise / noise.std()).expand(n, 3, 64, width).clone()

    def mid_band_rms(images):
        dog = kornia.filters.gaussian_blur2d(images, (13, 13), (2.0, 2.0)) - kornia.filters.gaussian_blur2d(
            images, (49, 49), (8.0, 8.0)
        )
        return float(dog[..., 8:-8, 72:-8].std())

    box, sigmas = (0, 0, 48, 64), (1.0, 2.0, 4.0, 8.0, 16.0)
    canvas_input, _ = _input_on_canvas(blotches(1, 0.02, 48))
    input_rms = mid_band_rms(blotches(1, 0.02, 128))  # the same field's energy, measured alike
    blotchy = blotches(2, 0.06, 128)  # three times the input's structure
    out = match_bands(blotchy, canvas_input, box, sigmas, gain_range=(0.2, 1.25))
    assert out.shape == blotchy.shape
    assert torch.equal(out[..., :48], canvas_input[..., :48].expand(2, -1, -1, -1))
    assert mid_band_rms(blotchy) / input_rms > 2.5
    assert 0.7 < mid_band_rms(out) / input_rms < 1.4
    # The gain is clamped: a flat input takes the structure down to a fifth, never to nothing ...
    flat, _ = _input_on_canvas(torch.full((1, 3, 64, 48), 0.5))
    flattened = match_bands(blotchy, flat, box, sigmas, gain_range=(0.2, 1.25))
    assert 0.15 < mid_band_rms(flattened) / mid_band_rms(blotchy) < 0.3
    # ... and a smoother generated sky is raised by at most the upper bound.
    faint = blotches(1, 0.005, 128)
    raised = match_bands(faint, canvas_input, box, sigmas, gain_range=(0.2, 1.25))
    assert 1.1 < mid_band_rms(raised) / mid_band_rms(faint) < 1.3
    # An input too small for two of the bands: only the input is pasted in.
    tiny, _ = _input_on_canvas(torch.rand(1, 3, 64, 3, generator=generator))
    assert torch.equal(match_bands(blotchy, tiny, (0, 0, 3, 64), sigmas)[..., 3:], blotchy[..., 3:])


def test_transfer_detail_overlapping_tiles_leave_no_grid():
    import kornia

    from skysynth.outpaint.finish.detail_copy import transfer_detail

    # Fine but smooth input texture: butted tiles copied from different places step at their edges.
    noise = kornia.filters.gaussian_blur2d(
        torch.randn(1, 1, 64, 48, generator=torch.Generator().manual_seed(0)), (7, 7), (1.0, 1.0)
    )
    canvas_input, known = _input_on_canvas((0.5 + 0.05 * noise / noise.std()).expand(1, 3, 64, 48).clone())
    generated = torch.full((1, 3, 64, 128), 0.5)

    def edge_steps(overlap):
        """Mean step across tile edges over mean step inside tiles, along x and along y."""
        out = transfer_detail(
            generated, canvas_input, known, choices=4, generator=torch.Generator().manual_seed(1), overlap=overlap
        )
        assert torch.equal(out[..., :48], generated[..., :48])
        sky = out[0].mean(0)[:, 56:]
        dx, dy = (sky[:, 1:] - sky[:, :-1]).abs().mean(0), (sky[1:] - sky[:-1]).abs().mean(1)
        cols, rows = torch.arange(57, 128), torch.arange(1, 64)
        return [float(d[i % 8 == 0].mean() / d[i % 8 != 0].mean()) for d, i in ((dx, cols), (dy, rows))]

    assert min(edge_steps(overlap=False)) > 1.4  # a grid
    assert max(edge_steps(overlap=True)) < 1.15  # cross-faded


def test_transfer_detail_reach_only_fades_the_copy():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import fade_from_box

    # Tiles beyond the reach are not searched for: where the copy shows, it must be the same copy.
    generator = torch.Generator().manual_seed(0)
    canvas_input, known = _input_on_canvas(0.5 + 0.05 * torch.randn(1, 3, 64, 48, generator=generator), width=160)
    generated = 0.5 + 0.02 * torch.randn(1, 3, 64, 160, generator=generator)
    weight = fade_from_box((0, 0, 48, 64), (64, 160), (16.0, 40.0), (False, False), None)
    for overlap in (False, True):
        everywhere = transfer_detail(generated, canvas_input, known, overlap=overlap)
        near = transfer_detail(generated, canvas_input, known, reach=(16.0, 40.0), overlap=overlap)
        assert torch.allclose(near - generated, weight * (everywhere - generated), atol=1e-5)
        assert torch.equal(near[..., 90:], generated[..., 90:])


def test_continue_trend_extends_the_inputs_gradient_and_saturates():
    from skysynth.outpaint.finish.trend import continue_trend

    # The input (left 48 columns) brightens to the right by 0.004 per pixel.
    ramp = 0.3 + 0.004 * torch.arange(48.0)
    canvas_input, _ = _input_on_canvas(ramp.expand(1, 3, 64, 48).clone(), width=240)
    generated = torch.full((1, 3, 64, 240), 0.5)
    out = continue_trend(generated, canvas_input, (0, 0, 48, 64), saturation=2.0)
    assert torch.equal(out[..., :48], generated[..., :48])
    row = out[0, 0, 32]
    # Right after the border it rises with the input's slope, then levels off (tanh saturation):
    # at most `saturation` half-widths (2 x 24 px x 0.004 = 0.192) above the generated level.
    assert abs(float(row[48] - 0.5) - 0.002) < 1e-3
    assert abs(float(row[58] - row[48]) - 0.04) < 4e-3
    assert float(row[-1] - 0.5) < 0.192 and float(row[-1] - 0.5) > 0.18
    assert bool((row[49:] >= row[48:-1] - 1e-6).all())
    # Along a circular axis there is no gradient to continue; a flat input adds nothing.
    assert torch.equal(continue_trend(generated, canvas_input, (0, 0, 48, 64), wrap=(False, True)), generated)
    flat, _ = _input_on_canvas(torch.full((1, 3, 64, 48), 0.7), width=240)
    assert torch.allclose(continue_trend(generated, flat, (0, 0, 48, 64)), generated, atol=1e-5)


def test_continue_trend_is_bit_identical_from_call_to_call():
    # The same draw twice must give the same pixels (the upscaler amplifies a last-bit change into a
    # visible one); float32 LAPACK least squares differed now and then with the memory's alignment.
    from skysynth.outpaint.finish.trend import continue_trend

    canvas_input = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    generated = torch.rand(1, 3, 48, 64, generator=torch.Generator().manual_seed(1))
    first = continue_trend(generated, canvas_input, (16, 8, 48, 40))
    for offset in range(1, 60):
        padding = torch.empty(offset)  # shifts where the next tensors land in memory
        again = continue_trend(generated.clone(), canvas_input.clone(), (16, 8, 48, 40))
        assert torch.equal(again, first), offset
        del padding


def test_transfer_detail_copies_the_inputs_grain_where_colours_match():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import finest_band

    generator = torch.Generator().manual_seed(0)
    # Input: grainy dark sky above, smooth bright cloud below.
    texture = torch.full((1, 3, 64, 48), 0.8)
    texture[..., :32, :] = 0.3 + 0.05 * torch.randn(1, 3, 32, 48, generator=generator)
    canvas_input, known = _input_on_canvas(texture)
    # Generated, smooth: bright above, dark below (the input's layout swapped).
    generated = torch.full((2, 3, 64, 128), 0.3)
    generated[..., :32, :] = 0.8
    out = transfer_detail(generated, canvas_input, known, choices=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out[..., :48], generated[..., :48])
    grain = finest_band(out).std(dim=1)
    dark_grain = float(grain[:, 40:60, 64:120].mean())
    bright_grain = float(grain[:, 4:24, 64:120].mean())
    input_grain = float(finest_band(canvas_input).std(dim=1)[:, 4:24, 4:40].mean())
    assert 0.5 * input_grain < dark_grain < 1.5 * input_grain  # the dark sky got the dark sky's grain
    assert bright_grain < 0.1 * dark_grain  # the bright cloud stayed smooth, like the input's
    # Coarse content is the generated one (away from the sharp bright/dark edge at row 32).
    coarse = lambda x: torch.nn.functional.avg_pool2d(x, 8)  # noqa: E731
    assert (coarse(out) - coarse(generated))[..., [1, 2, 5, 6], 7:-1].abs().max() < 0.03
    again = transfer_detail(generated, canvas_input, known, choices=4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)
    # An input smaller than one tile leaves the generated sky as it is.
    tiny, tiny_known = _input_on_canvas(texture[..., :10, :10][..., :, :], width=128)
    assert torch.equal(transfer_detail(generated[..., :10, :], tiny, tiny_known), generated[..., :10, :])


def test_transfer_detail_following_structure_keeps_rim_grain_off_smooth_sky():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import finest_band

    generator = torch.Generator().manual_seed(0)
    # Input: cloud rims everywhere (stripes 12 px apart) with grain on them; no smooth sky.
    x = torch.arange(48.0)
    stripes = 0.5 + 0.15 * torch.sin(2 * torch.pi * x / 12)
    texture = (stripes.expand(1, 3, 64, 48) + 0.04 * torch.randn(1, 3, 64, 48, generator=generator)).clone()
    canvas_input, known = _input_on_canvas(texture)
    # Generated: smooth sky of the input's mean colour above, the input's stripes (no grain) below.
    generated = torch.full((1, 3, 64, 128), 0.5)
    generated[..., 32:, :] = 0.5 + 0.15 * torch.sin(2 * torch.pi * torch.arange(128.0) / 12)

    def grain(follow):
        out = transfer_detail(
            generated,
            canvas_input,
            known,
            choices=4,
            generator=torch.Generator().manual_seed(1),
            structure_sigmas=(1.5, 4.0) if follow else None,
        )
        assert torch.equal(out[..., :48], generated[..., :48])
        band = finest_band(out).std(dim=1)
        return float(band[:, 4:24, 64:120].mean()), float(band[:, 40:60, 64:120].mean())

    smooth_plain, rims_plain = grain(follow=False)
    smooth_follow, rims_follow = grain(follow=True)
    assert smooth_follow < 0.25 * smooth_plain  # the rims' grain stays off the smooth sky
    assert rims_follow > 0.6 * rims_plain  # generated rims still get the rims' grain


def test_transfer_detail_leaves_no_line_beside_a_step_at_the_border():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import finest_band

    # The decoded input (inside the mask) is brighter than the smooth generated sky beside it: the
    # generated sky's own band must not see that step, or swapping the band out moves the first
    # generated column alone and draws a 1-pixel line along the border.
    canvas_input, known = _input_on_canvas(torch.full((1, 3, 64, 48), 0.6))  # no grain to copy
    generated = torch.full((1, 3, 64, 128), 0.5)
    generated[..., :48] = 0.8
    band = finest_band(generated, where=~known)
    assert band[..., 48:].abs().max() < 1e-5 and torch.equal(band[..., :48], torch.zeros_like(band[..., :48]))
    assert finest_band(generated)[..., 48].abs().min() > 0.01  # the plain band does see the step
    out = transfer_detail(generated, canvas_input, known, choices=1)
    columns = out[0].mean(dim=(0, 1))  # mean along the border, per column
    assert float((columns[49:] - columns[48:-1]).abs().max()) < 1e-4


def test_transfer_colour_band_statistics_follow_the_inputs_border_not_its_mixture():
    from skysynth.outpaint.finish.colour import transfer_colour

    # The input is mostly white cloud, but deep blue sky along its right border.
    texture = torch.full((1, 3, 64, 48), 0.95)
    texture[..., 40:] = 0.3
    canvas_input, known = _input_on_canvas(texture)
    generated = torch.full((1, 3, 64, 128), 0.5)
    whole = transfer_colour(generated, canvas_input, known, sigma=2.0)
    banded = transfer_colour(generated, canvas_input, known, sigma=2.0, band=8.0)
    far = (..., slice(8, -8), slice(72, -8))
    assert float(whole[far].mean()) > 0.8  # the mixture's mean: white-ish
    assert 0.29 < float(banded[far].mean()) < 0.4  # the blue next to the border (blurred a little)


def test_transfer_colour_from_decoded_input_corrects_the_networks_error_not_the_content():
    from skysynth.outpaint.finish.colour import transfer_colour

    # White cloud along the input's border, blue sky grown beside it; the decoder's version of
    # the input is 0.05 too blue-grey (red and green low, blue high).
    canvas_input, known = _input_on_canvas(torch.full((1, 3, 64, 48), 0.9))
    bias = torch.tensor([-0.05, -0.05, 0.05]).view(1, 3, 1, 1)
    generated = torch.tensor([0.25, 0.45, 0.8]).view(1, 3, 1, 1).expand(1, 3, 64, 128).clone()
    generated[..., :48] = 0.9 + bias
    far = (..., slice(8, -8), slice(72, -8))
    by_content = transfer_colour(generated, canvas_input, known, sigma=2.0, band=8.0)
    by_error = transfer_colour(generated, canvas_input, known, sigma=2.0, band=8.0, from_decoded_input=True)
    assert float(by_content[far].mean()) > 0.8  # the grown sky matched to the cloud: white
    expected = (generated - bias)[far].mean(dim=(-2, -1))
    assert torch.allclose(by_error[far].mean(dim=(-2, -1)), expected, atol=0.01)  # blue, less the bias


def test_colour_transfer_then_harmonize_leaves_no_frame_around_the_input():
    from skysynth.outpaint.finish.border_fade import harmonize_border
    from skysynth.outpaint.finish.colour import transfer_colour

    # The decoder's version of the input is brighter than the input, and the generated sky next
    # to it continues that version, brightening away from the input (towards a horizon).
    canvas_input, known = _input_on_canvas(torch.full((1, 3, 64, 48), 0.5))
    distance = (torch.arange(128) - 47).clamp_min(0).float()
    generated = (0.56 + 0.004 * distance)[None, None, None, :].expand(1, 3, 64, 128).clone()
    out = transfer_colour(generated, canvas_input, known, sigma=2.0, std_range=(1.0, 1.0), band=16.0)
    out = harmonize_border(out, canvas_input, known, sigma=8.0)
    edge = (..., slice(8, -8), slice(48, 52))
    # The colour transfer moved the decoder's input with the sky; the harmonisation then added
    # what still separates the two. Moving only the sky applied the offset twice: a dark frame.
    assert abs(float(out[edge].mean()) - 0.5) < 0.015
    assert float(out[..., 100:].mean()) > float(out[..., 60:70].mean()) + 0.1  # the gradient is kept


def test_transfer_detail_cap_keeps_a_rims_grain_off_smooth_sky():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import finest_band

    generator = torch.Generator().manual_seed(0)
    texture = 0.3 + 0.005 * torch.randn(1, 3, 64, 48, generator=generator)  # mostly smooth blue
    texture[..., :16, :] = 0.6 + 0.15 * torch.randn(1, 3, 16, 48, generator=generator)  # a grainy rim
    canvas_input, known = _input_on_canvas(texture)
    generated = torch.full((1, 3, 64, 128), 0.6)  # smooth, the rim's colour
    free = transfer_detail(generated, canvas_input, known, generator=torch.Generator().manual_seed(1))
    capped = transfer_detail(generated, canvas_input, known, detail_cap=1.5, generator=torch.Generator().manual_seed(1))
    grain = lambda x: float(finest_band(x)[..., 8:-8, 64:-8].std())  # noqa: E731
    typical = float(finest_band(canvas_input)[..., 24:-8, 8:40].std())
    assert grain(free) > 5 * typical  # uncapped: the rim's grain all over the smooth sky
    assert grain(capped) < 1.5 * typical


def test_output_guard_redraws_flat_outputs_and_keeps_the_most_detailed(tiny_outpainter):
    from PIL import Image

    from tests.conftest import tiny_config

    op = tiny_outpainter
    calls = []

    def fake_draw(call, samples):
        # Draw 1 is flat around the input, draw 2 faintly striped (still flat by the criterion,
        # but more detailed), draw 3 clearly striped.
        work_h, work_w = call.canvas.size
        image = torch.full((samples, 3, work_h, work_w), 0.5)
        stripes = (torch.arange(work_w) // 8 % 2).float()
        calls.append(samples)
        return call.canvas.paste(image + 0.025 * (len(calls) - 1) * stripes)

    op._draw = fake_draw
    structured = sky_image(32, 32, seed=1)
    out = np.asarray(op(structured, pad=(96, 0, 0, 0)).image).astype(float) / 255
    assert calls == [1, 1, 1]  # redrawn twice: the second redraw passes
    assert out[:, :96].std() > 0.02  # and it is the one kept
    calls.clear()
    one_redraw = tiny_config(overrides=["guard.output.retries=1"])
    out = np.asarray(op(structured, pad=(96, 0, 0, 0), config=one_redraw).image).astype(float) / 255
    assert calls == [1, 1]
    assert 0.01 < out[:, :96].std() < 0.02  # one redraw: still flat-ish, but better than the first
    calls.clear()
    flat_input = Image.new("RGB", (32, 32), (120, 150, 200))
    op(flat_input, pad=(96, 0, 0, 0))
    assert calls == [1]  # a flat input may be continued flat: no redraw
    calls.clear()
    # A nearly clear sky (a faint ramp, luminance std ~0.007: flat for the windows' guard) is not
    # exempt here: its wider view often is not flat.
    ramp = np.repeat(np.linspace(126, 132, 32)[None, :, None], 32, axis=0).repeat(3, axis=2)
    faint = Image.fromarray(ramp.round().astype(np.uint8))
    op(faint, pad=(96, 0, 0, 0), config=one_redraw)
    assert calls == [1, 1]
    calls.clear()
    # ...but continued about as faint as it is itself, it is kept: not a collapse.
    op._draw = lambda call, samples: (
        calls.append(samples)
        or call.canvas.paste(
            torch.full((samples, 3, *call.canvas.size), 0.5) + 0.012 * (torch.arange(call.canvas.size[1]) // 8 % 2)
        )
    )
    out = np.asarray(op(faint, pad=(96, 0, 0, 0)).image).astype(float) / 255
    assert calls == [1] and 0.003 < out[:, :96].std() < 0.02
    op._draw = fake_draw
    calls.clear()
    op(structured, pad=(96, 0, 0, 0), config=tiny_config(overrides=["guard.output.retries=0"]))
    assert calls == [1]


def test_a_flat_input_is_judged_once_and_skips_both_guards():
    from skysynth.common.images import to_tensor
    from skysynth.outpaint.canvas import Canvas
    from skysynth.outpaint.guards import GuardConfig, flat_input, guarded_sampler, input_detail
    from skysynth.schedulers.masking import GuardedSampler, MaskGITSampler

    layout = plan((32, 32), 8, pad=(96, 0, 0, 0))
    config = GuardConfig()
    clear = Canvas.place(torch.full((1, 3, 32, 32), 0.6), layout)
    textured = Canvas.place(to_tensor(sky_image(32, 32, seed=1)), layout)
    # The black around the placed input must not count as the input's texture.
    assert flat_input(config, input_detail(clear)) and not flat_input(config, input_detail(textured))
    sampler = MaskGITSampler()
    assert guarded_sampler(config, sampler, windows=9, flat=True) is sampler
    guarded = guarded_sampler(config, sampler, windows=9)
    assert isinstance(guarded, GuardedSampler) and guarded.redraws_left == 5  # half the windows, rounded up


def test_square_max_is_the_square_max_pool_in_two_passes():
    import torch.nn.functional as F

    from skysynth.outpaint.finish.filters import square_max

    generator = torch.Generator().manual_seed(0)
    for radius in (0, 1, 5, 32):
        spots = (torch.rand(2, 1, 57, 83, generator=generator) > 0.97).float()
        square = F.max_pool2d(spots, 2 * radius + 1, stride=1, padding=radius) if radius else spots
        assert torch.equal(square_max(spots, radius), square), radius


def test_transfer_detail_reach_keeps_far_sky_as_generated():
    from skysynth.outpaint.finish.detail_copy import transfer_detail
    from skysynth.outpaint.finish.filters import finest_band

    generator = torch.Generator().manual_seed(0)
    texture = 0.5 + 0.05 * torch.randn(1, 3, 64, 48, generator=generator)
    canvas_input, known = _input_on_canvas(texture, width=160)
    generated = torch.full((1, 3, 64, 160), 0.5)
    out = transfer_detail(generated, canvas_input, known, reach=(16.0, 32.0), generator=generator)
    grain = finest_band(out).std(dim=(1, 2))[0]
    assert float(grain[50:62].mean()) > 0.02  # near the input: the input's grain
    assert float(grain[84:150].max()) < 1e-6  # beyond the reach: untouched
    # On a circular axis the far side of the canvas is near the input again.
    wrapped = transfer_detail(generated, canvas_input, known, reach=(16.0, 32.0), wrap=(False, True))
    assert float(finest_band(wrapped, (False, True)).std(dim=(1, 2))[0][-12:-2].mean()) > 0.02


@pytest.mark.parametrize("sigma", [1.0, 6.0, 30.0])
@pytest.mark.parametrize("wrap", [(False, False), (False, True), (True, True)])
def test_blur_by_matrix_is_the_convolution(sigma, wrap):
    from skysynth.outpaint.finish.filters import blur, blur_by_convolution, blur_by_matrix

    # 30 px on a 24 x 40 canvas: on a circular axis the kernel wraps round more than once.
    images = torch.rand(2, 3, 24, 40, generator=torch.Generator().manual_seed(0))
    expected = blur_by_convolution(images, sigma, wrap)
    assert torch.allclose(blur_by_matrix(images, sigma, wrap), expected, atol=1e-5)
    assert torch.allclose(blur(images, sigma, wrap), expected, atol=1e-5)
    assert not torch.allclose(expected, images, atol=1e-3)  # it blurs


def test_kept_casts_give_the_same_logits_and_leave_the_rest_in_fp32():
    from skysynth.schedulers.guidance import GuidedNet
    from tests.conftest import tiny_maskgit

    net = GuidedNet(tiny_maskgit().eval(), None, bf16=True)
    tokens = torch.randint(0, net.config.codebook_size, (2, 8, 8), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        alone = [net(tokens) for _ in range(2)]
        with net.kept_casts():
            kept = [net(tokens) for _ in range(2)]
            other = torch.nn.functional.conv2d(torch.rand(1, 1, 8, 8), torch.rand(1, 1, 3, 3))
    assert all(torch.equal(a, k) for a, k in zip(alone, kept))
    assert other.dtype == torch.float32  # only the passes run in bf16
    assert not torch.equal(alone[0], GuidedNet(net.net, None, bf16=False)(tokens))  # bf16 was on


def test_transfer_detail_does_not_search_for_tiles_inside_the_input(monkeypatch):
    from skysynth.outpaint.finish import detail_copy

    generator = torch.Generator().manual_seed(0)
    canvas_input, known = _input_on_canvas(0.5 + 0.05 * torch.randn(1, 3, 64, 48, generator=generator), width=160)
    generated = 0.5 + 0.02 * torch.randn(1, 3, 64, 160, generator=generator)
    searched = []
    addmm = torch.addmm
    monkeypatch.setattr(detail_copy.torch, "addmm", lambda *a, **k: searched.append(a[1].shape[0]) or addmm(*a, **k))
    out = detail_copy.transfer_detail(generated, canvas_input, known, choices=4, overlap=True, generator=generator)
    # Tiles every 4 px from -4: 17 rows x 41 columns; those wholly inside the 64 x 48 input (rows
    # starting at 0 ... 56: 15, columns at 0 ... 40: 11) are not searched for.
    assert sum(searched) == 17 * 41 - 15 * 11
    assert torch.equal(out[..., :48], generated[..., :48])
    assert not torch.equal(out[..., 48:], generated[..., 48:])


def _box_canvas(size=48, box=(16, 16, 32, 32), wrap=(False, False)):
    from skysynth.outpaint.canvas import Box, Canvas
    from skysynth.outpaint.layout import plan

    layout = plan((box[2] - box[0], box[3] - box[1]), 4, pad=(box[0], box[1], size - box[2], size - box[3]))
    known = Box(*box).mask(size, size)
    canvas_input = torch.zeros(1, 3, size, size)
    return Canvas(layout, canvas_input, known, Box(*box), Box(0, 0, size, size), wrap, 4)


def test_seam_join_meets_the_input_without_a_step_and_keeps_the_generated_gradients():
    from skysynth.outpaint.finish.seam_join import seam_join

    canvas = _box_canvas(size=128, box=(48, 48, 80, 80))
    ys, xs = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    generated = (0.2 + 0.002 * xs + 0.05 * torch.sin(ys / 2)).expand(1, 3, 128, 128).clone()
    inside = canvas.known.expand(1, 3, 128, 128)
    canvas.input[inside] = 0.7
    out = seam_join(generated, canvas, decay=8.0)
    assert torch.equal(out[inside], canvas.input[inside])  # the input's pixels are its own
    before, after = generated[..., 52:76, 47], out[..., 52:76, 47]  # just left of the box
    # What is left of the step is about 1/decay of it (the correction has to fall off).
    assert (0.7 - after).abs().max() < 0.2 * (0.7 - before).abs().min()
    # Six decays away the picture is as generated. One decay away the level has moved towards the
    # input's, but the generated ripple along the border (fine detail) is kept.
    assert (out[..., :, 0] - generated[..., :, 0]).abs().max() < 5e-3
    assert (out[..., 52:76, 40] - generated[..., 52:76, 40]).mean() > 0.1
    along = lambda image: image[..., 52:76, 40].diff(dim=-1)  # noqa: E731
    assert torch.allclose(along(out), along(generated), atol=0.01)


def test_seam_join_decays_with_distance_and_wraps_round_a_circular_axis():
    from skysynth.outpaint.finish.seam_join import join_correction

    canvas = _box_canvas(box=(0, 16, 12, 32), wrap=(False, True))
    canvas.input[..., 16:32, 0:12] = 1.0
    generated = torch.zeros(1, 3, 48, 48)
    short = join_correction(generated, canvas.input, canvas.known, 2.0, canvas.wrap)
    long = join_correction(generated, canvas.input, canvas.known, 8.0, canvas.wrap)
    assert torch.all(short[canvas.known.expand_as(short)] == 0)
    row = 24
    assert long[0, 0, row, 20] > short[0, 0, row, 20] > 0  # a longer decay reaches further
    assert short[0, 0, row, 12] > 4 * short[0, 0, row, 18]
    # The box touches the left edge: on a circular x axis the right edge meets it too.
    assert long[0, 0, row, 47] > 0.5 and abs(long[0, 0, row, 47] - long[0, 0, row, 12]) < 0.05
    flat = join_correction(generated, canvas.input, canvas.known, 8.0, (False, False))
    assert flat[0, 0, row, 47] < 0.05


def test_seam_join_settings_are_checked():
    from skysynth.outpaint.config import OutpaintConfig, with_overrides

    for bad in ("finish.seam_join.decay_tokens=0", "finish.seam_join.tolerance=1.5"):
        with pytest.raises(ValueError, match="seam_join"):
            with_overrides(OutpaintConfig(), [bad])


def test_seam_join_leaves_a_picture_that_already_continues_the_input_alone():
    from skysynth.outpaint.finish.seam_join import join_correction

    canvas = _box_canvas(size=64, box=(24, 24, 40, 40))
    ys, xs = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    ramp = (0.2 + 0.01 * xs + 0.004 * ys).expand(1, 3, 64, 64)
    canvas.input[...] = ramp * canvas.known
    correction = join_correction(ramp.clone(), canvas.input, canvas.known, 8.0)
    assert correction.abs().max() < 1e-4  # the steps across the border are the ramp's own
    shifted = join_correction(ramp - 0.1, canvas.input, canvas.known, 8.0)
    assert shifted[..., 32, 23].mean() > 0.08  # a picture 0.1 too dark is lifted at the border
