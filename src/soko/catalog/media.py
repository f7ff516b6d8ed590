"""Local product photos (`image_path`) and the media roots they must be inside.

Only `soko import` gives a product a local path (the HTTP API takes image URLs only). The
import confines every path, after symlinks and `..`, to its media root: SOKO_MEDIA_ROOT,
else the catalog file's folder. That root is recorded in `catalog_meta`. Whoever reads a
local photo to show it (the image route) checks the stored path again, at that moment,
against the roots: SOKO_MEDIA_ROOT when it is set, else the recorded ones. A row pointing
anywhere else (written before this rule, or into the database by hand) is never served.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import insert, select, update

from soko.catalog.models import META_MEDIA_ROOTS, META_TABLE
from soko.catalog.products import Catalog
from soko.errors import InvalidInput

META = META_TABLE


def confine(path: Path, root: Path) -> Path:
    """`path` with symlinks and `..` resolved, or InvalidInput if that is outside `root`."""
    try:
        real, top = path.resolve(), root.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # symlink loops, NUL
        raise InvalidInput(
            f"image_path: cannot resolve {str(path)!r} ({exc})", field="image_path"
        ) from None
    if not real.is_relative_to(top):
        raise InvalidInput(
            f"image_path: {str(path)!r} is {real}, outside the media root {top} "
            "(set SOKO_MEDIA_ROOT to import photos from another folder)",
            field="image_path",
        )
    return real


def servable(image_path: str, roots: Sequence[Path]) -> Path | None:
    """The stored `image_path` as a regular file inside one of `roots` (checked now, after
    symlinks), or None."""
    for root in roots:
        try:
            real = confine(Path(image_path), root)
        except InvalidInput:
            continue
        return real if real.is_file() else None
    return None


class MediaRoots:
    """The catalog's record of the folders imports took local photos from."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    def recorded(self) -> list[Path]:
        with self.catalog.reading() as conn:
            value = conn.execute(
                select(META.c.value).where(META.c.key == META_MEDIA_ROOTS)
            ).scalar_one_or_none()
        return [Path(root) for root in json.loads(value or "[]")]

    def record(self, root: Path) -> None:
        """Add `root` (resolved) to the recorded roots, if it is not there yet."""
        root = root.resolve()
        with self.catalog.writing() as conn:
            value = conn.execute(
                select(META.c.value).where(META.c.key == META_MEDIA_ROOTS).with_for_update()
            ).scalar_one_or_none()
            roots: list[str] = json.loads(value or "[]")
            if str(root) in roots:
                return
            roots.append(str(root))
            if value is None:
                conn.execute(insert(META), [{"key": META_MEDIA_ROOTS, "value": json.dumps(roots)}])
            else:
                conn.execute(
                    update(META)
                    .where(META.c.key == META_MEDIA_ROOTS)
                    .values(value=json.dumps(roots))
                )

    def allowed(self, configured: Path | None) -> list[Path]:
        """The roots local photos may be served from: SOKO_MEDIA_ROOT if set, else the
        recorded ones."""
        return [configured] if configured is not None else self.recorded()
