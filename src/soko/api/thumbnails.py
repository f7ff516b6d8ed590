"""Small WebP thumbnails of local product photos, made once and kept beside the data."""

from __future__ import annotations

import hashlib
from pathlib import Path

from PIL import Image, ImageOps

from soko.config import Settings

THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 75


def thumbnail_path(source: Path, settings: Settings) -> Path:
    """The thumbnail of `source`, created if missing or older than the photo."""
    stat = source.stat()
    key = hashlib.sha1(f"{source.resolve()}:{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = settings.data_dir / "thumbnails" / f"{key}.webp"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(source) as image:
        image.draft("RGB", (THUMBNAIL_SIDE * 2, THUMBNAIL_SIDE * 2))  # fast JPEG downscale
        small = ImageOps.exif_transpose(image).convert("RGB")
        small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
        partial = target.with_suffix(".tmp")
        small.save(partial, "WEBP", quality=THUMBNAIL_QUALITY)
        partial.replace(target)
    return target
