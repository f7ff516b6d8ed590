"""Embeddings from the command line: one product's vectors, retrieval quality."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.progress import (
    TaskID,
)

from soko.cli.app import (
    _progress,
    app,
    out,
    settings_from_env,
)
from soko.errors import (
    InvalidInput,
)


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
    from soko.embedding import fuse, load_embedder, read_image_file, vector_space_id

    if image is None and (text is None or not text.strip()):
        raise InvalidInput("give --image PATH, --text TEXT, or both")
    settings = settings_from_env()
    embedder = load_embedder(settings)
    image_vector = text_vector = None
    if image is not None:
        photo = read_image_file(
            image, max_bytes=settings.max_image_bytes, max_pixels=settings.max_image_pixels
        )
        image_vector = embedder.encode_images([photo])
    if text is not None and text.strip():
        text_vector = embedder.encode_texts([text])
    hybrid = fuse(image_vector, text_vector, settings.image_weight, settings.text_weight)
    out.print(f"embedder: {embedder.identity} ({embedder.dim} dimensions)")
    space = vector_space_id(embedder.identity, settings.image_weight, settings.text_weight)
    out.print(f"vector space: {space}")
    for label, vector in (("image", image_vector), ("text", text_vector), ("hybrid", hybrid)):
        if vector is None:
            out.print(f"{label}: - (no {label} given)")
        else:
            shown = ", ".join(f"{v:+.4f}" for v in vector[0, :values])
            out.print(f"{label}: [{shown}, ...] norm={float(np.linalg.norm(vector[0])):.4f}")


@app.command("eval")
def eval_catalog(
    catalog: Annotated[Path, typer.Argument(help="Catalog CSV (name, category, image_file, ...).")],
    group_column: Annotated[
        str, typer.Option(help="Column grouping photos of one product (used if present).")
    ] = "class_name",
    image_column: Annotated[str, typer.Option(help="Column with image paths.")] = "image_file",
    k: Annotated[int, typer.Option(min=1, max=100, help="Neighbours per query.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Retrieval quality on a labelled catalog: category precision@k, same-product hit rate@k."""
    from soko.embedding import load_embedder
    from soko.evaluation import evaluate, read_catalog

    settings = settings_from_env()
    rows, used_group = read_catalog(catalog, image_column=image_column, group_column=group_column)
    embedder = load_embedder(settings)
    with _progress() as bar:
        tasks: dict[str, TaskID] = {}

        def progress(what: str, done: int, total: int) -> None:
            if what not in tasks:
                tasks[what] = bar.add_task(f"embedding {what}", total=total)
            bar.update(tasks[what], completed=done)

        report = evaluate(
            rows,
            embedder,
            catalog=str(catalog),
            image_weight=settings.image_weight,
            text_weight=settings.text_weight,
            batch_size=settings.embed_batch_size,
            max_image_bytes=settings.max_image_bytes,
            max_image_pixels=settings.max_image_pixels,
            k=k,
            progress=progress,
        )
    if as_json:
        out.print_json(json.dumps(asdict(report)))
        return
    groups = f", {report.groups} products grouped by {used_group}" if report.groups else ""
    out.print(f"catalog: {catalog} ({report.rows} rows, {report.categories} categories{groups})")
    out.print(f"embedder: {report.vector_space}")
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
