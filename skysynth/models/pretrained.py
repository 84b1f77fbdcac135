"""Save and load a network as safetensors weights with a JSON config beside them.

The only place in `skysynth.models` that touches files; networks themselves stay pure.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS_NAME = "model.safetensors"
CONFIG_NAME = "config.json"


class PretrainedMixin:
    """Adds `save_pretrained` / `from_pretrained` to an `nn.Module` whose `config` is a dataclass.

    Subclasses set `config_class` and `model_type` (a string recorded in config.json so that the
    weights of one model are never loaded into another).
    """

    config_class: type
    model_type: str

    def save_pretrained(self, directory: str | os.PathLike, dtype: torch.dtype = torch.float16) -> Path:
        """Write `model.safetensors` (in `dtype`, default fp16) and `config.json` atomically."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().to("cpu") for k, v in self.state_dict().items()}
        state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
        config = {"model_type": self.model_type, **dataclasses.asdict(self.config)}
        _atomic_write(directory / WEIGHTS_NAME, lambda p: save_file(state, p))
        _atomic_write(directory / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config, indent=2)))
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, dtype: torch.dtype = torch.float32):
        """Build the network from `config.json` and load `model.safetensors` from `directory`."""
        directory = Path(directory)
        config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
        if not config_path.is_file() or not weights_path.is_file():
            raise FileNotFoundError(
                f"no {cls.model_type} weights in {directory} (need {CONFIG_NAME} and {WEIGHTS_NAME})"
            )
        raw = json.loads(config_path.read_text())
        model_type = raw.pop("model_type", cls.model_type)
        if model_type != cls.model_type:
            raise ValueError(f"{directory} holds a {model_type} model, not a {cls.model_type}")
        names = {f.name for f in dataclasses.fields(cls.config_class)}
        config = cls.config_class(**{k: _tuple(v) for k, v in raw.items() if k in names})
        model = cls(config)
        state = load_file(str(weights_path))
        model.load_state_dict({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()})
        return model.to(dtype).eval()


def _tuple(value):
    return tuple(value) if isinstance(value, list) else value


def build_config(config_class, values):
    """A model config dataclass from a dict or DictConfig (lists become tuples)."""
    from omegaconf import DictConfig, OmegaConf

    if isinstance(values, DictConfig):
        values = OmegaConf.to_container(values, resolve=True)
    return config_class(**{k: _tuple(v) for k, v in dict(values).items()})


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes owner-only files; weights are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
