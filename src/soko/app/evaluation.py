"""`soko eval`: retrieval quality of an embedder on a labelled catalog CSV.

For every product, its nearest neighbours among all the others (exact cosine search in
numpy: the ground truth an ANN index is measured against) are checked against labels:

- category precision@k: the share of the k neighbours in the query's category;
- same-product hit rate@k: when a column groups several photos of one product, how often
  at least one other photo of it is among the k neighbours (and recall@k: which share of
  its other photos are).

Four variants show what each modality contributes: image to image, text to text, hybrid to
hybrid (product pages: "similar products"), and photo to hybrid (a buyer's uploaded photo,
which has no text, searched against the catalog's hybrid vectors).
"""

from __future__ import annotations

import csv
import hashlib
import itertools
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt

from soko.embedding import Embedder, VectorSpace, product_text, read_image_file
from soko.errors import InvalidImage, InvalidInput

log = logging.getLogger(__name__)

REQUIRED_COLUMNS = ("category",)
#: Queries are scored in blocks of this many rows, so memory stays O(block x n).
QUERY_BLOCK = 1024

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class CatalogRow:
    product_id: str
    text: str
    category: str
    image_path: Path | None
    group: str | None
    #: With `apart`: whose the row is (e.g. the photographer); queries and catalog never
    #: share one.
    owner: str | None = None
    #: The row's price when the CSV has a `price` column and the cell is a number.
    price: float | None = None


@dataclass(frozen=True)
class VariantScores:
    """Scores of one query/corpus pairing."""

    name: str
    queries: int
    precision_at_k: float
    #: The best precision@k possible: categories with fewer than k+1 items cap it.
    precision_ceiling: float
    same_product_hit_rate: float | None
    #: The share of the product's other photos found in the top k (at most k counted).
    same_product_recall: float | None
    same_product_queries: int


@dataclass
class EvalReport:
    catalog: str
    embedder: str
    vector_space: str
    k: int
    rows: int
    categories: int
    groups: int | None
    missing_images: int
    #: The column whose values were kept apart between queries and catalog, if any.
    apart: str | None = None
    variants: list[VariantScores] = field(default_factory=list)


def read_catalog(
    path: Path,
    *,
    image_column: str = "image_file",
    group_column: str | None = "class_name",
    apart_column: str | None = None,
) -> tuple[list[CatalogRow], str | None]:
    """Rows of a catalog CSV; image paths are relative to the CSV's folder.

    Returns the rows and the grouping column actually used (None when the CSV has none).
    """
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot open ({exc.strerror or exc})") from None
    with handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        wanted = (*REQUIRED_COLUMNS, image_column, *([apart_column] if apart_column else []))
        missing = [c for c in wanted if c not in columns]
        if missing:
            raise InvalidInput(f"{path}: missing column(s) {', '.join(missing)}")
        use_group = group_column if group_column and group_column in columns else None
        rows = []
        for line, record in enumerate(reader, start=2):
            image = (record.get(image_column) or "").strip()
            category = (record.get("category") or "").strip()
            if not category:
                raise InvalidInput(f"{path}:{line}: empty category")
            rows.append(
                CatalogRow(
                    product_id=(record.get("product_id") or str(line)).strip(),
                    text=product_text(record.get("name") or "", record.get("description")),
                    category=category,
                    image_path=(path.parent / image) if image else None,
                    group=_group_of(record, use_group),
                    owner=_group_of(record, apart_column),
                    price=_price_of(record),
                )
            )
    if len(rows) < 2:
        raise InvalidInput(f"{path}: needs at least 2 products to evaluate, found {len(rows)}")
    return rows, use_group


def _group_of(record: dict[str, str | None], column: str | None) -> str | None:
    if column is None:
        return None
    return (record.get(column) or "").strip() or None


