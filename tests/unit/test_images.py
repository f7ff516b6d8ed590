"""Image decoding of what sellers really upload, and refusal of what is not a usable image."""

from __future__ import annotations

import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pictures import encoded, product_photo
from soko.embedding import decode_image, read_image_file
from soko.embedding.images import EMBED_SIDE
from soko.errors import InvalidImage

LIMIT = 40_000_000


def mean_rgb(image: Image.Image, box: tuple[int, int, int, int]) -> list[float]:
    return [float(v) for v in np.asarray(image.crop(box), dtype=np.float64).reshape(-1, 3).mean(0)]


def png_header_only(width: int, height: int) -> bytes:
    """A valid PNG signature and IHDR claiming a huge size, followed by a little data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_exif_orientation_is_applied() -> None:
    # Stored landscape, left half red and right half blue, tagged "rotate 90° clockwise".
    stored = Image.new("RGB", (80, 40), (220, 20, 20))
    stored.paste((20, 20, 220), (40, 0, 80, 40))
    exif = stored.getexif()
    exif[0x0112] = 6
    image = decode_image(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()), max_pixels=LIMIT)
    assert image.size == (40, 80)  # shown portrait, as the phone displayed it
    top, bottom = mean_rgb(image, (0, 0, 40, 35)), mean_rgb(image, (0, 45, 40, 80))
    assert top[0] > 180 > top[2]  # the stored left (red) is now on top
    assert bottom[2] > 180 > bottom[0]


def test_large_jpegs_decode_at_a_reduced_scale_that_keeps_what_embedders_need() -> None:
    # Portrait phone photo, EXIF-rotated: 1536x2048 as shown. Decoded at 1/4 (both sides
    # still >= EMBED_SIDE, 1/8 would not be), upright, and the same picture as a full decode.
    stored = product_photo("checked bag", seed=3).resize((2048, 1536))
    exif = stored.getexif()
    exif[0x0112] = 6
    data = encoded(stored, "JPEG", quality=90, exif=exif.tobytes())
    reduced = decode_image(data, max_pixels=LIMIT)
    full = decode_image(data, max_pixels=LIMIT, min_side=None)
    assert full.size == (1536, 2048)
    assert reduced.size == (384, 512)
    assert min(reduced.size) >= EMBED_SIDE
    same_scale = np.asarray(full.resize(reduced.size, Image.Resampling.BOX), dtype=np.float64)
    assert np.abs(np.asarray(reduced, dtype=np.float64) - same_scale).mean() < 4.0
    # PNGs have no reduced decode; small JPEGs are left alone.
    assert decode_image(encoded(stored, "PNG"), max_pixels=LIMIT).size == (2048, 1536)
    small = stored.resize((400, 300))
    assert decode_image(encoded(small, "JPEG"), max_pixels=LIMIT).size == (400, 300)


def test_palette_with_transparency_becomes_rgb_on_white() -> None:
    palette = Image.new("P", (20, 20), 0)
    palette.putpalette([0, 0, 0, 200, 30, 30] + [0] * 762)
    palette.paste(1, (0, 0, 10, 20))
    image = decode_image(encoded(palette, "PNG", transparency=0), max_pixels=LIMIT)
    assert image.mode == "RGB"
    assert image.getpixel((2, 5)) == (200, 30, 30)
    assert image.getpixel((15, 5)) == (255, 255, 255)  # transparent, not black


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(mode: str) -> None:
    source = Image.new("RGBA", (20, 20), (0, 0, 0, 0))
    source.paste((10, 10, 10, 255), (0, 0, 10, 20))
    image = decode_image(encoded(source.convert(mode), "PNG"), max_pixels=LIMIT)
    assert image.mode == "RGB"
    assert image.getpixel((15, 10)) == (255, 255, 255)
    assert max(mean_rgb(image, (0, 0, 10, 20))) < 20


def test_cmyk_jpeg_becomes_the_right_rgb() -> None:
    cyan = Image.new("CMYK", (16, 16), (255, 0, 0, 0))
    image = decode_image(encoded(cyan, "JPEG", quality=95), max_pixels=LIMIT)
    assert image.mode == "RGB"
    r, g, b = mean_rgb(image, (0, 0, 16, 16))
    assert r < 40
    assert min(g, b) > 200


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    samples = np.full((8, 8), 65535, dtype=np.uint16)
    samples[:, :4] = 32768
    deep = Image.fromarray(samples)
    assert deep.mode == "I;16"
    image = decode_image(encoded(deep, "PNG"), max_pixels=LIMIT)
    assert image.mode == "RGB"
    assert image.getpixel((6, 4)) == (255, 255, 255)
    assert image.getpixel((1, 4)) in {(127, 127, 127), (128, 128, 128)}


def test_one_bit_and_greyscale_become_rgb() -> None:
    for mode in ("1", "L"):
        image = decode_image(encoded(Image.new(mode, (8, 8), 1), "PNG"), max_pixels=LIMIT)
        assert image.mode == "RGB"
        assert image.size == (8, 8)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (10, 10), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    image = decode_image(data, max_pixels=LIMIT)
    red, _, blue = np.asarray(image)[5, 5]
    assert red > 200
    assert blue < 50


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_common_formats_decode_to_rgb(fmt: str) -> None:
    photo = product_photo("green bottle")
    image = decode_image(encoded(photo, fmt), max_pixels=LIMIT)
    assert (image.mode, image.size) == ("RGB", photo.size)


def test_too_many_pixels_is_refused_from_the_header_before_decoding() -> None:
    # 6000x5000 RGB would need 90 MB decoded; the data is 1 kB and would not even decode.
    data = png_header_only(6000, 5000)
    started = time.perf_counter()
    with pytest.raises(InvalidImage, match=r"6000x5000 = 30000000 pixels, over the 1000000"):
        decode_image(data, max_pixels=1_000_000)
    assert time.perf_counter() - started < 1.0


def test_pillow_sized_bombs_are_refused_too() -> None:
    with pytest.raises(InvalidImage, match="too many pixels"):
        decode_image(png_header_only(30_000, 30_000), max_pixels=LIMIT)


def test_truncated_image_is_refused() -> None:
    data = encoded(product_photo("bananas"), "JPEG", quality=90)
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(data[: len(data) // 2], max_pixels=LIMIT)
    png = encoded(product_photo("bananas"), "PNG")
    with pytest.raises(InvalidImage, match="truncated or corrupt"):
        decode_image(png[: len(png) // 2], max_pixels=LIMIT)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello, I am not a photo",
        b"<html><body>404 Not Found</body></html>",
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n",  # EPS would run Ghostscript
        b"\xff\xd8\xff",  # a JPEG start marker and nothing else
    ],
)
def test_non_images_are_refused_with_a_clear_error(data: bytes) -> None:
    with pytest.raises(InvalidImage, match=r"not an image|not a readable image|empty"):
        decode_image(data, max_pixels=LIMIT)


def test_read_image_file_checks_size_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(encoded(product_photo("red mug"), "PNG"))
    with pytest.raises(InvalidImage, match="over the 100-byte limit"):
        read_image_file(path, max_bytes=100, max_pixels=LIMIT)
    assert read_image_file(path, max_bytes=10**7, max_pixels=LIMIT).mode == "RGB"
    with pytest.raises(InvalidImage, match="cannot read"):
        read_image_file(tmp_path / "absent.jpg", max_bytes=10**7, max_pixels=LIMIT)
    (tmp_path / "notes.txt").write_text("not an image")
    with pytest.raises(InvalidImage, match=r"notes\.txt: not an image"):
        read_image_file(tmp_path / "notes.txt", max_bytes=10**7, max_pixels=LIMIT)
