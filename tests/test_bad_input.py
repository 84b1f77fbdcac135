"""Bad input at every entry point: one `error:` line, a non-zero exit, no traceback, nothing
half-written. `benchmarks/reliability.py` prints this table with what each case answered."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import sky_image, tiny_maskgit, tiny_upscaler, tiny_vqvae
from tests.helpers import ROOT, assert_one_line_error, run_module

# (entry point, arguments with {tmp} for a fresh folder, a fragment of the error line)
CASES = [
    ("skysynth.outpaint", ["input={tmp}/none.png", "output={tmp}/o.png"], "input not found"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.png", "samples=two"], "samples=two: Value 'two'"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.png", "sampling.temperature=-3"], "temperature must"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.png", "temperature=3"], "sampling.temperature?"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.png", "device=tpu"], "device must be cpu or cuda"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.gif"], "output must end in"),
    ("skysynth.outpaint", ["input={tmp}/sky.png", "output={tmp}/o.png", "threads=0"], "threads must be auto"),
    ("skysynth.serve", ["port=0"], "port must be from 1 to 65535"),
    ("skysynth.serve", ["max_samples=many"], "max_samples=many: Value 'many'"),
    ("skysynth.serve", ["sampling.decode_steps=0"], "sampling.decode_steps must be at least 1"),
    ("skysynth.serve", ["device=tpu"], "device must be cpu or cuda"),
    ("skysynth.serve", ["threads=many"], "threads must be auto"),
    ("data_prep.shards", ["source={tmp}/none", "out={tmp}/s"], "not found"),
    ("data_prep.shards", ["source={tmp}/photos", "out={tmp}/s", "size=512"], "no crops kept"),
    ("data_prep.shards", ["source={tmp}/photos", "out={tmp}/s", "masks={tmp}/typo"], "masks folder not found"),
    ("data_prep.segment", ["archive={tmp}/none", "out={tmp}/m"], "not found"),
    ("skysynth.train", ["hydra.run.dir={tmp}/run"], "no model chosen"),
    ("skysynth.train", ["model=vqvae", "data.shards={tmp}/none", "hydra.run.dir={tmp}/run"], "shard folder not found"),
    ("skysynth.export", ["ckpt={tmp}/none.ckpt", "out={tmp}/w"], "not found"),
    ("skysynth.eval", ["task=outpaint", "data={tmp}/photos", "n=-3"], "n must be at least 1"),
    ("skysynth.eval", ["task=outpaint", "data={tmp}/photos", "size=0"], "size must be at least 8"),
    ("skysynth.eval", ["task=nosuch"], "unknown task"),
    ("skysynth.eval", ["task=outpaint", "data={tmp}/photos", "c2st_steps=5"], "c2st_steps must be at least 10"),
]


def prepare(tmp) -> None:
    sky_image(32, 32).save(tmp / "sky.png")
    (tmp / "photos").mkdir(exist_ok=True)
    for i in range(3):
        sky_image(48, 48, seed=i).save(tmp / "photos" / f"{i}.jpg")


@pytest.mark.parametrize("module, args, fragment", CASES, ids=[f"{m} {' '.join(a[-1:])}" for m, a, _ in CASES])
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, module, args, fragment):
    prepare(tmp_path)
    before = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")}
    result = run_module(module, *(a.replace("{tmp}", str(tmp_path)) for a in args), timeout=300)
    assert_one_line_error(result, fragment)
    made = {p.relative_to(tmp_path) for p in tmp_path.rglob("*")} - before
    # No file is left, but the report of a data-prep run that kept nothing (its error names it).
    report = {"manifest.json", "frames.csv"} if fragment == "no crops kept" else set()
    assert not [p for p in made if (tmp_path / p).is_file() and p.name not in report], made


def interrupt(module: str, args: list[str], when: str, cwd) -> tuple[int, str]:
    """Start a command, press Ctrl+C (SIGINT) `when`="importing" (0.4 s in, while torch loads) or
    "working" (a second after its first progress bar), and return its exit code and stderr."""
    env = dict(os.environ, OMP_NUM_THREADS="1", WANDB_MODE="offline", PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),  # a background `make test` ignores it
    )
    seen = b""
    if when == "importing":
        time.sleep(0.4)
    else:
        while b"grow tokens" not in seen and process.poll() is None:
            seen += os.read(process.stderr.fileno(), 4096)
        time.sleep(1.0)  # into the growth loop, past the bar's first drawing
    process.send_signal(signal.SIGINT)
    rest = process.communicate(timeout=120)[1]
    return process.returncode, (seen + rest).decode(errors="replace")


@pytest.mark.parametrize(
    "module, when",
    [("skysynth.outpaint", "importing"), ("skysynth.outpaint", "working"), ("skysynth.train", "importing")],
)
def test_ctrl_c_is_one_line_and_leaves_nothing(tmp_path, module, when):
    """Ctrl+C while a command is still importing its libraries, or in the middle of its work: exit
    130 with one line saying so, no traceback, no output file."""
    prepare(tmp_path)
    weights = tmp_path / "w"
    tiny_vqvae().save_pretrained(weights / "tokenizer")
    tiny_maskgit(side=8).save_pretrained(weights / "maskgit")
    tiny_upscaler().save_pretrained(weights / "upscaler")
    args = {
        "skysynth.outpaint": [f"weights={weights}", f"input={tmp_path}/sky.png", f"output={tmp_path}/o.png"]
        + ["size=[800,800]", "threads=1"],
        "skysynth.train": ["model=vqvae", f"data.shards={tmp_path}", f"hydra.run.dir={tmp_path}/run"],
    }[module]
    code, stderr = interrupt(module, args, when, tmp_path)
    lines = [line for line in stderr.replace("\r", "\n").splitlines() if line.strip() and "grow tokens" not in line]
    assert code == 130, stderr[-2000:]
    assert "Traceback" not in stderr and len(lines) == 1 and lines[0].startswith("interrupted"), stderr[-2000:]
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "run").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".") or p.suffix == ".tmp"]