def _price_of(record: dict[str, str | None]) -> float | None:
    try:
        value = float((record.get("price") or "").strip())
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def evaluate(
    rows: Sequence[CatalogRow],
    embedder: Embedder,
    space: VectorSpace,
    *,
    catalog: str,
    batch_size: int = 32,
    max_image_bytes: int,
    max_image_pixels: int,
    k: int = 10,
    apart: str | None = None,
    progress: Progress | None = None,
) -> EvalReport:
    """Embed the catalog and score the four variants."""
    images, texts, missing = embed_catalog(
        rows,
        embedder,
        batch_size=batch_size,
        max_image_bytes=max_image_bytes,
        max_image_pixels=max_image_pixels,
        progress=progress,
    )
    hybrid = space.fuse(images, texts)
    categories = np.array([row.category for row in rows])
    groups = [row.group for row in rows]
    has_image = np.linalg.norm(images, axis=1) > 0
    has_text = np.linalg.norm(texts, axis=1) > 0
    everything = np.ones(len(rows), dtype=bool)
    queries_side, catalog_side = _sides(rows)
    report = EvalReport(
        catalog=catalog,
        embedder=embedder.identity,
        vector_space=space.id,
        k=k,
        rows=len(rows),
        categories=len(set(categories.tolist())),
        groups=len({g for g in groups if g}) if any(groups) else None,
        missing_images=missing,
        apart=apart,
    )
    variants = (
        ("image", images, images, has_image, has_image),
        ("text", texts, texts, has_text, has_text),
        ("hybrid", hybrid, hybrid, everything, everything),
        ("photo->hybrid", images, hybrid, has_image, everything),
    )
    for name, queries, corpus, query_mask, corpus_mask in variants:
        report.variants.append(
            score_variant(
                name,
                queries,
                corpus,
                categories,
                groups,
                k=k,
                query_mask=query_mask & queries_side,
                corpus_mask=corpus_mask & catalog_side,
            )
        )
    return report


def _sides(rows: Sequence[CatalogRow]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Which rows may be queries and which the catalog. Without owners: every row is both
    (a row is never its own neighbour). With owners: owners are split in two halves by a
    hash of their value (stable across runs and machines); queries come from one half and
    are searched against the other, so no query meets its owner's other photos."""
    if not any(row.owner for row in rows):
        everything = np.ones(len(rows), dtype=bool)
        return everything, everything
    half = np.array(
        [int(hashlib.sha256((row.owner or "").encode()).hexdigest(), 16) % 2 == 0 for row in rows]
    )
    return half, ~half


def embed_catalog(
    rows: Sequence[CatalogRow],
    embedder: Embedder,
    *,
    batch_size: int,
    max_image_bytes: int,
    max_image_pixels: int,
    progress: Progress | None = None,
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], int]:
    """Image vectors (zero rows where the image is missing or unreadable) and text vectors."""
    n = len(rows)
    images = np.zeros((n, embedder.dim), dtype=np.float32)
    missing = 0
    for start in range(0, n, batch_size):
        batch, where = [], []
        for i in range(start, min(start + batch_size, n)):
            path = rows[i].image_path
            if path is None:
                missing += 1
                continue
            try:
                batch.append(
                    read_image_file(path, max_bytes=max_image_bytes, max_pixels=max_image_pixels)
                )
                where.append(i)
            except InvalidImage as exc:
                missing += 1
                log.warning("product %s: image skipped: %s", rows[i].product_id, exc)
        if batch:
            images[where] = embedder.encode_images(batch)
        if progress:
            progress("images", min(start + batch_size, n), n)
    texts = np.zeros((n, embedder.dim), dtype=np.float32)
    for start in range(0, n, batch_size):
        chunk = [row.text for row in rows[start : start + batch_size]]
        texts[start : start + len(chunk)] = embedder.encode_texts(chunk)
        if progress:
            progress("texts", min(start + batch_size, n), n)
    return images, texts, missing


