"""`soko eval-duplicates`: precision and recall of duplicate detection on real photos.

Every photo of the given folders is a catalog product. For each, a copy is made the way a
seller re-posts a picture: resized to 30-100 %, cropped by up to 15 % per side pair, with a
border sometimes, re-encoded as JPEG at quality 40-90 (or PNG, like a screenshot). Each copy
is an upload: its nearest catalog photos by image vector are the candidates (as
`find_duplicates_of_upload` gets them from Milvus), and every rule is scored on them:

- a true duplicate is the copy's own original; recall = copies whose original is flagged;
- every other flagged photo is a false positive. Photos in the same look-alike group are
  the hard negatives (grocery: the same product class shot separately; clothing, from a
  folder with metadata.csv: the same category from the same seller, i.e. the same person
  and background); the report counts those false positives apart.

The rule is `image cosine >= v, or hash distance <= h with image cosine >= w`, for each
hash kind, and the vector alone; the report gives each rule's thresholds with the highest
recall at each precision target.
"""

from __future__ import annotations

import csv
import io
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from soko.embedding import Embedder, read_image_file
from soko.embedding.fingerprint import HASH_KINDS, STORED_HASH, hash_distance, image_hash
from soko.errors import InvalidImage, InvalidInput

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp")
#: Thresholds tried: the cosine enough alone, the hash distance (of 64 bits), and the
#: cosine a close hash must come with.
VECTOR_GRID = tuple(round(0.80 + 0.01 * i, 2) for i in range(20))
HASH_GRID = tuple(range(21))
WITH_HASH_GRID = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass(frozen=True)
class Photo:
    path: Path
    #: Photos of the same group look alike without being the same picture (hard negatives).
    group: str


@dataclass(frozen=True)
class RuleScore:
    """A rule `cosine >= vector_alone or (hash distance <= max_hash_distance and cosine >=
    with_hash)` and how it did; `hash_kind` None: the vector alone."""

    hash_kind: str | None
    vector_alone: float
    max_hash_distance: int
    with_hash: float
    precision: float
    recall: float
    false_positives: int
    hard_false_positives: int


@dataclass
class DuplicateEvalReport:
    photos: int
    copies: int
    k: int
    #: Copies whose original was among the k candidates at all (the ceiling of recall).
    candidate_recall: float
    #: Per precision target and rule: the thresholds with the highest recall reaching it.
    best: list[tuple[float, RuleScore]] = field(default_factory=list)
    #: Recall of the chosen rule (the stored hash, the first target) per kind of copy.
    recall_by_edit: dict[str, float] = field(default_factory=dict)


