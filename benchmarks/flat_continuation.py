"""Can the generator continue a sky of one colour? Flat inputs grown sideways and upwards.

The simplest sky there is: an input of one colour. A generator that continues skies must grow it
in that colour without blotches; any tint or step it draws here is drawn on real photos too (the
box round the input, a greyer or bluer far field). Each variant outpaints 8 flat sky colours x
`--seeds` draws in the right protocol (the left half of 224x224 known) and the top protocol (the
lower half known), with the raw preset (the networks' own picture: no stage that moves colour
towards the input) and, unless `--raw-only`, with the defaults. Reported per variant: the mean
and largest colour error of the generated area (|mean RGB - the input's|, 0-255 levels, averaged
over the channels), its pixel std (blotches and grain; the input's is 0) and seconds per image.
First it prints the MaskGIT's probability of a flat input's own code next to the known half of a
window and in its far column (one pass), and the tokenizer's round-trip error of the colours;
`--probe-only` stops there.

    .venv/bin/python benchmarks/flat_continuation.py [--weights FOLDER] [--seeds 3] [--raw-only]
        [--probe-only] [--variant 'sampling.temperature=1;sampling.decode_steps=12' ...]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from skysynth.eval.common import markdown_table  # noqa: E402
from skysynth.outpaint.config import ConfigError, OutpaintConfig, preset  # noqa: E402
from skysynth.outpaint.pipeline import Outpainter  # noqa: E402

# Clear blue, pale blue, hazy blue, overcast greys from light to dark, a dusk tone.
COLOURS = (
    (60, 120, 210),
    (110, 140, 200),
    (150, 175, 215),
    (150, 155, 170),
    (200, 200, 205),
    (120, 120, 125),
    (90, 95, 110),
    (170, 140, 130),
)
SIZE = 224
PROTOCOLS = {"right": (0, 0, SIZE // 2, 0), "top": (0, SIZE // 2, 0, 0)}  # pad (left, top, right, bottom)


def flat_input(colour, protocol: str) -> Image.Image:
    left, top, right, bottom = PROTOCOLS[protocol]
    return Image.fromarray(np.full((SIZE - top - bottom, SIZE - left - right, 3), colour, np.uint8))


def generated_area(image: Image.Image, protocol: str) -> np.ndarray:
    pixels = np.asarray(image).astype(np.float64)
    half = SIZE // 2
    return pixels[:, half:] if protocol == "right" else pixels[:half]


def measure(op: Outpainter, config: OutpaintConfig, seeds: int) -> dict:
    errors, stds, seconds, count = [], [], 0.0, 0
    for protocol, pad in PROTOCOLS.items():
        for c, colour in enumerate(COLOURS):
            known = flat_input(colour, protocol)
            for seed in range(seeds):
                start = time.perf_counter()
                generator = torch.Generator().manual_seed(1000 * c + seed)
                image = op(known, pad=pad, generator=generator, config=config).image
                seconds += time.perf_counter() - start
                count += 1
                area = generated_area(image, protocol)
                errors.append(float(np.abs(area.mean((0, 1)) - np.array(colour)).mean()))
                stds.append(float(area.std((0, 1)).mean()))
    return {
        "error": float(np.mean(errors)),
        "error_max": float(np.max(errors)),
        "std": float(np.mean(stds)),
        "seconds": seconds / count,
    }


@torch.no_grad()
def code_probability(op: Outpainter, colour) -> tuple[float, float, float]:
    """The MaskGIT's probability of a flat input's own code in a window whose right half is
    hidden (one pass, unconditional): mean over the first hidden column and over the last; and
    the tokenizer's round-trip colour error of the flat colour (0-255 levels)."""
    side = op.maskgit.config.tokens_per_side
    p = op.tokenizer.config.downsample_factor
    pixels = torch.tensor(colour, dtype=torch.float32).div(255)[None, :, None, None]
    codes = op.tokenizer.encode(pixels.expand(1, 3, side * p, side * p).contiguous())[0]
    code = int(torch.mode(codes.flatten()).values)
    round_trip = op.tokenizer.decode(codes[None]).clamp(0, 1).mean((0, 2, 3)) * 255
    round_trip_error = float((round_trip - torch.tensor(colour, dtype=torch.float32)).abs().mean())
    window = torch.full((1, side, side), code)
    window[:, :, side // 2 :] = op.maskgit.config.mask_token_id
    context = None
    if op.maskgit.config.context_codes:  # the input's code shares: all of them its own code
        context = torch.nn.functional.one_hot(torch.tensor([code]), op.maskgit.config.codebook_size).float()
    logits = op.maskgit(window, None, context)  # a conditional MaskGIT reads no label as "none"
    probability = logits.float().softmax(-1)[0, :, side // 2 :, code]
    return float(probability[:, 0].mean()), float(probability[:, -1].mean()), round_trip_error


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--weights", default=None, help="a folder of weights as skysynth.eval takes (default: bundled)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--variant", action="append", default=[], help="'name=value;name=value' pipeline settings")
    parser.add_argument("--raw-only", action="store_true", help="skip the defaults rows")
    parser.add_argument("--probe-only", action="store_true", help="only the MaskGIT's probability of the input's code")
    args = parser.parse_args(argv)
    if args.seeds < 1:
        parser.error("--seeds must be at least 1")
    if args.weights is not None and not Path(args.weights).is_dir():
        parser.error(f"--weights: {args.weights} is not a folder")
    presets = {"raw": "raw"} if args.raw_only else {"raw": "raw", "defaults": "default"}  # row label: preset
    rows_config = []
    for text in ["", *args.variant]:
        for label, preset_name in presets.items():
            try:
                config = preset(preset_name, [t for t in text.split(";") if t])
            except ConfigError as error:
                parser.error(f"--variant: {error}")
            rows_config.append((text or "defaults", label, config))
    op = Outpainter.from_pretrained(args.weights)
    near, far, round_trip = zip(*(code_probability(op, colour) for colour in COLOURS))
    print(
        "The MaskGIT's probability of a flat input's own code, window half hidden, one pass: "
        f"next to the known half {min(near):.2f}-{max(near):.2f} (mean {np.mean(near):.2f}), "
        f"in the far column {min(far):.2f}-{max(far):.2f} (mean {np.mean(far):.2f}); "
        f"the tokenizer's round trip of the colours {np.mean(round_trip):.1f} levels off"
        f" (largest {max(round_trip):.1f})",
        flush=True,
    )
    if args.probe_only:
        return
    rows = []
    for name, preset_name, config in rows_config:
        figures = measure(op, config, args.seeds)
        rows.append(
            [
                name,
                preset_name,
                f"{figures['error']:.1f}",
                f"{figures['error_max']:.1f}",
                f"{figures['std']:.1f}",
                f"{figures['seconds']:.2f}",
            ]
        )
        print(f"{name} ({preset_name}): {figures}", flush=True)
    header = ["sampling", "preset", "colour error", "largest", "generated std", "s/image"]
    print(f"\n{len(COLOURS)} flat colours x {args.seeds} draws x right and top, 224x224\n")
    print(markdown_table(header, rows))


if __name__ == "__main__":
    main()