def score_variant(
    name: str,
    queries: npt.NDArray[np.float32],
    corpus: npt.NDArray[np.float32],
    categories: npt.NDArray[np.str_],
    groups: Sequence[str | None],
    *,
    k: int,
    query_mask: npt.NDArray[np.bool_],
    corpus_mask: npt.NDArray[np.bool_],
) -> VariantScores:
    """Exact top-k by cosine (the query's own row excluded), scored against the labels."""
    query_rows = np.flatnonzero(query_mask)
    corpus_rows = np.flatnonzero(corpus_mask)
    category_sizes = Counter(categories[corpus_rows].tolist())
    group_array = np.array([g or "" for g in groups])
    group_sizes = Counter(group_array[corpus_rows].tolist())
    k_eff = min(k, len(corpus_rows) - 1)
    if len(query_rows) == 0 or k_eff < 1:
        return VariantScores(name, 0, 0.0, 0.0, None, None, 0)
    precision, ceiling, recall, hits, group_queries = [], [], [], 0, 0
    for block_start in range(0, len(query_rows), QUERY_BLOCK):
        block = query_rows[block_start : block_start + QUERY_BLOCK]
        scores = queries[block] @ corpus[corpus_rows].T
        # A product is never its own neighbour.
        scores[corpus_rows[None, :] == block[:, None]] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k_eff]
        neighbours = corpus_rows[top]
        for row, found in zip(block, neighbours, strict=True):
            same = categories[found] == categories[row]
            precision.append(float(same.mean()))
            own = 1 if corpus_mask[row] else 0
            ceiling.append(min(k_eff, category_sizes[categories[row]] - own) / k_eff)
            group = group_array[row]
            siblings = group_sizes[group] - own if group else 0
            if siblings >= 1:
                found_siblings = int((group_array[found] == group).sum())
                group_queries += 1
                hits += int(found_siblings > 0)
                recall.append(found_siblings / min(k_eff, siblings))
    return VariantScores(
        name=name,
        queries=len(query_rows),
        precision_at_k=float(np.mean(precision)),
        precision_ceiling=float(np.mean(ceiling)),
        same_product_hit_rate=hits / group_queries if group_queries else None,
        same_product_recall=float(np.mean(recall)) if recall else None,
        same_product_queries=group_queries,
    )


# --- `soko eval-suggest`: the seller tool's category and price suggestions --------------------
#: Reliability bins of the suggestion's confidence (the last one holds 1.0).
CONFIDENCE_BINS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.0)
#: The confidence a page might pre-fill the category at; its accuracy is reported.
PREFILL_CONFIDENCE = 0.7


@dataclass(frozen=True)
class ReliabilityBin:
    """Suggestions whose top confidence falls in [low, high): how many, how sure, how right."""

    low: float
    high: float
    suggestions: int
    mean_confidence: float
    accuracy: float


@dataclass
class SuggestReport:
    catalog: str
    embedder: str
    vector_space: str
    rows: int
    categories: int
    missing_images: int
    apart: str | None
    #: Photos asked about (the query side, with a readable image) and the products they were
    #: searched against.
    queries: int
    catalog_products: int
    vote_neighbours: int
    top1_accuracy: float
    top3_accuracy: float
    calibration: list[ReliabilityBin]
    #: Mean |confidence - accuracy| over the bins, weighted by their share of suggestions.
    expected_calibration_error: float
    prefill_confidence: float
    #: Share of suggestions at or above `prefill_confidence`, and how often those are right.
    prefill_share: float
    prefill_accuracy: float | None
    price_neighbours: int
    min_price_neighbours: int
    #: Queries with a real price of their own (None in the CSV: not measured).
    priced_queries: int
    #: Of those, how many got a band, and the share whose price lies in [low, high].
    price_banded: int
    price_coverage: float | None
    #: The same, only where the top category was right.
    price_coverage_right_category: float | None
    #: Median of (high - low) / median over the bands given.
    median_relative_band_width: float | None


