"""Scout & Hydrate: give every product that needs it an image, a text and a hybrid vector.

Scout picks live products that are new or whose text or image source changed, whose
vectors are older than `SOKO_HYDRATE_MAX_AGE_HOURS`, or whose image failed and is due for
another try. Hydrate loads their images (several downloads at once, through `SafeFetcher`
for URLs), embeds images and texts in batches, fuses them and stores all three vectors on
the row with the photo's perceptual hash (for duplicate checks, app/duplicates.py),
compare-and-set on the version it read (an edit made meanwhile is hydrated again on the
next pass). A product whose image fails keeps a text-only vector, so it stays
searchable, and records the error, its attempt count and when to try again (backoff).

A failure belongs to the product that caused it: whatever goes wrong while loading one
product's image, or a product with nothing to embed (no image and a text that gives no
vector), is recorded on that product and the rest of the batch is stored as usual. A URL the
fetcher's rules refuse (`BlockedAddress`) is final: recorded, not retried until the product
changes; other failures (timeouts, 5xx, connection errors, bad images) back off.
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
from soko.embedding.fingerprint import image_hash
from soko.errors import BlockedAddress, EmbeddingError, ImageFetchError
from soko.fetch import SafeFetcher
from soko.logs import redact

log = logging.getLogger(__name__)

#: Products claimed per pass of the loop: a few embedding batches.
BATCHES_PER_CHUNK = 4
#: Retry delays after an image failure: 5 min, doubling, at most a day.
RETRY_FIRST = timedelta(minutes=5)
RETRY_MAX = timedelta(days=1)
#: A text vector shorter than this is no text (the embedder's answer for a blank text).
EMPTY = 1e-6


def retry_delay(attempts: int) -> timedelta:
    """Delay before the next try after `attempts` failed ones (1, 2, ...)."""
    exponent = min(max(attempts - 1, 0), 16)
    delay: timedelta = min(RETRY_FIRST * (2**exponent), RETRY_MAX)
    return delay


@dataclass(frozen=True)
class LoadFailure:
    """Why a product's image could not be loaded; `final`: trying again cannot help."""

    reason: str
    final: bool = False


#: The text a product without an image nor a usable text vector is recorded with.
NOTHING_TO_EMBED = "nothing to embed: no image, and its name and description give no text vector"


@dataclass
class HydrateStats:
    products: int = 0
    stored: int = 0
    images: int = 0
    image_failures: int = 0
    #: Changed while being hydrated: left for the next pass.
    changed_meanwhile: int = 0
    #: Nothing could be embedded: the error is recorded, no vector stored.
    not_embedded: int = 0
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

    def _load_safely(self, product: HydrateCandidate) -> Image.Image | LoadFailure | None:
        """The image, None when the product has none, or why it could not be loaded."""
        try:
            return self._load(product)
        except BlockedAddress as exc:
            return LoadFailure(redact(str(exc)), final=True)
        except (ImageFetchError, EmbeddingError) as exc:
            return LoadFailure(redact(str(exc)))
        except Exception as exc:
            # One product's unexpected failure (a library raising what it should not) must
            # not stop the batch: it is recorded on the product and retried with backoff.
            log.exception("product %d: loading its image failed unexpectedly", product.product_id)
            return LoadFailure(redact(f"unexpected error: {type(exc).__name__}: {exc}"))

    def _hydrate(self, due: list[HydrateCandidate], now: datetime, stats: HydrateStats) -> None:
        with ThreadPoolExecutor(self.settings.fetch_concurrency) as pool:
            loaded = list(pool.map(self._load_safely, due))
        images = [(k, img) for k, img in enumerate(loaded) if isinstance(img, Image.Image)]
        failed = sum(1 for item in loaded if isinstance(item, LoadFailure))
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
        hashes: dict[int, int] = {k: image_hash(img) for k, img in images}
        has_image = {k for k, _ in images}
        for k, product in enumerate(due):
            if isinstance(loaded[k], LoadFailure) and not product.source_changed:
                # A refresh or retry that failed (a CDN outage, say) keeps the image vector
                # it had rather than falling back to text only.
                kept = self.catalog.vectors(product.product_id)
                previous = kept.image
                if previous is not None and previous.shape == (dim,):
                    image_vectors[k] = previous
                    has_image.add(k)
                    if kept.image_hash is not None:
                        hashes[k] = kept.image_hash
        has_text = np.linalg.norm(text_vectors, axis=1) > EMPTY
        embeddable = [k for k in range(len(due)) if k in has_image or has_text[k]]
        hybrid = np.zeros((len(due), dim), dtype=np.float32)
        if embeddable:
            rows = np.array(embeddable)
            hybrid[rows] = self.space.fuse(image_vectors[rows], text_vectors[rows])
        updates = []
        for k, product in enumerate(due):
            item = loaded[k]
            failure = item if isinstance(item, LoadFailure) else None
            vectors = k in has_image or bool(has_text[k])
            if not vectors:
                # Recorded on this product alone; final unless its image may still come.
                failure = (
                    LoadFailure(f"{failure.reason}; and no text to embed", failure.final)
                    if failure
                    else LoadFailure(NOTHING_TO_EMBED, final=True)
                )
            attempts = product.attempts + 1 if failure else 0
            retry_at = now + retry_delay(attempts) if failure and not failure.final else None
            updates.append(
                VectorUpdate(
                    product_id=product.product_id,
                    version=product.version,
                    hybrid=hybrid[k] if vectors else None,
                    image=image_vectors[k] if k in has_image else None,
                    text=text_vectors[k],
                    image_hash=hashes.get(k) if k in has_image else None,
                    hydrated_at=now,
                    error=failure.reason if failure else None,
                    attempts=attempts,
                    next_attempt_at=retry_at,
                )
            )
            if failure:
                stats.errors[product.product_id] = failure.reason
                when = f"retry at {retry_at:%Y-%m-%d %H:%M}Z" if retry_at else "final"
                log.warning("product %d: %s (%s)", product.product_id, failure.reason, when)
        written = set(self.queue.store(updates, self.space))
        not_embedded = sum(1 for u in updates if u.hybrid is None and u.product_id in written)
        stored = len(written) - not_embedded
        stats.products += len(due)
        stats.stored += stored
        stats.not_embedded += not_embedded
        stats.images += len(images)
        stats.image_failures += failed
        stats.changed_meanwhile += len(due) - len(written)
        log.info(
            "hydrated %d products (%d images, %d image failures, %d with nothing to embed, "
            "%d changed meanwhile)",
            stored,
            len(images),
            failed,
            not_embedded,
            len(due) - len(written),
        )
