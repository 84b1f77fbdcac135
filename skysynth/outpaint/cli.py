"""Command lines over `Outpainter`: a Hydra app and a plain console command.

python -m skysynth.outpaint input=sky.jpg output=big.png size=[1024,512] sampling.temperature=3
skysynth-outpaint sky.jpg big.png --size 1024 512 --seed 3 --set sampling.temperature=3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from omegaconf import MISSING, OmegaConf
from PIL import Image

from skysynth.common.images import ImageInputError, is_image, open_image
from skysynth.common.startup import work_starts
from skysynth.common.threads import parse_threads, use_threads
from skysynth.outpaint.cloud_type import CloudTypeError, check_cloud_type
from skysynth.outpaint.config import PRESETS, ConfigError, OutpaintConfig, preset, to_config

OUTPUT_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


class UserError(Exception):
    """Bad input: printed as one line, exit status 2."""


class BatchError(UserError):
    """Some images of a folder failed; the others were written."""

    def __init__(self, written: list[Path], failed: list[str]):
        super().__init__(f"{len(failed)} of {len(written) + len(failed)} images failed")
        self.written, self.failed = written, failed


def read_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise UserError(f"input not found: {path}")
    try:
        return open_image(path)
    except ImageInputError as error:
        raise UserError(str(error)) from None


def check_output(path: Path) -> None:
    """Refuse, before any work, an output that could not be written: its extension, or a folder
    that cannot be made or written to."""
    if path.suffix.lower() not in OUTPUT_FORMATS:
        raise UserError(f"output must end in {', '.join(OUTPUT_FORMATS)}: {path}")
    folder = path.parent.resolve()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UserError(f"cannot write {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"cannot write {path}: {existing} is not writable")


def _file_mode() -> int:
    """0o666 less the process's umask: what an ordinary open() would give (mkstemp gives 0o600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def save_atomic(image: Image.Image, path: Path) -> None:
    """Write to a temporary file beside `path`, then rename: never a half-written output."""
    check_output(path)
    fmt = OUTPUT_FORMATS[path.suffix.lower()]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    try:
        image.save(tmp, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def jobs_for(input_path: Path, output_path: Path, samples: int) -> list[tuple[Path, list[Path]]]:
    """(input, outputs) pairs; a folder input maps to a folder output with one file per image."""
    if input_path.is_dir():
        images = sorted(p for p in input_path.iterdir() if p.is_file() and is_image(p))
        if not images:
            raise UserError(f"no images in folder {input_path}")
        if output_path.suffix:
            raise UserError("when the input is a folder, the output must be a folder too")
        return [(p, _variant_paths(output_path / f"{p.stem}_outpainted.png", samples)) for p in images]
    return [(input_path, _variant_paths(output_path, samples))]


MODES = ("outpaint", "panorama", "tile")


@dataclass
class JobOptions:
    """What to outpaint and where: the options of a command line that are not pipeline settings."""

    mode: str = "outpaint"  # outpaint | panorama (360-degree strip) | tile (seamless both ways)
    size: list[int] | None = None  # [W, H], input centred
    grow: float | None = None  # factor per side length, input centred (2.0 when nothing is given)
    pad: list[int] | None = None  # [left, top, right, bottom] pixels
    width: int | None = None  # panorama: full circle in pixels (default 4x the input's width)
    height: int | None = None  # panorama: band height (default the input's)
    samples: int = 1
    seed: int = 0
    device: str = "cpu"  # cpu | cuda | cuda:N
    weights: str | None = None  # folder with tokenizer/, maskgit/, upscaler/; null = bundled
    progress: bool = True
    threads: str = "auto"  # CPU threads: auto = one per core that is free when an image starts, or a number
    profile: bool = False  # print each image's seconds per stage

    def __post_init__(self):
        if self.mode not in MODES:
            raise UserError(f"mode must be outpaint, panorama or tile, got {self.mode!r}")
        if self.mode == "panorama" and (self.size is not None or self.grow is not None or self.pad is not None):
            raise UserError("mode=panorama takes width= (and height=), not size/grow/pad")
        if self.mode == "tile" and (self.grow is not None or self.pad is not None):
            raise UserError("mode=tile takes size=[W,H], not grow/pad")
        if self.samples < 1:
            raise UserError(f"samples must be at least 1, got {self.samples!r}")
        if not isinstance(self.device, str) or self.device.split(":")[0] not in ("cpu", "cuda"):
            raise UserError(f"device must be cpu or cuda (cuda:N), got {self.device!r}")
        if self.device.startswith("cuda") and not torch.cuda.is_available():
            raise UserError("device=cuda but no CUDA GPU is available")
        try:
            parse_threads(self.threads)
        except ValueError as error:
            raise UserError(str(error)) from None


@dataclass
class OutpaintApp(JobOptions, OutpaintConfig):
    """`python -m skysynth.outpaint`: the job, and every pipeline setting by its dotted name."""

    input: str = MISSING
    output: str = MISSING


def _variant_paths(path: Path, samples: int) -> list[Path]:
    if samples == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(samples)]