def evaluate_suggestions(
    rows: Sequence[CatalogRow],
    embedder: Embedder,
    space: VectorSpace,
    *,
    catalog: str,
    batch_size: int = 32,
    max_image_bytes: int,
    max_image_pixels: int,
    apart: str | None = None,
    progress: Progress | None = None,
) -> SuggestReport:
    """Each query photo's suggestion, computed as `ListingAdvisor.suggest` does (the photo
    against the catalog's hybrid vectors, the same vote and band), scored against its labels."""
    from soko.app.listings import (
        MIN_PRICE_NEIGHBOURS,
        PRICE_NEIGHBOURS,
        VOTE_NEIGHBOURS,
        price_band,
        vote_categories,
    )

    images, texts, missing = embed_catalog(
        rows,
        embedder,
        batch_size=batch_size,
        max_image_bytes=max_image_bytes,
        max_image_pixels=max_image_pixels,
        progress=progress,
    )
    hybrid = space.fuse(images, texts)
    categories = np.array([row.category for row in rows])
    prices = np.array([np.nan if row.price is None else row.price for row in rows])
    queries_side, catalog_side = _sides(rows)
    query_rows = np.flatnonzero(queries_side & (np.linalg.norm(images, axis=1) > 0))
    corpus_rows = np.flatnonzero(catalog_side)
    confidences, right, in_top3 = [], [], []
    priced = banded = 0
    covered, covered_right, widths = [], [], []
    for block_start in range(0, len(query_rows), QUERY_BLOCK):
        block = query_rows[block_start : block_start + QUERY_BLOCK]
        scores = images[block] @ hybrid[corpus_rows].T
        scores[corpus_rows[None, :] == block[:, None]] = -np.inf  # never itself
        order = np.argsort(-scores, axis=1, kind="stable")
        for i, row in enumerate(block):
            usable = order[i][np.isfinite(scores[i, order[i]])]
            voters = usable[:VOTE_NEIGHBOURS]
            votes = vote_categories(
                categories[corpus_rows[voters]].tolist(), scores[i, voters].tolist()
            )
            if not votes:
                continue
            truth = categories[row]
            confidences.append(votes[0].confidence)
            right.append(votes[0].category == truth)
            in_top3.append(truth in {v.category for v in votes})
            if np.isnan(prices[row]):
                continue
            priced += 1
            nearest = corpus_rows[usable]
            same = nearest[(categories[nearest] == votes[0].category) & ~np.isnan(prices[nearest])]
            band = price_band(prices[same[:PRICE_NEIGHBOURS]].tolist())
            if band is None:
                continue
            banded += 1
            inside = band.low <= prices[row] <= band.high
            covered.append(inside)
            if right[-1]:
                covered_right.append(inside)
            if band.median > 0:
                widths.append((band.high - band.low) / band.median)
    conf = np.array(confidences)
    hits = np.array(right, dtype=bool)
    bins = _reliability(conf, hits)
    prefill = conf >= PREFILL_CONFIDENCE
    n = len(conf)
    return SuggestReport(
        catalog=catalog,
        embedder=embedder.identity,
        vector_space=space.id,
        rows=len(rows),
        categories=len(set(categories.tolist())),
        missing_images=missing,
        apart=apart,
        queries=n,
        catalog_products=len(corpus_rows),
        vote_neighbours=VOTE_NEIGHBOURS,
        top1_accuracy=float(hits.mean()) if n else 0.0,
        top3_accuracy=float(np.mean(in_top3)) if n else 0.0,
        calibration=bins,
        expected_calibration_error=sum(
            b.suggestions / n * abs(b.mean_confidence - b.accuracy) for b in bins
        )
        if n
        else 0.0,
        prefill_confidence=PREFILL_CONFIDENCE,
        prefill_share=float(prefill.mean()) if n else 0.0,
        prefill_accuracy=float(hits[prefill].mean()) if prefill.any() else None,
        price_neighbours=PRICE_NEIGHBOURS,
        min_price_neighbours=MIN_PRICE_NEIGHBOURS,
        priced_queries=priced,
        price_banded=banded,
        price_coverage=float(np.mean(covered)) if covered else None,
        price_coverage_right_category=float(np.mean(covered_right)) if covered_right else None,
        median_relative_band_width=float(np.median(widths)) if widths else None,
    )


def _reliability(
    confidences: npt.NDArray[np.float64], right: npt.NDArray[np.bool_]
) -> list[ReliabilityBin]:
    bins = []
    edges = CONFIDENCE_BINS
    for low, high in itertools.pairwise(edges):
        last = high == edges[-1]
        inside = (confidences >= low) & ((confidences <= high) if last else (confidences < high))
        if inside.any():
            bins.append(
                ReliabilityBin(
                    low,
                    high,
                    int(inside.sum()),
                    round(float(confidences[inside].mean()), 4),
                    round(float(right[inside].mean()), 4),
                )
            )
    return bins
