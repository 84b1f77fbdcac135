"""Bad input at every entry point: one `error:` line, a non-zero exit, no traceback, nothing
half-written. `benchmarks/reliability.py` prints this table with what each case answered."""

from __future__ import annotations

import pytest

from tests.conftest import sky_image
from tests.helpers import assert_one_line_error, run_module

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