def find_photos(folders: Sequence[Path]) -> list[Photo]:
    """Every photo under the folders, with its look-alike group (see the module doc)."""
    photos: list[Photo] = []
    for folder in folders:
        groups: dict[str, str] = {}
        meta = folder / "metadata.csv"
        if meta.is_file():
            with meta.open(newline="", encoding="utf-8") as f:
                for row in csv.DictReader(f):
                    name = Path(row.get("image_file") or "").name
                    groups[name] = f"{row.get('category', '')}/{row.get('seller_id', '')}"
        images = folder / "images" if (folder / "images").is_dir() else folder
        for path in sorted(images.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            # Without metadata: the file name up to its last "_" (Class-Name_004.jpg).
            group = groups.get(path.name) or path.stem.rsplit("_", 1)[0]
            photos.append(Photo(path, f"{folder.name}:{group}"))
    if not photos:
        raise InvalidInput("no photos found in the given folders")
    return photos


def make_copy(image: Image.Image, rng: random.Random) -> tuple[Image.Image, str]:
    """A re-posted copy of the photo, and what was done to it."""
    edits: list[str] = []
    width, height = image.size
    if rng.random() < 0.6:
        fx, fy = rng.uniform(0.02, 0.15), rng.uniform(0.02, 0.15)
        left, top = rng.uniform(0, fx), rng.uniform(0, fy)
        box = (
            round(width * left),
            round(height * top),
            round(width * (1 - (fx - left))),
            round(height * (1 - (fy - top))),
        )
        image = image.crop(box)
        edits.append("crop")
    scale = rng.uniform(0.3, 1.0)
    image = image.resize(
        (max(16, round(image.width * scale)), max(16, round(image.height * scale))),
        Image.Resampling.BICUBIC,
    )
    if scale < 0.95:
        edits.append("resize")
    if rng.random() < 0.3:
        pad = max(1, round(min(image.size) * rng.uniform(0.02, 0.08)))
        color = rng.choice([(255, 255, 255), (0, 0, 0), (240, 240, 240)])
        image = ImageOps.expand(image, border=pad, fill=color)
        edits.append("border")
    buffer = io.BytesIO()
    if rng.random() < 0.15:
        image.save(buffer, format="PNG")
        edits.append("png")
    else:
        image.save(buffer, format="JPEG", quality=rng.randint(40, 90))
        edits.append("jpeg")
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB"), "+".join(edits)


@dataclass
class _Features:
    """One row per (copy, candidate): the candidate's cosine and hash distances."""

    copy: npt.NDArray[np.int64]
    candidate: npt.NDArray[np.int64]
    cosine: npt.NDArray[np.float32]
    distance: dict[str, npt.NDArray[np.int64]]
    positive: npt.NDArray[np.bool_]
    hard: npt.NDArray[np.bool_]


def _hashes(images: Sequence[Image.Image]) -> dict[str, list[int]]:
    return {kind: [image_hash(img, kind) for img in images] for kind in HASH_KINDS}


def _score(
    f: _Features, copies: int, kind: str | None, alone: float, h: int, with_hash: float
) -> RuleScore:
    flagged = f.cosine >= alone
    if kind is not None:
        flagged = flagged | ((f.distance[kind] <= h) & (f.cosine >= with_hash))
    tp = int((flagged & f.positive).sum())
    fp = int((flagged & ~f.positive).sum())
    return RuleScore(
        hash_kind=kind,
        vector_alone=alone,
        max_hash_distance=h,
        with_hash=with_hash,
        precision=round(tp / (tp + fp), 4) if tp + fp else 1.0,
        recall=round(tp / copies, 4),
        false_positives=fp,
        hard_false_positives=int((flagged & ~f.positive & f.hard).sum()),
    )


def _best(scores: list[RuleScore], target: float) -> RuleScore:
    good = [s for s in scores if s.precision >= target] or scores
    return max(good, key=lambda s: (s.recall, s.precision))


def _flagged(f: _Features, rule: RuleScore) -> npt.NDArray[np.bool_]:
    flagged = f.cosine >= rule.vector_alone
    if rule.hash_kind is not None:
        hashed = f.distance[rule.hash_kind] <= rule.max_hash_distance
        flagged = flagged | (hashed & (f.cosine >= rule.with_hash))
    return flagged


def evaluate_duplicates(
    photos: Sequence[Photo],
    embedder: Embedder,
    *,
    k: int = 10,
    seed: int = 13,
    targets: Sequence[float] = (0.99, 0.95),
    batch_size: int = 32,
    max_image_bytes: int = 20_000_000,
    max_image_pixels: int = 50_000_000,
    progress: Progress | None = None,
) -> DuplicateEvalReport:
    """Measure every rule on one copy of each photo (see the module doc)."""
    rng = random.Random(seed)
    vectors: list[npt.NDArray[np.float32]] = []
    copy_vectors: list[npt.NDArray[np.float32]] = []
    hashes: dict[str, list[int]] = {kind: [] for kind in HASH_KINDS}
    copy_hashes: dict[str, list[int]] = {kind: [] for kind in HASH_KINDS}
    kept: list[Photo] = []
    edits: list[str] = []
    for start in range(0, len(photos), batch_size):
        part: list[Image.Image] = []
        copies: list[Image.Image] = []
        for photo in photos[start : start + batch_size]:
            try:
                image = read_image_file(
                    photo.path, max_bytes=max_image_bytes, max_pixels=max_image_pixels
                )
            except InvalidImage as exc:
                log.warning("skipped %s: %s", photo.path, exc)
                continue
            copy, edit = make_copy(image, rng)
            part.append(image)
            copies.append(copy)
            kept.append(photo)
            edits.append(edit)
        if part:
            vectors.append(embedder.encode_images(part))
            copy_vectors.append(embedder.encode_images(copies))
            for kind, values in _hashes(part).items():
                hashes[kind].extend(values)
            for kind, values in _hashes(copies).items():
                copy_hashes[kind].extend(values)
        if progress:
            progress(
                "embedding photos and copies", min(start + batch_size, len(photos)), len(photos)
            )
    if len(kept) < 2:
        raise InvalidInput("need at least two readable photos")
    catalog = np.concatenate(vectors)
    uploads = np.concatenate(copy_vectors)
    n = len(kept)
    k = min(k, n)
    similarity = uploads @ catalog.T
    top = np.argsort(-similarity, axis=1)[:, :k]
    rows = np.repeat(np.arange(n), k)
    cols = top.reshape(-1)
    groups = np.array([p.group for p in kept])
    features = _Features(
        copy=rows,
        candidate=cols,
        cosine=similarity[rows, cols].astype(np.float32),
        distance={
            kind: np.array(
                [
                    hash_distance(copy_hashes[kind][r], hashes[kind][c])
                    for r, c in zip(rows, cols, strict=True)
                ]
            )
            for kind in HASH_KINDS
        },
        positive=rows == cols,
        hard=groups[rows] == groups[cols],
    )
    report = DuplicateEvalReport(
        photos=n, copies=n, k=k, candidate_recall=float(features.positive.sum() / n)
    )
    sweeps: dict[str | None, list[RuleScore]] = {
        None: [_score(features, n, None, v, 0, 1.0) for v in VECTOR_GRID]
    }
    for kind in HASH_KINDS:
        sweeps[kind] = [
            _score(features, n, kind, v, h, w)
            for v in VECTOR_GRID
            for h in HASH_GRID
            for w in WITH_HASH_GRID
        ]
    for target in targets:
        for scores in sweeps.values():
            report.best.append((target, _best(scores, target)))
    chosen = _best(sweeps[STORED_HASH], targets[0])
    found = set(features.copy[_flagged(features, chosen) & features.positive].tolist())
    for edit in sorted(set(edits)):
        members = [i for i, e in enumerate(edits) if e == edit]
        report.recall_by_edit[f"{edit} ({len(members)})"] = round(
            sum(1 for i in members if i in found) / len(members), 3
        )
    return report
