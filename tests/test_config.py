"""One source for every default: the structured configs, and every entry point composes from them."""

from __future__ import annotations

import json
import re

import pytest

from skysynth.common.hydra_app import CONF_DIR, compose_app
from skysynth.outpaint.config import (
    CLOUD_CHOICES,
    PRESETS,
    ConfigError,
    OutpaintConfig,
    leaf_names,
    preset,
    to_config,
    with_overrides,
)


@pytest.mark.parametrize(
    ("app", "folder", "module"),
    [
        ("outpaint", "", "skysynth.outpaint.__main__"),
        ("serve", "", "skysynth.serve.__main__"),
        ("eval", "eval", "skysynth.eval.__main__"),
    ],
)
def test_every_hydra_app_runs_with_the_pipeline_config_defaults(app, folder, module):
    import importlib

    importlib.import_module(module)
    required = {"outpaint": ["input=a.jpg", "output=b.png"], "eval": ["task=outpaint"]}.get(app, [])
    assert to_config(compose_app(app, required, CONF_DIR / folder)) == OutpaintConfig()
    raw = to_config(compose_app(app, [*required, "preset=raw", "finish.bands.ramp_tokens=0.5"], CONF_DIR / folder))
    assert raw == preset("raw", {"finish.bands.ramp_tokens": 0.5})


def test_no_yaml_file_repeats_a_pipeline_setting():
    # The app YAMLs only pick schemas and presets: a value written there would be a second default.
    for path in (CONF_DIR / "outpaint.yaml", CONF_DIR / "serve.yaml", CONF_DIR / "eval" / "eval.yaml"):
        text = path.read_text()
        for section in ("sampling", "decode", "upscale", "guard", "finish"):
            assert not re.search(rf"^{section}\s*:", text, flags=re.M), f"{path.name} sets {section}"


def test_the_console_script_leaves_defaults_to_the_configs(monkeypatch, tmp_path):
    from skysynth.outpaint import cli

    seen = {}

    def fake_run(input, output, job, config):
        seen.update(job=job, config=config)
        return []

    monkeypatch.setattr(cli, "run", fake_run)
    cli.console_main([str(tmp_path / "a.jpg"), str(tmp_path / "b.png")])
    assert seen["job"] == cli.JobOptions() and seen["config"] == OutpaintConfig()


def test_the_web_page_starts_from_the_configs():
    from fastapi.testclient import TestClient

    from skysynth.outpaint.cli import JobOptions
    from skysynth.serve.app import create_app

    page = TestClient(create_app(lambda: None)).get("/").text
    defaults = json.loads(re.search(r"const DEFAULTS = (\{.*?\});", page).group(1))
    job = JobOptions()
    sampling = OutpaintConfig().sampling
    assert defaults == {
        "temperature": sampling.temperature,
        "cloud_type": sampling.cloud_type,
        "seed": job.seed,
        "samples": job.samples,
        "cloud_type_choices": list(CLOUD_CHOICES),
    }


def test_overrides_are_type_and_range_checked_with_hints():
    assert with_overrides(OutpaintConfig(), ["sampling.temperature=3"]).sampling.temperature == 3.0
    with pytest.raises(ConfigError, match="did you mean sampling.temperature"):
        with_overrides(OutpaintConfig(), {"temperature": 3})
    with pytest.raises(ConfigError, match="sampling.decode_steps"):
        with_overrides(OutpaintConfig(), ["sampling.decode_steps=many"])
    with pytest.raises(ConfigError, match="at least 0"):
        with_overrides(OutpaintConfig(), ["sampling.temperature=-3"])
    with pytest.raises(ConfigError, match="preset must be one of"):
        preset("stormy")
    assert with_overrides(OutpaintConfig(), ["finish.bands.gain_range=[0.5,2]"]).finish.bands.gain_range == (0.5, 2.0)
    for bad in ("[2,0.5]", "[0,2]", "[1]"):
        with pytest.raises(ConfigError, match="finish.bands.gain_range must be"):
            with_overrides(OutpaintConfig(), [f"finish.bands.gain_range={bad}"])
    # A config is a value: overriding never changes the one it starts from.
    base = OutpaintConfig()
    with_overrides(base, ["finish.bands.enabled=false"])
    assert base.finish.bands.enabled


def test_presets_name_real_fields():
    names = set(leaf_names())
    for overrides in PRESETS.values():
        assert set(overrides) <= names
