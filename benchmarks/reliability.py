"""The bad-input table: every case of tests/test_bad_input.py, what it exited with and said.

    .venv/bin/python benchmarks/reliability.py

Prints a markdown table (entry point, input, exit code, the error line) for RESULTS.md.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.helpers import run_module  # noqa: E402
from tests.test_bad_input import CASES, prepare  # noqa: E402


def main() -> None:
    print("| entry point | input | exit | says |\n|---|---|---|---|")
    for module, args, _ in CASES:
        with tempfile.TemporaryDirectory() as folder:
            tmp = Path(folder)
            prepare(tmp)
            result = run_module(module, *(a.replace("{tmp}", str(tmp)) for a in args), timeout=300)
            lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
            said = (lines[0].replace(str(tmp), "TMP") if lines else "(no error line)").replace("|", "\\|")
            shown = " ".join(a.replace("{tmp}", "TMP") for a in args)
            traceback = " (traceback!)" if "Traceback" in result.stderr else ""
            print(f"| `{module}` | `{shown}` | {result.returncode} | {said}{traceback} |", flush=True)


if __name__ == "__main__":
    main()
