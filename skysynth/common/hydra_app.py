"""Hydra entry points that fail like the rest of skysynth: one `error:` line and exit 2.

Hydra reports a bad override (a wrong type, an unknown name) in several lines and exits 1. Each
app composes its config once with Hydra's compose API before `hydra.main` runs, and turns such
a failure into one line, with a hint when a bare name is a field of the pipeline config.
"""

from __future__ import annotations

import sys
from pathlib import Path

from omegaconf.errors import OmegaConfBaseException

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


def one_line(error: BaseException) -> str:
    """The first line of `error` and of its cause, e.g. 'sampling.decode_steps=x: Value 'x' ...'."""
    from skysynth.outpaint.config import hint

    message = str(error).splitlines()[0] if str(error) else type(error).__name__
    cause = error.__cause__
    if message.startswith("Error merging override ") and cause is not None:
        message = f"{message.removeprefix('Error merging override ')}: {str(cause).splitlines()[0]}"
    elif "Could not find '" in message and "Available options" in str(error):
        group, choice = message.split("Could not find '")[1].rstrip("'").split("/", 1)
        lines = str(error).splitlines()
        first = next(i for i, line in enumerate(lines) if "Available options" in line) + 1
        options = []
        for line in lines[first:]:
            if not line.startswith("\t"):
                break
            options.append(line.strip())
        message = f"{group} must be one of {', '.join(options)}, got {choice!r}"
    elif message.startswith("Could not override '"):
        key = message.split("'")[1]
        message = f"unknown option {key!r}{hint(key)}"
    return message


def compose_app(config_name: str, overrides: list[str] = (), config_dir: Path = CONF_DIR):
    """The config an entry point would run with, without running it (the app's module must have
    registered its schemas, e.g. by being imported)."""
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(config_dir), version_base="1.3"):
        return compose(config_name, overrides=list(overrides))


def check_overrides(config_name: str, argv: list[str] | None = None, config_dir: Path = CONF_DIR) -> None:
    """Compose `<config_dir>/<config_name>.yaml` with the command line's overrides; on failure print
    one line and exit 2. Flags (--help, --cfg, -m sweeps) are left to Hydra."""
    from hydra.errors import HydraException

    argv = sys.argv[1:] if argv is None else argv
    if any(arg.startswith("-") for arg in argv):
        return
    try:
        compose_app(config_name, argv, config_dir)
    except (HydraException, OmegaConfBaseException, ValueError) as error:
        print(f"error: {one_line(error)}", file=sys.stderr)
        sys.exit(2)
