"""Duplicate listings: a photo that is the same picture as a catalog product's.

Candidates are the nearest products by photo (the upload's image vector searched in
Milvus); each is then judged on the catalog's stored print (exact image cosine and the
perceptual hash, `soko.catalog.photos`): a duplicate when the cosine alone is very high, or
the hashes are close and the cosine agrees. The thresholds were measured with
`soko eval-duplicates` on copies of real photos (docs in /work/notes/issue13-duplicates.md);
products without a photo are never candidates. `soko duplicates` runs the same judgement
for every product against its top-k neighbours (O(n k), never all pairs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image

from soko.catalog import Catalog, PhotoPrint, count_photo_prints, iter_photo_prints, photo_prints
from soko.embedding import Embedder, VectorSpace
from soko.embedding.fingerprint import HASH_BITS, hash_distance, image_hash
from soko.vectorstore import SearchFilters, VectorStore

#: Nearest products by photo judged per query.
CANDIDATES = 10
#: Products per Milvus search call in `catalog_pairs`.
CHUNK = 500


@dataclass(frozen=True)
class DuplicateRule:
    """`cosine >= vector_alone`, or `hash distance <= max_hash_distance` with `cosine >=
    with_hash`. The defaults were measured by `soko eval-duplicates` on 1760 real photos:
    the highest recall (0.605) at precision >= 0.99."""

    vector_alone: float = 0.94
    max_hash_distance: int = 8
    with_hash: float = 0.30


@dataclass(frozen=True)
class Duplicate:
    product_id: int
    #: The image cosine of the two photos (1: the same vector).
    score: float
    same_seller: bool
    reason: str


@dataclass(frozen=True)
class DuplicatePair:
    """Two catalog products whose photos are the same picture (`first` < `second`)."""

    first: int
    second: int
    score: float
    same_seller: bool
    reason: str


def judge(
    image: npt.NDArray[np.float32], hashed: int | None, other: PhotoPrint, rule: DuplicateRule
) -> tuple[float, str] | None:
    """(score, reason) when the photo is a duplicate of `other`'s, else None."""
    cosine = float(np.clip(np.dot(image, other.image), -1.0, 1.0))
    distance = None
    if hashed is not None and other.image_hash is not None:
        distance = hash_distance(hashed, other.image_hash)
    hashes = (
        "no stored photo hash" if distance is None else f"hashes {distance}/{HASH_BITS} bits apart"
    )
    if distance is not None and distance <= rule.max_hash_distance and cosine >= rule.with_hash:
        return (
            cosine,
            f"same picture: photo hashes {distance}/{HASH_BITS} bits apart, "
            f"image similarity {cosine:.3f}",
        )
    if cosine >= rule.vector_alone:
        return (
            cosine,
            f"near-identical photo: image similarity {cosine:.3f} "
            f"({hashes}: a cropped or edited copy)",
        )
    return None


def _unit(vector: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


class DuplicateFinder:
    """Duplicate checks over one collection and the catalog's stored photo prints."""

    def __init__(
        self,
        catalog: Catalog,
        store: VectorStore,
        embedder: Embedder,
        space: VectorSpace,
        rule: DuplicateRule = DuplicateRule(),
    ) -> None:
        self.catalog = catalog
        self.store = store
        self.embedder = embedder
        self.space = space
        self.rule = rule

    def _query(self, images: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Image vectors as queries against the hybrid vectors, fused as uploads are."""
        return self.space.fuse(images, None)

    def _candidates(
        self, queries: npt.NDArray[np.float32], excluded: tuple[int, ...] = ()
    ) -> list[list[int]]:
        filters = SearchFilters(exclude_ids=excluded)
        hits = self.store.search(queries, limit=CANDIDATES + len(excluded), filters=filters)
        return [[h.product_id for h in row] for row in hits]

    def _judge_all(
        self,
        image: npt.NDArray[np.float32],
        hashed: int | None,
        seller_id: int | None,
        ids: list[int],
        prints: dict[int, PhotoPrint],
    ) -> list[Duplicate]:
        found = []
        for pid in ids:
            other = prints.get(pid)
            if other is None:
                continue  # deleted meanwhile, or no photo
            verdict = judge(image, hashed, other, self.rule)
            if verdict is not None:
                score, reason = verdict
                same = seller_id is not None and other.seller_id == seller_id
                found.append(Duplicate(pid, round(score, 6), same, reason))
        return sorted(found, key=lambda d: -d.score)

    def of_upload(
        self,
        image: Image.Image,
        seller_id: int | None,
        *,
        image_vector: npt.NDArray[np.float32] | None = None,
    ) -> list[Duplicate]:
        """Catalog products whose photo is the same picture as this upload, best first.
        `image_vector`: the upload's image vector when the caller has embedded it already."""
        if image_vector is None:
            image_vector = self.embedder.encode_images([image])[0]
        vector = _unit(image_vector)
        hashed = image_hash(image)
        ids = self._candidates(self._query(vector[None, :]))[0]
        return self._judge_all(vector, hashed, seller_id, ids, photo_prints(self.catalog, ids))

    def of_product(self, product_id: int) -> list[Duplicate]:
        """Other products whose photo is the same picture as this one's; [] without a photo.
        Unknown or deleted: ProductNotFound."""
        self.catalog.get(product_id)
        own = photo_prints(self.catalog, [product_id]).get(product_id)
        if own is None:
            return []
        ids = self._candidates(self._query(own.image[None, :]), (product_id,))[0]
        prints = photo_prints(self.catalog, ids)
        return self._judge_all(own.image, own.image_hash, own.seller_id, ids, prints)

    def catalog_pairs(
        self, progress: Callable[[str, int, int | None], None] | None = None
    ) -> Iterator[DuplicatePair]:
        """Every likely duplicate pair of the catalog, once each: per product its
        CANDIDATES nearest by photo (one Milvus call per CHUNK products), then the judgement."""
        total = count_photo_prints(self.catalog)
        done = 0
        seen: set[tuple[int, int]] = set()
        for chunk in iter_photo_prints(self.catalog, CHUNK):
            queries = self._query(np.stack([p.image for p in chunk]))
            rows = self._candidates(queries)
            prints = photo_prints(self.catalog, [pid for row in rows for pid in row])
            for own, ids in zip(chunk, rows, strict=True):
                others = [pid for pid in ids if pid != own.product_id]
                for dup in self._judge_all(
                    own.image, own.image_hash, own.seller_id, others, prints
                ):
                    pair = (
                        min(own.product_id, dup.product_id),
                        max(own.product_id, dup.product_id),
                    )
                    if pair in seen:
                        continue  # found from the other side already
                    seen.add(pair)
                    yield DuplicatePair(*pair, dup.score, dup.same_seller, dup.reason)
            done += len(chunk)
            if progress:
                progress("checking products", done, total)
