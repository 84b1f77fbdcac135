"""The one structured config of the outpainting pipeline: the single source of every default.

Sections: `sampling` (MaskGIT token draws), `decode` (windowed decoding, circular closing),
`upscale` (the diffusion upscaler in tiles), `guard` (collapse guards, skysynth.outpaint.guards)
and `finish` (finishing stages, skysynth.outpaint.finish). Every entry point overrides a field by
its dotted name, type-checked against these dataclasses:

    python -m skysynth.outpaint input=a.jpg output=b.png finish.bands.enabled=false preset=raw
    skysynth-outpaint a.jpg b.png --set sampling.temperature=3 --preset raw
    with_overrides(OutpaintConfig(), ["finish.detail_copy.enabled=false"])

Presets are named sets of overrides (`PRESETS`): `raw` is the generator's own picture, with
the stages that move colour and detail towards the input's off.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import OmegaConf
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

from skysynth.common.cloud_types import CLOUD_TYPES
from skysynth.outpaint.finish import MATCHES_INPUT, FinishConfig
from skysynth.outpaint.guards import GuardConfig

ORDERS = ("confidence", "halton")
SPOT_CHOICES = ("none", "bright", "dark", "both")  # not "off": YAML reads it as false
CLOUD_CHOICES = ("auto", "none", *CLOUD_TYPES)


@dataclass
class SamplingConfig:
    decode_steps: int = 6
    temperature: float = 4.0  # Gumbel-noise scale of the confidences (the thesis's temperature)
    sampling_temperature: float = 1.0  # softmax temperature of the token draws
    top_p: float = 1.0  # nucleus filtering of the token draws (1 = off)
    # After the draws, a generated token less probable than this given all its neighbours is
    # drawn again from the tokens at least that probable (0 = off).
    redraw_below: float = 0.0
    # After growth, generated tokens under an isolated spot in the decoded canvas (a token-sized
    # blob alone on smooth sky, skysynth.spots: the white balls) are drawn again: none | bright | dark | both.
    repair_spots: str = "bright"
    spot_isolation: float = 3.0  # a spot stands this many times its surround's band RMS out
    order: str = "confidence"  # unmasking order: confidence | halton
    # Confidence order only: lowered by this much per token of distance from the known tokens,
    # so the tokens beside the input are fixed first and the rest grow out from them (0 = off).
    outward: float = 0.0
    # What kind of sky grows (a class-conditional MaskGIT): one of CLOUD_TYPES, "auto" = the
    # input's own type by the bundled classifier, "none" = unconditional.
    cloud_type: str = "auto"
    guidance_scale: float = 1.0  # classifier-free guidance towards cloud_type (1 = the conditional model alone)
    # Classifier guidance towards a named cloud_type by the token classifier (the weights'
    # token_classifier/): draws tilted by p(type | window)^type_guidance; 0 = off. "auto" is not
    # steered: the MaskGIT continues the input's own sky by itself.
    type_guidance: float = 100.0
    # Guidance towards a named cloud_type by the token prior (the weights' token_prior/): every
    # draw's logits gain type_prior x log p(code | type) / p(code); 0 = off.
    type_prior: float = 3.0
    # Windows that do not overlap are drawn together, this many per network pass at most (1 =
    # one by one); the tokens are the same either way, only the speed and the memory differ.
    batch_windows: int = 16
    # MaskGIT's passes under bf16 autocast (the draws in fp32); None = where the device computes
    # bf16 natively. A different choice draws different tokens from the same seed.
    bf16: bool | None = None
    # Token columns grown past the canvas's right edge and cut off after decoding (not on a
    # circular axis), so that the last window of each row and the decoder see sky beyond the
    # edge; at least this many, rounded up so that the last window is a whole grid step; the
    # finishing stages see the canvas without them (0 = off).
    right_margin_tokens: int = 0

    def __post_init__(self):
        _at_least("sampling.decode_steps", self.decode_steps, 1)
        _at_least("sampling.right_margin_tokens", self.right_margin_tokens, 0)
        _at_least("sampling.batch_windows", self.batch_windows, 1)
        _at_least("sampling.temperature", self.temperature, 0.0)
        _at_least("sampling.outward", self.outward, 0.0)
        if not self.sampling_temperature > 0:
            raise ValueError(f"sampling.sampling_temperature must be above 0, got {self.sampling_temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"sampling.top_p must be in (0, 1], got {self.top_p!r}")
        if not 0 <= self.redraw_below < 1:
            raise ValueError(f"sampling.redraw_below must be in [0, 1), got {self.redraw_below!r}")
        if self.repair_spots not in SPOT_CHOICES:
            choices = ", ".join(SPOT_CHOICES)
            raise ValueError(f"sampling.repair_spots must be one of {choices}, got {self.repair_spots!r}")
        if not self.spot_isolation > 0:
            raise ValueError(f"sampling.spot_isolation must be above 0, got {self.spot_isolation!r}")
        if self.order not in ORDERS:
            raise ValueError(f"sampling.order must be {' or '.join(ORDERS)}, got {self.order!r}")
        if self.cloud_type not in CLOUD_CHOICES:
            raise ValueError(f"sampling.cloud_type must be one of {', '.join(CLOUD_CHOICES)}, got {self.cloud_type!r}")
        _at_least("sampling.guidance_scale", self.guidance_scale, 0.0)
        _at_least("sampling.type_guidance", self.type_guidance, 0.0)
        _at_least("sampling.type_prior", self.type_prior, 0.0)

    @property
    def spot_kinds(self) -> tuple[str, ...]:
        """The kinds of spot `repair_spots` names: () when off."""
        return {"none": (), "both": ("bright", "dark")}.get(self.repair_spots, (self.repair_spots,))


@dataclass
class DecodeConfig:
    window: int = 64  # tokens per decoder window side
    closing_overlap_tokens: int = 16  # panoramas/tiles: the two fronts overlap this much (0 = one closing window)

    def __post_init__(self):
        _at_least("decode.window", self.window, 2)
        _at_least("decode.closing_overlap_tokens", self.closing_overlap_tokens, 0)


@dataclass
class UpscaleConfig:
    enabled: bool = True
    steps: int = 4  # DDIM steps
    draws: int = 1  # the estimate is the mean of this many draws
    tile: int = 256  # pixels
    overlap: int = 32  # pixels

    def __post_init__(self):
        _at_least("upscale.steps", self.steps, 1)
        _at_least("upscale.draws", self.draws, 1)
        _at_least("upscale.tile", self.tile, 8)
        _at_least("upscale.overlap", self.overlap, 0)


@dataclass
class OutpaintConfig:
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    upscale: UpscaleConfig = field(default_factory=UpscaleConfig)
    guard: GuardConfig = field(default_factory=GuardConfig)
    finish: FinishConfig = field(default_factory=FinishConfig)


PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    # The generator's own colours and detail, as decoded and upscaled (the border fade and the
    # seam join stay: they only join the input's edge).
    "raw": {f"finish.{name}.enabled": False for name in MATCHES_INPUT},
}


def _at_least(name: str, value, low) -> None:
    if value < low:
        raise ValueError(f"{name} must be at least {low:g}, got {value!r}")


class ConfigError(ValueError):
    """A bad override: unknown name, wrong type or out of range (one line)."""


def leaf_names(config_class=OutpaintConfig, prefix: str = "") -> list[str]:
    """Dotted names of every field of the structured config."""
    names = []
    for f in fields(config_class):
        default = f.default_factory() if callable(f.default_factory) else f.default
        if is_dataclass(default):
            names += leaf_names(type(default), f"{prefix}{f.name}.")
        else:
            names.append(prefix + f.name)
    return names


def hint(key: str) -> str:
    """'; did you mean X' when `key` is the last part of a field's dotted name."""
    last = key.rsplit(".", 1)[-1]
    matches = [name for name in leaf_names() if name.rsplit(".", 1)[-1] == last]
    return f" (did you mean {' or '.join(matches)}?)" if matches else ""


