"""The README's first command, run as written (minus `make setup`, which made this environment)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys

from PIL import Image

from tests.helpers import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)]


def test_readme_main_command_outpaints_the_example(tmp_path):
    first = readme_commands()[0]
    assert first.startswith("make setup && "), first
    words = shlex.split(first.removeprefix("make setup && "))
    assert words[:3] == [".venv/bin/python", "-m", "skysynth.outpaint"]
    output = next(w for w in words if w.startswith("output=")).split("=", 1)[1]
    words = [sys.executable] + words[1:]
    words = [f"output={tmp_path / output}" if w.startswith("output=") else w for w in words]
    result = subprocess.run(words, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    picture = Image.open(tmp_path / output)
    assert picture.size == (672, 224)
    example = Image.open(ROOT / "examples" / "sky.jpg").convert("RGB")
    # The input sits in the middle, pixel for pixel.
    assert picture.convert("RGB").crop((224, 0, 448, 224)).tobytes() == example.tobytes()


def test_readme_test_command_is_what_ci_runs():
    assert readme_commands()[1] == "make test"
    assert "make test" in (ROOT / ".ci" / "run").read_text().splitlines()


def test_make_prep_data_then_train_resume_export_eval(tmp_path):
    """`make prep-data` as documented (the demo archive), then a tiny train -> resume -> export -> eval."""
    import json
    import os

    from tests.helpers import run_module

    out, masks = tmp_path / "shards", tmp_path / "masks"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    make = ["make", "prep-data", f"PY={sys.executable}", f"OUT={out}", f"MASKS={masks}"]
    result = subprocess.run(make, cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["crops_kept"] > 100, manifest["counts"]
    tiny = [
        "model=vqvae", "logger=csv", f"data.shards={out}", "data.crop_size=32", "data.batch_size=4",
        "data.num_workers=0", "data.train_samples_per_epoch=16", "model.lit.net.base_channels=8",
        "model.lit.net.embed_dim=8", "model.lit.net.codebook_size=16", "model.lit.grid_every_n_steps=0",
        "trainer.enable_progress_bar=false", "checkpoint_every_n_steps=2",
    ]
    run = tmp_path / "run"
    result = run_module("skysynth.train", *tiny, "trainer.max_steps=2", f"hydra.run.dir={run}")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_module("skysynth.train", f"hydra.run.dir={run}", "ckpt_path=last", "trainer.max_steps=4")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_module("skysynth.export", f"ckpt={run}/checkpoints/last.ckpt", f"out={tmp_path}/weights")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_module(
        "skysynth.eval", "task=vqvae", f"weights={tmp_path}/weights", f"data={out}", "n=8", "crop=32",
        f"out={tmp_path}/eval",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((tmp_path / "eval" / "report.json").read_text())
    assert "PSNR" in report["table"]
