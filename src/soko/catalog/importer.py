"""`soko import FILE`: CSV or JSON Lines catalogs, validated row by row.

A bad row is reported with its line number and reason and skipped; the good rows are
upserted in batches. A file that cannot be read as a whole (not UTF-8, a broken header) is
refused before any row is written, with the line at fault. A local `image_path` must be
inside the import's media root (soko.catalog.media): one that leads elsewhere, by `..`, a
symlink or an absolute path, is a bad row. Rows identical to what the catalog holds change
nothing (no version bump, so nothing is re-hydrated or re-ingested): re-importing a file is
a no-op.
"""

from __future__ import annotations

import codecs
import csv
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from soko.catalog.media import MediaRoots, confine
from soko.catalog.products import Catalog, ImportResult
from soko.catalog.schemas import ProductCreate, describe_validation_error
from soko.errors import InvalidInput

COLUMNS = (
    "product_id",
    "name",
    "description",
    "category",
    "price",
    "seller_id",
    "image_url",
    "image_path",
)
REQUIRED = frozenset({"product_id", "name", "category", "price", "seller_id"})
FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl"}
BATCH_SIZE = 1000


@dataclass(frozen=True)
class RowProblem:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


@dataclass
class ImportReport:
    rows: int = 0
    result: ImportResult = field(default_factory=ImportResult)
    problems: list[RowProblem] = field(default_factory=list)


def detect_format(path: Path, given: str | None) -> str:
    if given:
        if given not in {"csv", "jsonl"}:
            raise InvalidInput(f"unknown format {given!r}: use csv or jsonl", field="format")
        return given
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"{path.name}: cannot tell the format from the extension; use .csv or .jsonl, "
            "or pass --format"
        )
    return fmt


def count_lines(path: Path) -> int:
    lines = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    return lines + (last != b"\n")


def _csv_records(handle: Any, path: Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    reader = csv.reader(handle, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise InvalidInput(f"{path.name} is empty: expected a header line") from None
    header = [name.strip() for name in header]
    unknown = [name for name in header if name not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"{path.name}: unknown column(s) {', '.join(map(repr, unknown))} in the header; "
            f"expected columns: {', '.join(COLUMNS)}"
        )
    missing = sorted(REQUIRED - set(header))
    if missing:
        raise InvalidInput(f"{path.name}: the header lacks required column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise InvalidInput(f"{path.name}: a column appears twice in the header")
    end = reader.line_num
    while True:
        start = end + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            end = reader.line_num
            yield start, f"malformed CSV: {exc}"
            continue
        end = reader.line_num
        if not values or values == [""]:
            continue
        if len(values) != len(header):
            yield start, f"expected {len(header)} fields, got {len(values)}"
            continue
        # An empty optional cell means "not given"; an empty required one is reported as such.
        yield (
            start,
            {k: v for k, v in zip(header, values, strict=True) if k in REQUIRED or v.strip()},
        )


def _jsonl_records(handle: Any) -> Iterator[tuple[int, dict[str, Any] | str]]:
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, f"invalid JSON: {exc.msg} at column {exc.colno}"
            continue
        if not isinstance(value, dict):
            yield number, f"expected a JSON object, got {type(value).__name__}"
            continue
        yield number, value


def check_utf8(path: Path) -> None:
    """Raise `InvalidInput` naming the line, column and file offset of the first byte that is
    not UTF-8. Run before importing, so such a file imports nothing rather than the rows
    before the bad byte."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset, line, line_start = 0, 1, 0
    try:
        with path.open("rb") as handle:
            while chunk := handle.read(1 << 20):
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    before = chunk[: exc.start]
                    bad_line = line + before.count(b"\n")
                    newline = before.rfind(b"\n")
                    start = offset + newline + 1 if newline >= 0 else line_start
                    position = offset + exc.start
                    raise InvalidInput(
                        f"{path.name}: line {bad_line} is not UTF-8 text (byte {position + 1} of "
                        f"the file, column {position - start + 1}); nothing was imported. "
                        "Save the file as UTF-8 and import it again"
                    ) from None
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    line_start = offset + newline + 1
                line += chunk.count(b"\n")
                offset += len(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{path.name}: the file ends inside a UTF-8 character (line {line}); nothing was "
            "imported"
        ) from None
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a catalog file") from None


def read_records(path: Path, fmt: str) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, raw record or a problem) for every non-blank record of the file."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            if fmt == "csv":
                yield from _csv_records(handle, path)
            else:
                yield from _jsonl_records(handle)
    except UnicodeDecodeError:  # check_utf8 comes first; this is only a file changed meanwhile
        raise InvalidInput(f"{path.name} is not UTF-8 text (it changed while importing)") from None
    except FileNotFoundError:
        raise InvalidInput(f"{path} does not exist") from None
    except IsADirectoryError:
        raise InvalidInput(f"{path} is a folder, not a catalog file") from None


def _confine_image_path(product: ProductCreate, base: Path, root: Path) -> ProductCreate:
    """The product with its image path resolved (relative to `base`) and checked to be
    inside `root`; InvalidInput or ValidationError (e.g. too long once resolved) if not."""
    if not product.image_path:
        return product
    real = confine(base / product.image_path, root)
    return ProductCreate.model_validate({**product.model_dump(), "image_path": str(real)})


def import_file(
    catalog: Catalog,
    path: Path,
    *,
    fmt: str | None = None,
    media_root: Path | None = None,
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate and upsert every row of a catalog file. Relative image paths are resolved
    against the file's folder; a path outside `media_root` (default: that folder) is a bad
    row. The root is recorded before the first local image path is stored (soko.catalog.media).
    """
    fmt = detect_format(path, fmt)
    check_utf8(path)
    report = ImportReport()
    first_line: dict[int, int] = {}
    batch: list[ProductCreate] = []
    base = path.resolve().parent
    root = (media_root or base).resolve()
    root_recorded = False
    last_line = 0

    def flush() -> None:
        nonlocal root_recorded
        if batch:
            if not root_recorded and any(p.image_path for p in batch):
                MediaRoots(catalog).record(root)
                root_recorded = True
            report.result.add(catalog.import_products(batch))
            batch.clear()
        if on_progress:
            on_progress(last_line)

    for line, record in read_records(path, fmt):
        last_line = line
        report.rows += 1
        if isinstance(record, str):
            report.problems.append(RowProblem(line, record))
            continue
        unknown = sorted(set(record) - set(COLUMNS))
        if unknown and fmt == "jsonl":
            report.problems.append(RowProblem(line, f"unknown field(s) {', '.join(unknown)}"))
            continue
        try:
            product = _confine_image_path(ProductCreate.model_validate(record), base, root)
        except ValidationError as exc:
            report.problems.append(RowProblem(line, describe_validation_error(exc)))
            continue
        except InvalidInput as exc:
            report.problems.append(RowProblem(line, str(exc)))
            continue
        seen = first_line.setdefault(product.product_id, line)
        if seen != line:
            report.problems.append(
                RowProblem(line, f"product_id {product.product_id} already given on line {seen}")
            )
            continue
        batch.append(product)
        if len(batch) >= batch_size:
            flush()
    flush()
    return report
