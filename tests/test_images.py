"""Reading user images: every common mode comes out as the 8-bit RGB a person expects."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from skysynth.common.images import ImageInputError, open_image, to_rgb


def _sky(width: int = 48, height: int = 32) -> np.ndarray:
    """A blue-to-white vertical gradient, uint8 (H, W, 3)."""
    t = np.linspace(0, 1, height)[:, None, None]
    pixels = (1 - t) * np.array([70, 130, 210]) + t * np.array([235, 240, 250])
    return np.broadcast_to(pixels, (height, width, 3)).round().astype(np.uint8)


def _saved(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _grey(pixels: np.ndarray) -> np.ndarray:
    return pixels.astype(np.float64) @ np.array([0.299, 0.587, 0.114])


@pytest.mark.parametrize("bits", [16, 32])
def test_high_bit_depth_greyscale_is_scaled_not_clipped_to_white(bits):
    grey8 = _grey(_sky()).round()
    if bits == 16:  # mode I;16 from a 16-bit PNG, the full 16-bit range
        rgb = np.asarray(open_image(_saved(Image.fromarray((grey8 * 257).astype(np.uint16)), "PNG")))
    else:  # mode I (32-bit integers holding 16-bit values), as some TIFF and PNG decoders give
        rgb = np.asarray(to_rgb(Image.fromarray((grey8 * 257).astype(np.int32), "I")))
    assert rgb.shape == (32, 48, 3)
    assert np.abs(rgb[..., 0].astype(float) - grey8).max() <= 1  # not 255 everywhere
    float_image = Image.fromarray((grey8 / 255).astype(np.float32), "F")
    assert np.abs(np.asarray(to_rgb(float_image))[..., 1].astype(float) - grey8).max() <= 1


def test_sixteen_bit_rgb_png_keeps_its_colours():
    cv2 = pytest.importorskip("cv2")
    sky = _sky()
    ok, encoded = cv2.imencode(".png", (sky[..., ::-1].astype(np.uint16) * 257))
    assert ok
    rgb = np.asarray(open_image(encoded.tobytes()))
    assert np.abs(rgb.astype(int) - sky).max() <= 1


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "LA", "CMYK", "1"])
def test_other_modes_come_back_as_rgb_of_the_same_picture(mode):
    sky = Image.fromarray(_sky())
    image = sky.convert(mode)
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    rgb = open_image(_saved(image, fmt))
    assert rgb.mode == "RGB" and rgb.size == sky.size
    expected = np.asarray(image.convert("RGB"), dtype=float)
    assert np.abs(np.asarray(rgb, dtype=float) - expected).mean() < 8


def test_exif_rotated_photo_is_turned_upright():
    sky = Image.fromarray(_sky(48, 32))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    rgb = open_image(_saved(sky, "JPEG", exif=exif.tobytes()))
    assert rgb.size == (32, 48)
    # The sky's top (blue) is now on the right-hand side.
    pixels = np.asarray(rgb, dtype=float)
    assert pixels[:, -4:, 2].mean() - pixels[:, -4:, 0].mean() > pixels[:, :4, 2].mean() - pixels[:, :4, 0].mean()


def test_pixel_limit_is_checked_before_decoding_and_bombs_are_one_line(monkeypatch):
    data = _saved(Image.fromarray(_sky(100, 100)), "PNG")
    with pytest.raises(ImageInputError, match="limit is"):
        open_image(data, max_pixels=5000)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2000)
    with pytest.raises(ImageInputError, match="too large to decode safely"):
        open_image(data)


def test_truncated_and_junk_files_are_one_line():
    data = _saved(Image.fromarray(_sky(64, 64)), "JPEG")
    for broken in (data[: len(data) // 2], b"not an image at all", b""):
        with pytest.raises(ImageInputError, match="cannot read"):
            open_image(broken)
