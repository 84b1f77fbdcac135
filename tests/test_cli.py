"""The outpainting command lines, run as a user runs them, on tiny random weights."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.conftest import sky_image, tiny_maskgit, tiny_upscaler, tiny_vqvae
from tests.helpers import assert_one_line_error, run_module


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    root = tmp_path_factory.mktemp("weights")
    tiny_vqvae().save_pretrained(root / "tokenizer")
    tiny_maskgit(side=8).save_pretrained(root / "maskgit")
    tiny_upscaler().save_pretrained(root / "upscaler")
    return root


def outpaint(weights, *args):
    return run_module(
        "skysynth.outpaint", f"weights={weights}", "progress=false", "sampling.decode_steps=2", "upscale.steps=1", *args
    )


def test_outpaint_size_samples_and_folder(weights, tmp_path):
    sky_image(40, 32, seed=1).save(tmp_path / "a.png")
    sky_image(24, 24, seed=2).save(tmp_path / "b.jpg")
    result = outpaint(
        weights,
        f"input={tmp_path / 'a.png'}",
        f"output={tmp_path / 'out.png'}",
        "size=[72,48]",
        "samples=2",
        "profile=true",
        "threads=1",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    profile = [line for line in result.stderr.splitlines() if line.startswith("profile a.png:")]
    assert len(profile) == 1 and " on 1 thread = " in profile[0] and "grow tokens" in profile[0], result.stderr
    for i in range(2):
        picture = np.asarray(Image.open(tmp_path / f"out_{i}.png"))
        assert picture.shape == (48, 72, 3)
        assert np.array_equal(picture[8:40, 16:56], np.asarray(Image.open(tmp_path / "a.png")))
    (tmp_path / "in").mkdir()
    for name in ("a.png", "b.jpg"):
        (tmp_path / name).rename(tmp_path / "in" / name)
    result = outpaint(weights, f"input={tmp_path / 'in'}", f"output={tmp_path / 'outdir'}", "grow=1.5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert sorted(p.name for p in (tmp_path / "outdir").iterdir()) == ["a_outpainted.png", "b_outpainted.png"]


def test_panorama_and_tile_modes(weights, tmp_path):
    sky_image(40, 32, seed=4).save(tmp_path / "in.png")
    result = outpaint(
        weights, "mode=panorama", f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'pano.png'}", "width=150"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    width, height = Image.open(tmp_path / "pano.png").size
    assert height == 32 and width >= 150
    result = outpaint(
        weights, "mode=tile", f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'tile.png'}", "size=[80,80]"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    result = outpaint(
        weights, "mode=panorama", f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'x.png'}", "size=[80,80]"
    )
    assert_one_line_error(result, "mode=panorama takes width")


@pytest.mark.parametrize(
    "make_input, extra, message",
    [
        ("missing", ["size=[64,64]"], "input not found"),
        ("garbage", ["size=[64,64]"], "cannot read image"),
        ("ok", ["size=[16,16]"], "smaller than the input"),
        ("ok", ["size=[100000,100000]"], "memory guard"),
        ("ok", ["size=[64,64]", "output_ext=.gif"], "output must end in"),
        ("ok", ["size=[64,64]", "upscale.draws=0"], "upscale.draws must be at least 1"),
        ("ok", ["size=[64,64]", "finish.bands.enabled=maybe"], "finish.bands.enabled=maybe: Value 'maybe'"),
        ("ok", ["size=[64,64]", "samples=0"], "samples must be at least 1"),
        ("ok", ["size=[64,64]", "sampling.decode_steps=1.5"], "could not be converted to Integer"),
        ("ok", ["size=[64,64]", "sampling.order=spiral"], "sampling.order must be confidence or halton"),
        ("ok", ["size=[64,64]", "temperature=3"], "did you mean sampling.temperature"),
        ("ok", ["size=[64,64]", "preset=nope"], "preset must be one of default, raw"),
    ],
)
def test_bad_input_one_line_and_nothing_written(weights, tmp_path, make_input, extra, message):
    source = tmp_path / "in.png"
    if make_input == "ok":
        sky_image(32, 32).save(source)
    elif make_input == "garbage":
        source.write_bytes(b"this is not an image")
    output = tmp_path / ("out.gif" if "output_ext=.gif" in extra else "out.png")
    extra = [e for e in extra if not e.startswith("output_ext")]
    result = outpaint(weights, f"input={source}", f"output={output}", *extra)
    assert_one_line_error(result, message)
    assert not output.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_output_checked_before_work_written_0644_and_folder_batches_go_on(weights, tmp_path):
    import os
    import stat

    sky_image(32, 32).save(tmp_path / "in.png")
    (tmp_path / "a_file").write_text("not a folder")
    result = outpaint(weights, f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'a_file' / 'o.png'}", "grow=1.5")
    assert_one_line_error(result, "is not a folder")
    result = outpaint(weights, f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'o.png'}", "grow=1.5")
    assert result.returncode == 0, result.stderr[-2000:]
    assert stat.S_IMODE(os.stat(tmp_path / "o.png").st_mode) == 0o666 & ~_umask()
    batch = tmp_path / "batch"
    batch.mkdir()
    sky_image(32, 32, seed=1).save(batch / "a.png")
    (batch / "b.png").write_bytes(b"broken")
    sky_image(32, 32, seed=2).save(batch / "c.png")
    result = outpaint(weights, f"input={batch}", f"output={tmp_path / 'batch_out'}", "grow=1.5")
    assert result.returncode == 1
    assert sorted(p.name for p in (tmp_path / "batch_out").iterdir()) == ["a_outpainted.png", "c_outpainted.png"]
    assert "a_outpainted.png" in result.stdout and "c_outpainted.png" in result.stdout
    assert "failed:" in result.stderr and "b.png" in result.stderr and "Traceback" not in result.stderr
    assert "error: 1 of 3 images failed" in result.stderr


def _umask() -> int:
    import os

    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_missing_weights_one_line(tmp_path):
    sky_image(32, 32).save(tmp_path / "in.png")
    result = run_module(
        "skysynth.outpaint",
        f"weights={tmp_path / 'none'}",
        f"input={tmp_path / 'in.png'}",
        f"output={tmp_path / 'o.png'}",
    )
    assert_one_line_error(result, "missing weights")


def test_console_command_with_flags(weights, tmp_path):
    sky_image(32, 32, seed=9).save(tmp_path / "in.png")
    result = run_module(
        "skysynth.outpaint.cli_entry",
        str(tmp_path / "in.png"),
        str(tmp_path / "o.jpg"),
        "--size",
        "48",
        "40",
        "--weights",
        str(weights),
        "--set",
        "sampling.decode_steps=2",
        "--set",
        "upscale.steps=1",
        "--preset",
        "raw",
        "--profile",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert Image.open(tmp_path / "o.jpg").size == (48, 40)
    assert "profile in.png:" in result.stderr and "upscale" in result.stderr
    bad = run_module(
        "skysynth.outpaint.cli_entry", str(tmp_path / "in.png"), str(tmp_path / "x.png"), "--set", "decode_steps=2"
    )
    assert_one_line_error(bad, "did you mean sampling.decode_steps")
    assert not (tmp_path / "x.png").exists()


def test_a_preset_then_overrides_on_the_command_line(weights, tmp_path):
    """preset=raw and the same stages switched off one by one draw the same picture; an override
    after the preset wins over it."""
    sky_image(40, 32, seed=3).save(tmp_path / "in.png")
    common = [f"input={tmp_path / 'in.png'}", "size=[72,48]"]
    raw = outpaint(weights, *common, f"output={tmp_path / 'raw.png'}", "preset=raw")
    stages = [f"finish.{s}.enabled=false" for s in ("colour", "trend", "detail_copy", "bands")]
    by_hand = outpaint(weights, *common, f"output={tmp_path / 'hand.png'}", *stages)
    default = outpaint(weights, *common, f"output={tmp_path / 'default.png'}")
    back_on = outpaint(weights, *common, f"output={tmp_path / 'back.png'}", "preset=raw", "finish.colour.enabled=true")
    for result in (raw, by_hand, default, back_on):
        assert result.returncode == 0, result.stderr[-2000:]
    pictures = {n: np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("raw", "hand", "default", "back")}
    assert np.array_equal(pictures["raw"], pictures["hand"])
    assert not np.array_equal(pictures["raw"], pictures["default"])
    assert not np.array_equal(pictures["raw"], pictures["back"])


def test_cloud_types_on_the_command_lines(weights, tmp_path):
    """An unconditional MaskGIT refuses a named type before any work; unknown names list the valid ones."""
    sky_image(32, 32, seed=9).save(tmp_path / "in.png")
    named = outpaint(
        weights, f"input={tmp_path / 'in.png'}", f"output={tmp_path / 'o.png'}", "sampling.cloud_type=cirrus"
    )
    assert_one_line_error(named, "needs a class-conditional MaskGIT")
    unknown = run_module(
        "skysynth.outpaint.cli_entry", str(tmp_path / "in.png"), str(tmp_path / "o.png"), "--cloud-type", "stormy"
    )
    assert_one_line_error(unknown, "must be one of auto, none, cumulus, altocumulus, cirrus")
    assert not (tmp_path / "o.png").exists()
    auto = run_module(
        "skysynth.outpaint.cli_entry",
        str(tmp_path / "in.png"),
        str(tmp_path / "o.png"),
        "--weights",
        str(weights),
        "--set",
        "sampling.decode_steps=2",
        "--cloud-type",
        "auto",
        "--size",
        "48",
        "40",
    )
    assert auto.returncode == 0, auto.stderr[-2000:]
    assert Image.open(tmp_path / "o.png").size == (48, 40)


@pytest.mark.parametrize("guide", ["token_classifier", "token_prior"])
def test_weights_with_a_token_guide_grow_a_named_type(weights, tmp_path, guide):
    """token_classifier/ or token_prior/ beside the networks (the bundled set has both) lets an
    unconditional MaskGIT grow types."""
    import shutil

    from tests.test_cloud_type import tiny_token_classifier, tiny_token_prior

    guided = tmp_path / "guided"
    shutil.copytree(weights, guided)
    (tiny_token_classifier() if guide == "token_classifier" else tiny_token_prior()).save_pretrained(guided / guide)
    sky_image(32, 32, seed=9).save(tmp_path / "in.png")
    common = [f"input={tmp_path / 'in.png'}", "size=[48,40]"]
    named = outpaint(guided, *common, f"output={tmp_path / 'cirrus.png'}", "sampling.cloud_type=cirrus")
    plain = outpaint(guided, *common, f"output={tmp_path / 'none.png'}", "sampling.cloud_type=none")
    assert named.returncode == 0 and plain.returncode == 0, named.stderr[-2000:] + plain.stderr[-2000:]
    cirrus, none = (np.asarray(Image.open(tmp_path / f"{n}.png")) for n in ("cirrus", "none"))
    assert cirrus.shape == (40, 48, 3) and not np.array_equal(cirrus, none)
