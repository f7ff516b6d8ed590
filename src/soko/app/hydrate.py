"""Scout & Hydrate: give every product that needs it an image, a text and a hybrid vector.

Scout picks live products that are new or whose text or image source changed, whose
vectors are older than `SOKO_HYDRATE_MAX_AGE_HOURS`, or whose image failed and is due for
another try. Hydrate loads their images (several downloads at once, through `SafeFetcher`
for URLs), embeds images and texts in batches, fuses them and stores all three vectors on
the row, compare-and-set on the version it read (an edit made meanwhile is hydrated again
on the next pass). A product whose image fails keeps a text-only vector, so it stays
searchable, and records the error, its attempt count and when to try again (backoff).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

from soko.catalog import Catalog, HydrateCandidate, HydrateQueue, VectorUpdate, utcnow
from soko.config import Settings
from soko.embedding import Embedder, VectorSpace, decode_image, product_text, read_image_file
from soko.errors import EmbeddingError, ImageFetchError
from soko.fetch import SafeFetcher

log = logging.getLogger(__name__)

#: Products claimed per pass of the loop: a few embedding batches.
BATCHES_PER_CHUNK = 4
#: Retry delays after an image failure: 5 min, doubling, at most a day.
RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(days=1)


def retry_delay(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones (1, 2, ...)."""
    exponent = min(max(attempts - 1, 0), 16)
    delay: timedelta = min(RETRY_FIRST * (2**exponent), RETRY_MAX)
    return delay


@dataclass
class HydrateStats:
    products: int = 0
    stored: int = 0
    images: int = 0
    image_failures: int = 0
    #: Changed while being hydrated: left for the next pass.
    changed_meanwhile: int = 0
    errors: dict[int, str] = field(default_factory=dict)


class Hydrator:
    """Hydrates the catalog's due products with one embedder, into one vector space."""

    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        embedder: Embedder,
        space: VectorSpace,
        fetcher: SafeFetcher | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.queue = HydrateQueue(catalog)
        self.embedder = embedder
        self.space = space
        self._fetcher = fetcher
        self._owns_fetcher = fetcher is None

    def close(self) -> None:
        if self._owns_fetcher and self._fetcher is not None:
            self._fetcher.close()
            self._fetcher = None

    def __enter__(self) -> Hydrator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def fetcher(self) -> SafeFetcher:
        if self._fetcher is None:
            self._fetcher = SafeFetcher(self.settings)
        return self._fetcher

    def _stale_before(self, now: datetime) -> datetime:
        return now - timedelta(hours=self.settings.hydrate_max_age_hours)

    def due_count(self, now: datetime | None = None) -> int:
        now = now or utcnow()
        return self.queue.count_due(now=now, stale_before=self._stale_before(now))

    def run(
        self,
        *,
        limit: int | None = None,
        now: datetime | None = None,
        on_chunk: Callable[[int], None] | None = None,
    ) -> HydrateStats:
        """Hydrate every due product (or the first `limit`), in id order."""
        now = now or utcnow()
        stats = HydrateStats()
        chunk = self.settings.embed_batch_size * BATCHES_PER_CHUNK
        after = 0
        while limit is None or stats.products < limit:
            size = chunk if limit is None else min(chunk, limit - stats.products)
            due = self.queue.due(
                size, after_id=after, now=now, stale_before=self._stale_before(now)
            )
            if not due:
                break
            self._hydrate(due, now, stats)
            after = due[-1].product_id
            if on_chunk:
                on_chunk(len(due))
        return stats

    def _load(self, product: HydrateCandidate) -> Image.Image | None:
        s = self.settings
        if product.image_url:
            data = self.fetcher.fetch(product.image_url)
            return decode_image(data, max_pixels=s.max_image_pixels)
        if product.image_path:
            return read_image_file(
                Path(product.image_path), max_bytes=s.max_image_bytes, max_pixels=s.max_image_pixels
            )
        return None

    def _load_safely(self, product: HydrateCandidate) -> Image.Image | str | None:
        """The image, None when the product has none, or why it could not be loaded."""
        try:
            return self._load(product)
        except (ImageFetchError, EmbeddingError) as exc:
            return str(exc)

    def _hydrate(self, due: list[HydrateCandidate], now: datetime, stats: HydrateStats) -> None:
        with ThreadPoolExecutor(self.settings.fetch_concurrency) as pool:
            loaded = list(pool.map(self._load_safely, due))
        images = [(k, img) for k, img in enumerate(loaded) if isinstance(img, Image.Image)]
        dim = self.space.dim
        image_vectors = np.zeros((len(due), dim), dtype=np.float32)
        batch = self.settings.embed_batch_size
        for start in range(0, len(images), batch):
            part = images[start : start + batch]
            encoded = self.embedder.encode_images([img for _, img in part])
            for (k, _), vector in zip(part, encoded, strict=True):
                image_vectors[k] = vector
        texts = [product_text(p.name, p.description) for p in due]
        text_vectors = np.concatenate(
            [
                self.embedder.encode_texts(texts[start : start + batch])
                for start in range(0, len(texts), batch)
            ]
        )
        hybrid = self.space.fuse(image_vectors, text_vectors)
        has_image = {k for k, _ in images}
        for k, product in enumerate(due):
            if isinstance(loaded[k], str) and not product.source_changed:
                # A refresh or retry that failed (a CDN outage, say) keeps the image vector
                # it had rather than falling back to text only.
                previous = self.catalog.vectors(product.product_id).image
                if previous is not None and previous.shape == (dim,):
                    image_vectors[k] = previous
                    has_image.add(k)
        if len(has_image) > len(images):
            hybrid = self.space.fuse(image_vectors, text_vectors)
        updates = []
        for k, product in enumerate(due):
            item = loaded[k]
            failure = item if isinstance(item, str) else None
            attempts = product.attempts + 1 if failure else 0
            updates.append(
                VectorUpdate(
                    product_id=product.product_id,
                    version=product.version,
                    hybrid=hybrid[k],
                    image=image_vectors[k] if k in has_image else None,
                    text=text_vectors[k],
                    hydrated_at=now,
                    error=failure,
                    attempts=attempts,
                    next_attempt_at=now + retry_delay(attempts) if failure else None,
                )
            )
            if failure:
                stats.errors[product.product_id] = failure
                log.warning("product %d: image not loaded: %s", product.product_id, failure)
        written = self.queue.store(updates, self.space)
        stats.products += len(due)
        stats.stored += len(written)
        stats.images += len(images)
        stats.image_failures += sum(1 for item in loaded if isinstance(item, str))
        stats.changed_meanwhile += len(due) - len(written)
        log.info(
            "hydrated %d products (%d images, %d image failures, %d changed meanwhile)",
            len(written),
            len(images),
            sum(1 for item in loaded if isinstance(item, str)),
            len(due) - len(written),
        )
