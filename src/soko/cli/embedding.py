"""Embeddings from the command line: one product's vectors, retrieval quality."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from soko.cli.app import Bars, app, application, out, progress_bars
from soko.errors import InvalidInput


@app.command()
def embed(
    image: Annotated[
        Path | None, typer.Option("--image", help="Product photo (JPEG, PNG, WebP, ...).")
    ] = None,
    text: Annotated[str | None, typer.Option("--text", help="Product name and description.")] = (
        None
    ),
    values: Annotated[int, typer.Option(min=1, max=768, help="Values shown per vector.")] = 8,
) -> None:
    """Embed one photo and/or text; print the embedder id and the image, text and hybrid vectors."""
    if image is None and (text is None or not text.strip()):
        raise InvalidInput("give --image PATH, --text TEXT, or both")
    with application() as soko:
        image_vector, text_vector, hybrid = soko.embed(image, text)
        out.print(f"embedder: {soko.embedder.identity} ({soko.space.dim} dimensions)")
        out.print(f"vector space: {soko.space.id}")
    for label, vector in (("image", image_vector), ("text", text_vector), ("hybrid", hybrid)):
        if vector is None:
            out.print(f"{label}: - (no {label} given)")
        else:
            # From the first non-zero value: block-layout embedders (effnet-minilm) keep
            # image and text in separate halves, so a text vector starts with 384 zeros.
            nonzero = np.flatnonzero(vector[0])
            start = int(nonzero[0]) if nonzero.size else 0
            shown = ", ".join(f"{v:+.4f}" for v in vector[0, start : start + values])
            norm = float(np.linalg.norm(vector[0]))
            out.print(f"{label}: [{shown}, ...] from dimension {start}, norm={norm:.4f}")


@app.command("eval")
def eval_catalog(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV (name, category, image_file, ...).")],
    group_column: Annotated[
        str, typer.Option(help="Column grouping photos of one product (used if present).")
    ] = "class_name",
    image_column: Annotated[str, typer.Option(help="Column with image paths.")] = "image_file",
    k: Annotated[int, typer.Option(min=1, max=100, help="Neighbours per query.")] = 10,
    apart: Annotated[
        str | None,
        typer.Option(
            help="Keep this column's values apart: queries from half of them, the catalog "
            "from the other half (e.g. seller_id: the photographer)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Retrieval quality on a labelled catalog: category precision@k, same-product hit rate@k."""
    with application() as soko, progress_bars() as bars:
        report, used_group = soko.evaluate(
            catalog,
            image_column=image_column,
            group_column=group_column,
            k=k,
            apart_column=apart,
            progress=Bars(bars),
        )
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    groups = f", {report.groups} products grouped by {used_group}" if report.groups else ""
    out.print(f"catalog: {catalog} ({report.rows} rows, {report.categories} categories{groups})")
    out.print(f"embedder: {report.vector_space}")
    if report.apart:
        out.print(f"queries and catalog from different {report.apart} values")
    if report.missing_images:
        out.print(f"rows without a readable image: {report.missing_images}")
    out.print(
        f"{'variant':<15}{'queries':>8}{f'cat P@{k}':>11}{'ceiling':>9}"
        f"{f'same hit@{k}':>13}{f'same R@{k}':>11}"
    )
    for v in report.variants:
        hit, recall = (
            "-" if x is None else f"{x:.3f}"
            for x in (v.same_product_hit_rate, v.same_product_recall)
        )
        out.print(
            f"{v.name:<15}{v.queries:>8}{v.precision_at_k:>11.3f}{v.precision_ceiling:>9.3f}"
            f"{hit:>13}{recall:>11}"
        )


@app.command("eval-suggest")
def eval_suggest(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV (category, image_file, price...).")],
    image_column: Annotated[str, typer.Option(help="Column with image paths.")] = "image_file",
    apart: Annotated[
        str | None,
        typer.Option(
            help="Keep this column's values apart: query photos from half of them, the catalog "
            "from the other half (e.g. seller_id: a new seller's photos)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Listing suggestions on a labelled catalog: category top-1/top-3 accuracy, confidence
    calibration, price-band coverage (where the CSV has prices)."""
    with application() as soko, progress_bars() as bars:
        report = soko.evaluate_suggestions(
            catalog, image_column=image_column, apart_column=apart, progress=Bars(bars)
        )
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    out.print(f"catalog: {catalog} ({report.rows} rows, {report.categories} categories)")
    out.print(f"embedder: {report.vector_space}")
    if report.apart:
        out.print(f"queries and catalog from different {report.apart} values")
    out.print(
        f"{report.queries} query photos against {report.catalog_products} products, "
        f"{report.vote_neighbours} neighbours vote"
    )
    out.print(f"category top-1 {report.top1_accuracy:.3f}  top-3 {report.top3_accuracy:.3f}")
    out.print(f"{'confidence':<12}{'photos':>8}{'mean conf':>11}{'right':>8}")
    for b in report.calibration:
        out.print(
            f"{f'{b.low:.1f}-{b.high:.1f}':<12}{b.suggestions:>8}"
            f"{b.mean_confidence:>11.3f}{b.accuracy:>8.3f}"
        )
    prefill = "-" if report.prefill_accuracy is None else f"{report.prefill_accuracy:.3f}"
    out.print(
        f"confidence >= {report.prefill_confidence:g}: {report.prefill_share:.1%} of photos, "
        f"right {prefill}; calibration error {report.expected_calibration_error:.3f}"
    )
    if report.price_coverage is None:
        out.print("price band: not measured (no query has a price)")
    else:
        out.print(
            f"price band (quartiles of the {report.price_neighbours} nearest in the top "
            f"category): given for {report.price_banded}/{report.priced_queries}, real price "
            f"inside {report.price_coverage:.3f}, median width "
            f"{report.median_relative_band_width or 0:.2f} x median"
        )


@app.command("eval-duplicates")
def eval_duplicates(
    folders: Annotated[
        list[Path], typer.Argument(help="Photo folders (with images/ and metadata.csv, or flat).")
    ],
    k: Annotated[int, typer.Option(min=1, max=100, help="Candidates per upload.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the copies' random edits.")] = 13,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Duplicate detection on re-posted copies of real photos: precision, recall, thresholds."""
    with application() as soko, progress_bars() as bars:
        report = soko.evaluate_duplicates(folders, k=k, seed=seed, progress=Bars(bars))
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    out.print(
        f"{report.photos} photos, one copy each; {report.k} candidates per copy "
        f"(original among them: {report.candidate_recall:.3f})"
    )
    out.print(
        f"{'target':>7} {'hash':<6}{'cos alone':>10}{'hash <=':>8}{'& cos':>7}"
        f"{'precision':>10}{'recall':>8}{'FP':>5}{'hard FP':>8}"
    )
    for target, r in report.best:
        kind = r.hash_kind or "-"
        hashed = "-" if r.hash_kind is None else str(r.max_hash_distance)
        with_hash = "-" if r.hash_kind is None else f"{r.with_hash:.2f}"
        out.print(
            f"{target:>7.2f} {kind:<6}{r.vector_alone:>10.2f}{hashed:>8}{with_hash:>7}"
            f"{r.precision:>10.3f}{r.recall:>8.3f}{r.false_positives:>5}{r.hard_false_positives:>8}"
        )
    out.print("recall of the stored hash's rule by kind of copy:")
    for edit, recall in report.recall_by_edit.items():
        out.print(f"  {edit}: {recall:.3f}")
