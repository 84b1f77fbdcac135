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
