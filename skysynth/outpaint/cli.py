"""Command lines over `Outpainter`: a Hydra app and a plain console command.

python -m skysynth.outpaint input=sky.jpg output=big.png size=[1024,512]
skysynth-outpaint sky.jpg big.png --size 1024 512 --seed 3
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from PIL import Image

from skysynth.common.images import ImageInputError, is_image, open_image

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


def _check_values(**values) -> None:
    """Types and ranges of the numeric options, before any work (Hydra passes what it parsed)."""
    rules = {
        "samples": (int, 1),
        "seed": (int, None),
        "decode_steps": (int, 1),
        "upscale_steps": (int, 1),
        "upscale_draws": (int, 1),
        "temperature": (float, 0.0),
        "sampling_temperature": (float, 0.0),
    }
    for name, value in values.items():
        kind, low = rules[name]
        if value is None and name == "sampling_temperature":
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
            raise UserError(f"{name} must be {'a number' if kind is float else 'a whole number'}, got {value!r}")
        if low is not None and (value < low or (name == "sampling_temperature" and value == 0)):
            bound = "above 0" if name == "sampling_temperature" else f"at least {low:g}"
            raise UserError(f"{name} must be {bound}, got {value!r}")


def _variant_paths(path: Path, samples: int) -> list[Path]:
    if samples == 1:
        return [path]
    return [path.with_name(f"{path.stem}_{i}{path.suffix}") for i in range(samples)]


def run(
    input_path,
    output_path,
    size=None,
    grow=None,
    pad=None,
    samples=1,
    seed=0,
    temperature=4.0,
    sampling_temperature=None,
    decode_steps=12,
    upscale_steps=1,
    upscale_draws=1,
    upscale=True,
    match_input=True,
    order="confidence",
    device="cpu",
    weights=None,
    progress=True,
    mode="outpaint",
    width=None,
    height=None,
) -> list[Path]:
    """Outpaint one image or a folder; returns the written paths.

    `mode`: "outpaint" (size/grow/pad), "panorama" (a 360-degree strip `width` wide, `height`
    high) or "tile" (a texture seamless both ways, `size` = [W, H])."""
    if mode not in ("outpaint", "panorama", "tile"):
        raise UserError(f"mode must be outpaint, panorama or tile, got {mode!r}")
    if mode == "panorama" and (size is not None or grow is not None or pad is not None):
        raise UserError("mode=panorama takes width= (and height=), not size/grow/pad")
    if mode == "tile" and (grow is not None or pad is not None):
        raise UserError("mode=tile takes size=[W,H], not grow/pad")
    from skysynth.outpaint.pipeline import Outpainter, OutpaintSettings

    _check_values(
        samples=samples,
        seed=seed,
        decode_steps=decode_steps,
        upscale_steps=upscale_steps,
        upscale_draws=upscale_draws,
        temperature=temperature,
        sampling_temperature=sampling_temperature,
    )
    for flag, value in (("upscale", upscale), ("match_input", match_input)):
        if not isinstance(value, bool):
            raise UserError(f"{flag} must be true or false, got {value!r}")
    if order not in ("confidence", "halton"):
        raise UserError(f"order must be confidence or halton, got {order!r}")
    if not isinstance(device, str) or device.split(":")[0] not in ("cpu", "cuda"):
        raise UserError(f"device must be cpu or cuda (cuda:N), got {device!r}")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA GPU is available")
    jobs = jobs_for(Path(input_path), Path(output_path), samples)
    for _, targets in jobs:
        for target in targets:
            check_output(target)
    settings = OutpaintSettings(
        decode_steps=decode_steps,
        temperature=temperature,
        upscale_steps=upscale_steps,
        upscale_draws=upscale_draws,
        order=order,
    )
    if not match_input:  # the generator's own colours and detail, as decoded and upscaled
        settings.colour_transfer, settings.detail_gain_max = False, 1.0
        settings.trend_saturation, settings.detail_transfer = 0.0, False
        settings.grain_strength, settings.band_match = 0.0, False
    if sampling_temperature is not None:
        settings.sampling_temperature = float(sampling_temperature)
    try:
        outpainter = Outpainter.from_pretrained(weights, settings=settings, device=device)
    except FileNotFoundError as error:
        raise UserError(f"missing weights: {error}") from None
    written, failed = [], []
    for source, targets in jobs:
        try:
            image = read_image(source)
            generator = torch.Generator(device=device).manual_seed(seed)
            common = {"samples": samples, "generator": generator, "upscale": upscale, "progress": progress}
            try:
                if mode == "panorama":
                    result = outpainter.panorama(image, width=width, height=height, **common)
                elif mode == "tile":
                    result = outpainter.tile(image, size=tuple(size) if size else None, **common)
                else:
                    result = outpainter(image, size=size, grow=grow, pad=pad, **common)
            except ValueError as error:
                raise UserError(f"{source.name}: {error}") from None
        except UserError as error:
            if len(jobs) == 1:
                raise
            failed.append(f"{source}: {error}")  # a folder batch goes on past a bad image
            continue
        for target, picture in zip(targets, result if samples > 1 else [result]):
            save_atomic(picture, target)
            written.append(target)
    if failed:
        raise BatchError(written, failed)
    return written


def _guard(call):
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
    """`skysynth-outpaint IN OUT [--size W H | --grow F | --pad L T R B] ...`"""
    parser = argparse.ArgumentParser(prog="skysynth-outpaint", description="Extend a sky photo beyond its borders.")
    parser.add_argument("input", type=Path)
    parser.add_argument("output", type=Path)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--size", type=int, nargs=2, metavar=("W", "H"))
    group.add_argument("--grow", type=float)
    group.add_argument("--pad", type=int, nargs=4, metavar=("L", "T", "R", "B"))
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--temperature", type=float, default=4.0)
    parser.add_argument("--sampling-temperature", type=float, default=None)
    parser.add_argument("--decode-steps", type=int, default=12)
    parser.add_argument("--upscale-steps", type=int, default=1)
    parser.add_argument("--upscale-draws", type=int, default=1, help="mean of this many upscaler draws")
    parser.add_argument("--no-upscale", action="store_true")
    parser.add_argument(
        "--no-match-input", action="store_true", help="keep the generated colours and fine detail as generated"
    )
    parser.add_argument("--order", choices=["confidence", "halton"], default="confidence")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--weights", default=None, help="folder with tokenizer/, maskgit/, upscaler/")
    parser.add_argument("--mode", choices=["outpaint", "panorama", "tile"], default="outpaint")
    parser.add_argument("--width", type=int, help="panorama: full circle in pixels")
    parser.add_argument("--height", type=int, help="panorama: band height")
    args = parser.parse_args(argv)
    _guard(
        lambda: run(
            args.input,
            args.output,
            size=args.size,
            grow=args.grow,
            pad=args.pad,
            samples=args.samples,
            seed=args.seed,
            temperature=args.temperature,
            sampling_temperature=args.sampling_temperature,
            decode_steps=args.decode_steps,
            upscale_steps=args.upscale_steps,
            upscale_draws=args.upscale_draws,
            upscale=not args.no_upscale,
            match_input=not args.no_match_input,
            mode=args.mode,
            width=args.width,
            height=args.height,
            order=args.order,
            device=args.device,
            weights=args.weights,
        )
    )