def run(input_path, output_path, job: JobOptions | None = None, config: OutpaintConfig | None = None) -> list[Path]:
    """Outpaint one image or a folder with pipeline `config`; returns the written paths."""
    from skysynth.outpaint.pipeline import Outpainter

    job = job or JobOptions()
    jobs = jobs_for(Path(input_path), Path(output_path), job.samples)
    for _, targets in jobs:
        for target in targets:
            check_output(target)
    try:
        outpainter = Outpainter.from_pretrained(job.weights, config=config, device=job.device)
    except FileNotFoundError as error:
        raise UserError(f"missing weights: {error}") from None
    try:
        check_cloud_type(outpainter.config.sampling.cloud_type, outpainter.cloud_types)
    except CloudTypeError as error:
        raise UserError(str(error)) from None
    written, failed = [], []
    for source, targets in jobs:
        try:
            image = read_image(source)
            threads = use_threads(job.threads)  # judged per image: the machine's load changes
            generator = torch.Generator(device=job.device).manual_seed(job.seed)
            call = {"samples": job.samples, "generator": generator, "progress": job.progress}
            try:
                if job.mode == "panorama":
                    result = outpainter.panorama(image, width=job.width, height=job.height, **call)
                elif job.mode == "tile":
                    result = outpainter.tile(image, size=tuple(job.size) if job.size else None, **call)
                else:
                    result = outpainter(image, size=job.size, grow=job.grow, pad=job.pad, **call)
            except ValueError as error:
                raise UserError(f"{source.name}: {error}") from None
        except UserError as error:
            if len(jobs) == 1:
                raise
            failed.append(f"{source}: {error}")  # a folder batch goes on past a bad image
            continue
        if job.profile:
            print(profile_line(source, result.timings, threads), file=sys.stderr)
        for target, picture in zip(targets, result.images):
            save_atomic(picture, target)
            written.append(target)
    if failed:
        raise BatchError(written, failed)
    return written


def profile_line(source: Path, timings: dict[str, float], threads: int) -> str:
    """'profile sky.jpg: 3.21 s on 2 threads = grow tokens 2.90 (90%), ...'"""
    total = sum(timings.values())
    split = ", ".join(f"{stage} {seconds:.2f} ({seconds / max(total, 1e-9):.0%})" for stage, seconds in timings.items())
    return f"profile {source.name}: {total:.2f} s on {threads} thread{'s' if threads > 1 else ''} = {split}"


def run_app(cfg) -> list[Path]:
    """Run a composed `OutpaintApp` config (Hydra's DictConfig)."""
    try:
        app = OmegaConf.to_object(cfg)
        config = to_config(cfg)
    except ConfigError as error:
        raise UserError(str(error)) from None
    except ValueError as error:
        raise UserError(str(error).splitlines()[0]) from None
    job = JobOptions(**{f.name: getattr(app, f.name) for f in fields(JobOptions)})
    return run(app.input, app.output, job, config)


def _guard(call):
    work_starts()
    try:
        for path in call():
            print(path)
    except BatchError as error:
        for path in error.written:
            print(path)
        for line in error.failed:
            print(f"failed: {line}", file=sys.stderr)
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: outputs written so far are complete; nothing half-written was left", file=sys.stderr)
        sys.exit(130)


def console_main(argv=None) -> None:
    """`skysynth-outpaint IN OUT [--size W H | --grow F | --pad L T R B] [--preset raw] [--set NAME=VALUE ...]`"""
    parser = argparse.ArgumentParser(prog="skysynth-outpaint", description="Extend a sky photo beyond its borders.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--size", type=int, nargs=2, metavar=("W", "H"))
    group.add_argument("--grow", type=float)
    group.add_argument("--pad", type=int, nargs=4, metavar=("L", "T", "R", "B"))
    parser.add_argument("--samples", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--width", type=int, help="panorama: full circle in pixels")
    parser.add_argument("--height", type=int, help="panorama: band height")
    parser.add_argument("--device")
    parser.add_argument("--threads", help="CPU threads: auto (one per free core, the default) or a number")
    parser.add_argument("--profile", action="store_true", default=None, help="print each image's seconds per stage")
    parser.add_argument("--weights", help="folder with tokenizer/, maskgit/, upscaler/")
    parser.add_argument("--preset", default="default", choices=sorted(PRESETS), help="raw: the generator's own picture")
    parser.add_argument(
        "--cloud-type", metavar="TYPE", help="the sky to grow (auto: the input's own; none: unconditional)"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="any pipeline setting by its dotted name, e.g. sampling.temperature=3 "
        "(all of them: python -m skysynth.outpaint --cfg job)",
    )
    args = parser.parse_args(argv)
    pipeline = ("input", "output", "preset", "set", "cloud_type")
    given = {k: v for k, v in vars(args).items() if k not in pipeline and v is not None}
    overrides = [*args.set, *([f"sampling.cloud_type={args.cloud_type}"] if args.cloud_type else [])]

    def call():
        try:
            config = preset(args.preset, overrides)
        except ConfigError as error:
            raise UserError(str(error)) from None
        return run(args.input, args.output, JobOptions(**given), config)

    _guard(call)
