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


# Hydra apps the README documents: module -> (config folder under conf/, config name).
HYDRA_APPS = {
    "skysynth.outpaint": ("", "outpaint"),
    "skysynth.serve": ("", "serve"),
    "skysynth.train": ("", "train"),
    "skysynth.export": ("", "export"),
    "skysynth.eval": ("eval", "eval"),
    "skysynth.eval.train_classifier": ("eval", "classifier"),
    "skysynth.eval.train_token_classifier": ("eval", "token_classifier"),
    "skysynth.eval.fit_token_prior": ("eval", "token_prior"),
    "data_prep.segment": ("prep", "segment"),
    "data_prep.shards": ("prep", "shards"),
    "data_prep.prepare": ("prep", "default"),
    "data_prep.demo_archive": ("prep", "demo_archive"),
}
# Override words that choose a config group rather than set a value.
GROUP_KEYS = ("model", "experiment", "trainer", "logger", "preset")
PLACEHOLDER = re.compile(r"\b([A-Z]{1,6}|YYYY-MM-DD)\b|\.\.\.")


def _unbracket(word: str) -> str:
    """'[samples=N]' -> 'samples=N', '[size=[W,H]' -> 'size=[W,H]', 'pad=[L,T,R,B]]' -> 'pad=[L,T,R,B]'."""
    word = word.lstrip("[") if not word.startswith("[") or "=" in word else word
    while word.endswith("]") and word.count("]") > word.count("["):
        word = word[:-1]
    return word


def documented_overrides() -> list[tuple[str, list[str]]]:
    """(module, key=value words) for every `python -m` line of the README: optional `[...]`
    groups unwrapped, `a|b` choices taken at their first, a sweep at its first point."""
    lines = []
    for block in readme_commands():
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].removeprefix("make setup && ").strip()
            if not line.startswith(".venv/bin/python -m "):
                continue
            words = shlex.split(line)
            module, sweep = words[2], "-m" in words[3:]
            words = [_unbracket(w) for w in words[3:]]
            words = [w.split("|")[0] if "=[" not in w else w for w in words if "=" in w]
            if sweep:
                words = [w.split(",")[0] for w in words]
            lines.append((module, words))
    return lines


def assert_options_exist(module: str, words: list[str], where: str) -> None:
    """Every key=value of a documented `python -m module` line names a real option; values that
    are not placeholders (IN, DIR, N, ...) pass the app's type checks."""
    import importlib

    from omegaconf import OmegaConf

    from skysynth.common.hydra_app import CONF_DIR, compose_app

    assert module in HYDRA_APPS, f"{where} runs {module}, which this test does not know"
    main = module + ".__main__" if module in ("skysynth.outpaint", "skysynth.serve", "skysynth.eval") else module
    importlib.import_module(main)  # registers its schemas in Hydra's ConfigStore
    folder, name = HYDRA_APPS[module]
    words = [w for w in words if not w.startswith("hydra.")]
    groups = [w for w in words if w.split("=")[0] in GROUP_KEYS]
    if module == "skysynth.train" and not any(w.startswith("model=") for w in groups):
        groups.append("model=vqvae")
    cfg = compose_app(name, groups, CONF_DIR / folder)
    for word in words:
        key = word.split("=", 1)[0]
        if key in GROUP_KEYS:
            continue
        parent, _, last = key.rpartition(".")
        node = OmegaConf.select(cfg, parent) if parent else cfg
        assert OmegaConf.is_dict(node) and last in node.keys(), f"{module}: {where} names {key}"
    concrete = [w for w in words if w not in groups and not PLACEHOLDER.search(w.split("=", 1)[1])]
    compose_app(name, groups + concrete, CONF_DIR / folder)


def test_every_documented_option_exists_and_its_documented_value_is_accepted():
    documented = documented_overrides()
    assert {module for module, _ in documented} >= {"skysynth.outpaint", "skysynth.eval", "skysynth.train"}
    for module, words in documented:
        assert_options_exist(module, words, "the README")


def test_every_make_target_runs_real_commands_with_real_options():
    """`make -n` of every target that runs the project (the others are run by this suite itself:
    test, browser, prep-data above) prints `python -m` lines whose options all exist."""
    targets = re.findall(r"^([a-z][a-z-]*):", (ROOT / "Makefile").read_text(), flags=re.M)
    assert {"prep-gcd", "train-vqvae", "train-maskgit", "train-upscaler", "outpaint-example"} <= set(targets)
    checked = 0
    for target in set(targets) - {"setup", "test", "browser", "lint"}:
        dry = subprocess.run(["make", "-n", target, "PY=python"], cwd=ROOT, capture_output=True, text=True)
        assert dry.returncode == 0, f"make -n {target}: {dry.stderr}"
        for line in dry.stdout.replace("\\\n", " ").splitlines():
            if line.startswith("python -m "):
                words = shlex.split(line)
                assert_options_exist(words[2], [w for w in words[3:] if "=" in w], f"make {target}")
                checked += 1
    assert checked >= 8, checked


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (ROOT / "README.md").read_text()
    snippet = re.findall(r"```python\n(.*?)```", text, flags=re.S)[0]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "sky.jpg").write_bytes((ROOT / "examples" / "sky.jpg").read_bytes())
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)
    assert Image.open(tmp_path / "wide.png").size == (672, 224)
    assert {"tokenize", "grow tokens", "decode", "finish"} <= set(namespace["result"].timings)
