"""A bounded decode fuzzer: mutated PNG / JPEG / WebP bytes give an image or one clear error.

`SKYSYNTH_FUZZ_CASES=5000 pytest tests/test_fuzz_images.py` runs more than the suite's default."""

from __future__ import annotations

import io
import os
import random

import pytest
from PIL import Image

from skysynth.common.images import ImageInputError, open_image
from tests.conftest import sky_image

CASES = int(os.environ.get("SKYSYNTH_FUZZ_CASES", "300"))


def _seed_files() -> dict[str, bytes]:
    picture = sky_image(40, 32, seed=3)
    files = {}
    for fmt, options in (("PNG", {}), ("JPEG", {"quality": 90}), ("WEBP", {"quality": 80})):
        buffer = io.BytesIO()
        picture.save(buffer, format=fmt, **options)
        files[fmt] = buffer.getvalue()
    return files


def _mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not data:
            break
        kind = rng.random()
        position = rng.randrange(len(data))
        if kind < 0.5:
            data[position] = rng.randrange(256)  # a flipped byte
        elif kind < 0.7:
            del data[position : position + rng.randint(1, 64)]  # a lost run
        elif kind < 0.85:
            data[position:position] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        else:
            data = data[: max(1, position)]  # truncated
    return bytes(data)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP"])
def test_mutated_images_decode_or_fail_in_one_line(fmt):
    rng = random.Random(f"skysynth-fuzz-{fmt}")
    original = _seed_files()[fmt]
    decoded = refused = 0
    for _ in range(CASES // 3):
        try:
            image = open_image(_mutate(original, rng), max_pixels=4_000_000)
        except ImageInputError as error:
            message = str(error)
            assert message and "\n" not in message and len(message) < 300, message
            refused += 1
            continue
        assert image.mode == "RGB" and image.width * image.height <= 4_000_000
        decoded += 1
    assert decoded + refused == CASES // 3 and refused > 0
    Image.open(io.BytesIO(original)).verify()  # the seed itself is sound