def with_overrides(config: OutpaintConfig, overrides: dict[str, Any] | list[str] | None = None) -> OutpaintConfig:
    """A new config: `config` with `overrides` (dotted name -> value, or "name=value" strings)
    applied, type-checked and range-checked. Raises ConfigError."""
    node = OmegaConf.structured(config)
    items = overrides or {}
    if isinstance(items, dict):
        items = [(key, value) for key, value in items.items()]
    else:
        pairs = []
        for text in items:
            if "=" not in text:
                raise ConfigError(f"an override is NAME=VALUE, got {text!r}")
            key, value = text.split("=", 1)
            pairs.append((key, _yaml_value(value)))
        items = pairs
    for key, value in items:
        try:
            OmegaConf.update(node, key, value, merge=True, force_add=False)
        except (ConfigAttributeError, ConfigKeyError) as error:
            raise ConfigError(f"{key}: {str(error).splitlines()[0]}{hint(key)}") from None
        except OmegaConfBaseException as error:
            raise ConfigError(f"{key}: {str(error).splitlines()[0]}") from None
    return to_config(node)


def _yaml_value(text):
    """'3' -> 3, 'false' -> False, '[1,2]' -> [1, 2], 'null' -> None: as Hydra reads a value."""
    import yaml

    try:
        return yaml.safe_load(text) if isinstance(text, str) else text
    except yaml.YAMLError:
        return text


