"""`soko-bench embed`: images/s and texts/s of every embedder that can run here.

Measured after one untimed warm-up batch, over whole batches of `SOKO_EMBED_BATCH_SIZE`.
`images_per_s` includes decoding the upload-sized JPEG bytes (`decode_image`), which every
image path pays; `decode_images_per_s` is the decoding alone.
A randomly initialised model with exactly the architecture of
google/siglip-base-patch16-224 stands in for SigLIP when its weights are not on the
machine: speed does not depend on the weights' values, so its figures are SigLIP's speed on
this hardware (its vectors are meaningless and are never used for anything else).
"""

from __future__ import annotations

import io
import json
import os
import platform
import random
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from soko.config import Settings
from soko.embedding import Embedder, SiglipEmbedder, decode_image
from soko.embedding.loader import load_effnet_minilm, load_siglip
from soko.errors import EmbedderUnavailable

#: Typical phone upload after a marketplace app's resize.
UPLOAD_SIZE = (1024, 768)

Report = Callable[[str], None]


def sample_images(n: int, seed: int = 0, size: tuple[int, int] = UPLOAD_SIZE) -> list[bytes]:
    """JPEG bytes of coloured shapes on a light background, deterministic."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        image = Image.new("RGB", size, tuple(rng.randint(200, 255) for _ in range(3)))
        draw = ImageDraw.Draw(image)
        for _ in range(12):
            x, y = rng.randint(0, size[0]), rng.randint(0, size[1])
            w, h = rng.randint(40, 400), rng.randint(40, 400)
            colour = tuple(rng.randint(0, 255) for _ in range(3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x, y, x + w, y + h), fill=colour)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        out.append(buffer.getvalue())
    return out


def sample_texts(n: int, seed: int = 0) -> list[str]:
    from soko_bench.random_siglip import product_titles

    titles = product_titles(max(n, 1), seed)
    extra = "Durable, easy to clean and delivered within 3 days in Nairobi and Mombasa."
    return [f"{title}. {extra}" if i % 2 else title for i, title in enumerate(titles)][:n]


def throughput(encode: Callable[[Sequence[Any]], Any], items: Sequence[Any], batch: int) -> float:
    """Items per second over `items`, after one untimed warm-up batch."""
    encode(items[:batch])
    started = time.perf_counter()
    for start in range(0, len(items), batch):
        encode(items[start : start + batch])
    return len(items) / (time.perf_counter() - started)


def bench_embedder(
    embedder: Embedder, jpegs: Sequence[bytes], texts: Sequence[str], batch: int, max_pixels: int
) -> dict[str, Any]:
    def decode_and_encode(items: Sequence[bytes]) -> Any:
        return embedder.encode_images([decode_image(b, max_pixels=max_pixels) for b in items])

    return {
        "identity": embedder.identity,
        "images_per_s": round(throughput(decode_and_encode, jpegs, batch), 2),
        "texts_per_s": round(throughput(embedder.encode_texts, texts, batch), 2),
        "images": len(jpegs),
        "texts": len(texts),
        "batch_size": batch,
    }


def run(
    settings: Settings,
    *,
    n_images: int,
    n_texts: int,
    random_siglip: bool,
    out_dir: Path,
    report: Report = lambda line: None,
) -> tuple[dict[str, Any], Path]:
    """Measure, write `embed-<UTC time>.json` under `out_dir`, and return (results, path)."""
    batch = settings.embed_batch_size
    jpegs = sample_images(n_images)
    started = time.perf_counter()
    for data in jpegs:
        decode_image(data, max_pixels=settings.max_image_pixels)
    decode_rate = len(jpegs) / (time.perf_counter() - started)
    report(f"decode_image: {decode_rate:.1f} images/s ({UPLOAD_SIZE[0]}x{UPLOAD_SIZE[1]} JPEG)")
    texts = sample_texts(n_texts)
    results: dict[str, Any] = {
        "benchmark": "embed",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": _machine(),
        "decode_images_per_s": round(decode_rate, 2),
        "embedders": {},
    }
    runs: list[tuple[str, Callable[[], Embedder]]] = [
        ("effnet-minilm", lambda: load_effnet_minilm(settings)),
        ("siglip", lambda: load_siglip(settings)),
    ]
    if random_siglip:
        runs.append(("siglip-base-random-weights", lambda: _random_base(settings)))
    for name, make in runs:
        try:
            embedder = make()
        except EmbedderUnavailable as exc:
            results["embedders"][name] = {"unavailable": str(exc)}
            report(f"{name}: not run ({exc})")
            continue
        figures = bench_embedder(embedder, jpegs, texts, batch, settings.max_image_pixels)
        if isinstance(embedder, SiglipEmbedder):
            figures["device"] = embedder.device
            figures["torch_threads"] = _torch_threads()
        results["embedders"][name] = figures
        report(
            f"{name}: {figures['images_per_s']} images/s, {figures['texts_per_s']} texts/s "
            f"({embedder.identity})"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = out_dir / f"embed-{stamp}.json"
    path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return results, path


def _random_base(settings: Settings) -> SiglipEmbedder:
    import tempfile

    from soko_bench.random_siglip import build_random_siglip

    try:
        with tempfile.TemporaryDirectory(prefix="siglip-base-random-") as folder:
            build_random_siglip(Path(folder), size="base")
            return SiglipEmbedder.load(
                folder, threads=settings.torch_threads, batch_size=settings.embed_batch_size
            )
    except ImportError as exc:
        raise EmbedderUnavailable(f"needs the siglip extra ({exc.name} missing)") from None


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        # Figures from a busy machine are lower; the load says how busy it was.
        "load_average_1_5_15m": [round(x, 2) for x in os.getloadavg()],
    }
