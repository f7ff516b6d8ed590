"""Small WebP thumbnails of local product photos, made once and kept beside the data.

A photo is read and decoded under the same guards as an upload (SOKO_MAX_IMAGE_BYTES,
SOKO_MAX_IMAGE_PIXELS, the formats of soko.embedding.images): anything else is an
`InvalidImage`, never a decode of a bomb.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from soko.config import Settings
from soko.embedding.images import decode_image, read_image_bytes
from soko.errors import InvalidImage

THUMBNAIL_SIDE = 256
THUMBNAIL_QUALITY = 75


def thumbnail_path(source: Path, settings: Settings) -> Path:
    """The thumbnail of `source`, created if missing or older than the photo."""
    try:
        stat = source.stat()
    except OSError as exc:
        raise InvalidImage(f"cannot read ({exc.strerror or exc})") from None
    key = hashlib.sha1(f"{source.resolve()}:{stat.st_mtime_ns}".encode()).hexdigest()[:20]
    target = settings.data_dir / "thumbnails" / f"{key}.webp"
    if target.exists():
        return target
    data = read_image_bytes(source, max_bytes=settings.max_image_bytes)
    # A JPEG is decoded straight at a reduced scale that still leaves 2x the thumbnail.
    small = decode_image(data, max_pixels=settings.max_image_pixels, min_side=THUMBNAIL_SIDE * 2)
    small.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{key}.{uuid.uuid4().hex}.tmp")  # concurrent requests
    small.save(partial, "WEBP", quality=THUMBNAIL_QUALITY)
    partial.replace(target)
    return target