def to_config(node) -> OutpaintConfig:
    """An OmegaConf node of the pipeline config (from Hydra or `with_overrides`) -> OutpaintConfig."""
    try:
        result = OmegaConf.to_object(node)
    except OmegaConfBaseException as error:
        raise ConfigError(str(error).splitlines()[0]) from None
    except ValueError as error:
        raise ConfigError(str(error)) from None
    if type(result) is not OutpaintConfig:  # an app config that extends it: keep the pipeline part
        result = OutpaintConfig(**{f.name: getattr(result, f.name) for f in fields(OutpaintConfig)})
    return _with_tuples(result)


def _with_tuples(config):
    """OmegaConf gives lists for tuple fields: back to tuples, so configs compare equal."""
    for f in fields(config):
        value = getattr(config, f.name)
        if is_dataclass(value):
            _with_tuples(value)
        elif isinstance(value, list):
            setattr(config, f.name, tuple(value))
    return config


def preset(name: str, overrides: dict[str, Any] | list[str] | None = None) -> OutpaintConfig:
    """The named preset (`PRESETS`), then `overrides`."""
    if name not in PRESETS:
        raise ConfigError(f"preset must be one of {', '.join(PRESETS)}, got {name!r}")
    config = with_overrides(OutpaintConfig(), PRESETS[name])
    return with_overrides(config, overrides) if overrides else config


def nested(overrides: dict[str, Any]) -> dict:
    """{"a.b": 1} -> {"a": {"b": 1}}."""
    tree: dict = {}
    for key, value in overrides.items():
        *parents, last = key.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return tree


def register_configs(app_schemas: dict[str, type] | None = None) -> None:
    """Store in Hydra's ConfigStore: the pipeline schema (`outpaint_pipeline`), the presets as
    the config group `preset` (global package: `preset=raw` on any command line) and the
    entry points' own schemas (`app_schemas`: name -> dataclass extending OutpaintConfig)."""
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    store.store(name="outpaint_pipeline", node=OutpaintConfig)
    for name, overrides in PRESETS.items():
        store.store(group="preset", name=name, node=nested(overrides), package="_global_")
    for name, schema in (app_schemas or {}).items():
        store.store(name=name, node=schema)
