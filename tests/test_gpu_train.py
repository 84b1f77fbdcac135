"""The one-call GPU training script, rehearsed on the CPU with tiny networks (benchmarks/gpu_train.sh)."""

from __future__ import annotations

import os
import subprocess
import sys

from safetensors.torch import load_file

from tests.conftest import sky_image
from tests.helpers import ROOT, assert_one_line_error


def test_bundle_then_tiny_training_brings_back_three_exports_and_a_report(tmp_path):
    photos = tmp_path / "photos" / "sky"
    photos.mkdir(parents=True)
    for i in range(48):
        sky_image(64, 64, seed=i).save(photos / f"p{i:03d}.jpg")
    bundle, out = tmp_path / "bundle", tmp_path / "out"
    made = subprocess.run(
        [
            sys.executable,
            "benchmarks/gpu_bundle.py",
            "--photos",
            str(photos.parent),
            "--out",
            str(bundle),
            "--every",
            "1",
            "--no-wheels",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert made.returncode == 0, made.stderr[-2000:]
    assert "112-px shards: 48 photos; 224-px shards: 48 of 48" in made.stdout
    env = dict(
        os.environ,
        GPU_TRAIN_TINY="1",
        OUT=str(out),
        BUNDLE=str(bundle),
        PY=sys.executable,
        WORK=str(tmp_path / "work"),
        OMP_NUM_THREADS="1",
    )
    result = subprocess.run(
        ["bash", "benchmarks/gpu_train.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:]
    # What comes back from a device call: at most 8 files, two folders down.
    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert files == [
        "maskgit/config.json",
        "maskgit/model.safetensors",
        "report.md",
        "tokenizer/config.json",
        "tokenizer/model.safetensors",
        "train.log",
        "upscaler/config.json",
        "upscaler/model.safetensors",
    ]
    assert all(
        t.dtype.itemsize == 2
        for t in load_file(out / "maskgit" / "model.safetensors").values()
        if t.is_floating_point()
    )
    report = (out / "report.md").read_text()
    for name, check in (("tokenizer", "val/psnr"), ("maskgit", "val/nll"), ("upscaler", "val/psnr_bicubic")):
        row = next(line for line in report.splitlines() if line.startswith(f"| {name} |"))
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert cells[1] == "2" and cells[2] == "2" and float(cells[5]) > 0 and check in cells[7], row
    # MaskGIT trained on the codes of the tokenizer this run made, not on the bundled one's.
    assert f"model.lit.tokenizer={tmp_path / 'work'}/runs/tokenizer/export" in (out / "train.log").read_text()


def test_a_missing_bundle_is_one_line(tmp_path):
    env = dict(
        os.environ, GPU_TRAIN_TINY="1", OUT=str(tmp_path / "out"), BUNDLE=str(tmp_path / "none"), PY=sys.executable
    )
    result = subprocess.run(
        ["bash", "benchmarks/gpu_train.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert (
        result.returncode == 2 and "gpu_bundle.py" in (out := result.stdout + result.stderr) and "Traceback" not in out
    )
    made = subprocess.run(
        [sys.executable, "benchmarks/gpu_bundle.py", "--photos", str(tmp_path / "none")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_error(made, "is not a folder")
