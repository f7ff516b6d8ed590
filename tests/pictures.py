"""Product photos drawn with Pillow (shading, sensor noise, JPEG), and the edits a second
photo of the same object goes through (crop, brightness, re-encoding)."""

from __future__ import annotations

import io
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

SIZE = 320
Draw = Callable[[ImageDraw.ImageDraw], None]


def _mug(d: ImageDraw.ImageDraw) -> None:
    d.rounded_rectangle((90, 90, 210, 250), radius=18, fill=(200, 30, 40))
    d.ellipse((190, 130, 260, 210), outline=(200, 30, 40), width=16)


def _red_scarf(d: ImageDraw.ImageDraw) -> None:
    for i, x in enumerate(range(60, 260, 20)):
        d.rectangle((x, 40, x + 19, 290), fill=(200, 30, 40) if i % 2 else (240, 200, 190))


def _striped_shirt(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(60, 90), (120, 60), (200, 60), (260, 90), (230, 140), (210, 120), (210, 280),
               (110, 280), (110, 120), (90, 140)], fill=(30, 60, 170))  # fmt: skip
    for y in range(80, 280, 24):
        d.rectangle((110, y, 210, y + 8), fill=(235, 235, 240))


def _dotted_dress(d: ImageDraw.ImageDraw) -> None:
    d.polygon([(130, 50), (190, 50), (250, 290), (70, 290)], fill=(30, 60, 170))
    for y in range(70, 280, 30):
        for x in range(90, 240, 30):
            d.ellipse((x, y, x + 10, y + 10), fill=(250, 250, 250))


def _bottle(d: ImageDraw.ImageDraw) -> None:
    d.rectangle((140, 40, 180, 100), fill=(20, 120, 50))
    d.rounded_rectangle((110, 100, 210, 290), radius=20, fill=(20, 120, 50))
    d.rectangle((110, 170, 210, 220), fill=(240, 210, 40))


def _bananas(d: ImageDraw.ImageDraw) -> None:
    for offset in range(0, 60, 15):
        d.arc((50, 40 + offset, 270, 260 + offset), start=20, end=160, fill=(235, 200, 30),
              width=22)  # fmt: skip


def _checked_bag(d: ImageDraw.ImageDraw) -> None:
    d.arc((110, 40, 210, 160), start=180, end=360, fill=(110, 70, 30), width=10)
    for row in range(6):
        for col in range(6):
            dark = (row + col) % 2 == 0
            x, y = 70 + col * 30, 110 + row * 30
            d.rectangle((x, y, x + 29, y + 29), fill=(20, 20, 20) if dark else (245, 245, 245))


#: name -> (background, drawing). Pairs share colours (mug/scarf, shirt/dress) on purpose.
PRODUCTS: dict[str, tuple[tuple[int, int, int], Draw]] = {
    "red mug": ((250, 250, 250), _mug),
    "red striped scarf": ((250, 250, 250), _red_scarf),
    "blue striped shirt": ((225, 225, 228), _striped_shirt),
    "blue dotted dress": ((225, 225, 228), _dotted_dress),
    "green bottle": ((235, 225, 200), _bottle),
    "bananas": ((250, 250, 250), _bananas),
    "checked bag": ((200, 170, 140), _checked_bag),
}


def product_photo(name: str, seed: int = 0) -> Image.Image:
    """A 'photo' of a product: the drawing, soft shading, light blur and sensor noise."""
    background, draw = PRODUCTS[name]
    image = Image.new("RGB", (SIZE, SIZE), background)
    draw(ImageDraw.Draw(image))
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    pixels = np.asarray(image, dtype=np.float32)
    shade = np.linspace(1.05, 0.9, SIZE, dtype=np.float32)[:, None, None]
    noise = np.random.default_rng(seed).normal(0.0, 4.0, pixels.shape).astype(np.float32)
    return Image.fromarray(np.clip(pixels * shade + noise, 0, 255).astype(np.uint8))


def another_shot(image: Image.Image, crop: float = 0.08, brightness: float = 1.15) -> Image.Image:
    """The same object photographed again: framed a little tighter, brighter, re-encoded."""
    w, h = image.size
    dx, dy = int(w * crop), int(h * crop * 0.6)
    edited = image.crop((dx, dy // 2, w - dx // 2, h - dy))
    edited = ImageEnhance.Brightness(edited).enhance(brightness)
    return jpeg(edited, quality=80)


def jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    decoded = Image.open(buffer)
    decoded.load()
    return decoded


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()
