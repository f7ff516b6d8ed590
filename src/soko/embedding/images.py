"""Turning untrusted image bytes into an upright RGB `PIL.Image`, or a clear `InvalidImage`.

Sellers upload whatever their phone or their designer produced: rotated JPEGs that rely on
EXIF orientation, palette PNGs with transparency, CMYK JPEGs from print workflows, 16-bit
PNGs, animated GIFs. Everything becomes upright 8-bit RGB on white. Decompression bombs are
refused from the header's size, before a single pixel is decoded.
"""

from __future__ import annotations

import io
import logging
import os
import stat
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from soko.errors import ImageTooLarge, InvalidImage

log = logging.getLogger(__name__)

#: Formats a marketplace gets from phones and web tools (JPEG includes multi-picture MPO).
#: Everything else (EPS, which runs Ghostscript, PSD, ICNS, ...) is refused without handing
#: the bytes to its decoder.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF")

#: Transparent areas of product cut-outs are shown on white, as shops display them.
BACKGROUND = (255, 255, 255)

#: The shorter side every embedder here needs at most: SigLIP resizes to 224x224,
#: EfficientNet-Lite0 crops the central 224/256 of the shorter side to 224. JPEGs are
#: decoded straight to the smallest 1/2, 1/4 or 1/8 scale that keeps both sides at least
#: this long (libjpeg's DCT scaling): a 1024x768 upload decodes 2.5x faster, its crop and
#: resize 2.7x faster, and the vectors stay within cosine 0.997 of a full-size decode.
EMBED_SIDE = 256


def read_image_bytes(path: Path, *, max_bytes: int) -> bytes:
    """A regular file's bytes, refusing files over `max_bytes` before reading them."""
    try:
        # O_NONBLOCK: opening a FIFO must not hang the caller until someone writes to it.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise InvalidImage("not a regular file")
            if info.st_size > max_bytes:
                raise ImageTooLarge(f"{info.st_size} bytes is over the {max_bytes}-byte limit")
            data = handle.read(max_bytes + 1)
    except OSError as exc:
        raise InvalidImage(f"cannot read ({exc.strerror or exc})") from None
    if len(data) > max_bytes:  # it grew while being read
        raise ImageTooLarge(f"over the {max_bytes}-byte limit")
    return data


def read_image_file(
    path: Path, *, max_bytes: int, max_pixels: int, min_side: int | None = EMBED_SIDE
) -> Image.Image:
    """Read and decode an image file, refusing files over `max_bytes` before reading them."""
    try:
        data = read_image_bytes(path, max_bytes=max_bytes)
        return decode_image(data, max_pixels=max_pixels, min_side=min_side)
    except InvalidImage as exc:
        raise type(exc)(f"{path}: {exc}") from None


def decode_image(data: bytes, *, max_pixels: int, min_side: int | None = EMBED_SIDE) -> Image.Image:
    """Decode bytes into an upright RGB image with at most `max_pixels` pixels.

    A JPEG whose sides are both at least twice `min_side` is decoded at a reduced scale
    (see `EMBED_SIDE`); `min_side=None` decodes every pixel.
    """
    return _decode(data, max_pixels=max_pixels, min_side=min_side)[0]


def image_media_type(data: bytes, *, max_pixels: int) -> str:
    """The MIME type of bytes that `decode_image` decodes (same formats, same pixel limit),
    or `InvalidImage`: what may be served as a picture is what could be uploaded as one."""
    fmt = _decode(data, max_pixels=max_pixels, min_side=EMBED_SIDE)[1]
    return Image.MIME.get("JPEG" if fmt == "MPO" else fmt, "application/octet-stream")


def _decode(data: bytes, *, max_pixels: int, min_side: int | None) -> tuple[Image.Image, str]:
    """The upright RGB image and the format it was decoded from."""
    if not data:
        raise InvalidImage("empty file, not an image")
    try:
        image = Image.open(io.BytesIO(data), formats=_openable_formats())
    except UnidentifiedImageError:
        raise InvalidImage(
            "not an image in a supported format (JPEG, PNG, WebP, GIF, BMP, TIFF, AVIF)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow's own guard fired while reading the header (above ~89 million pixels).
        raise ImageTooLarge(f"image has too many pixels (limit {max_pixels})") from None
    except Exception as exc:
        # Header parsers of the allowed plugins raise many types on hostile bytes
        # (SyntaxError, struct.error, ValueError, ...): all mean "not a usable image".
        raise InvalidImage(f"not a readable image ({exc})") from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise InvalidImage("image has no pixels")
    if width * height > max_pixels:
        raise ImageTooLarge(
            f"image is {width}x{height} = {width * height} pixels, over the {max_pixels} limit"
        )
    try:
        image.seek(0)  # animated GIF/WebP and multi-page TIFF: the first frame
        if min_side is not None and image.format in {"JPEG", "MPO"}:
            image.draft(image.mode, (min_side, min_side))
        image.load()
    except Exception as exc:
        # Same reasoning as above, for the pixel decoders: truncated data raises OSError,
        # corrupt data anything from SyntaxError to zlib.error.
        raise InvalidImage(f"image data is truncated or corrupt ({exc})") from None
    return to_rgb(upright(image)), str(image.format)


def _openable_formats() -> list[str]:
    """The allowed formats this Pillow build can open (AVIF is an optional plugin)."""
    Image.init()
    return [name for name in ALLOWED_FORMATS if name in Image.OPEN]


def upright(image: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag, so phone photos are not sideways."""
    try:
        return ImageOps.exif_transpose(image)
    except Exception as exc:
        # A malformed EXIF block must not cost us an otherwise fine photo.
        log.debug("ignoring unreadable EXIF orientation: %s", exc)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB from any mode Pillow decodes: palette, alpha, CMYK, 16-bit, float, 1-bit."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "CMYK":
        return _cmyk_to_rgb(image)
    if mode.startswith("I") or mode == "F":
        return _deep_to_rgb(image)
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in {"PA", "LA", "La", "RGBa"}:
        image = image.convert("RGBA")
    elif mode != "RGBA":
        try:
            image = image.convert("RGB")
        except ValueError as exc:
            raise InvalidImage(f"unsupported colour mode {mode}") from exc
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, BACKGROUND)
        background.paste(image, mask=image.getchannel("A"))
        return background
    return image


def _cmyk_to_rgb(image: Image.Image) -> Image.Image:
    """CMYK through its embedded ICC profile when it has one; Pillow's formula otherwise."""
    icc = image.info.get("icc_profile")
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(
                image, source, ImageCms.createProfile("sRGB"), outputMode="RGB"
            )
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError) as exc:
            log.debug("CMYK profile unusable, converting without it: %s", exc)
    return image.convert("RGB")


def _deep_to_rgb(image: Image.Image) -> Image.Image:
    """16/32-bit integer or float greyscale (medical-style PNG/TIFF exports) to 8-bit RGB."""
    values = np.asarray(image, dtype=np.float64)
    if image.mode == "F":
        top = 1.0 if values.size and float(np.nanmax(values)) <= 1.0 else 255.0
        scaled = values / top * 255.0
    else:
        # 16-bit samples span 0..65535 whatever the container mode ("I;16", "I;16B", "I").
        scaled = values / 257.0
    grey = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
    return Image.fromarray(grey).convert("RGB")
