"""`load_embedder`: the embedder `SOKO_EMBEDDER` asks for (`auto`, `siglip` or `baseline`)."""

from __future__ import annotations

import logging

from soko.config import EmbedderChoice, Settings
from soko.embedding.base import Embedder
from soko.embedding.baseline import BaselineEmbedder
from soko.embedding.siglip import SiglipEmbedder
from soko.embedding.space import DIM
from soko.errors import EmbedderUnavailable

log = logging.getLogger(__name__)


def load_embedder(settings: Settings) -> Embedder:
    """SigLIP or the offline baseline; `auto` falls back to baseline, saying why."""
    if settings.embedder is EmbedderChoice.BASELINE:
        embedder: Embedder = BaselineEmbedder()
    elif settings.embedder is EmbedderChoice.SIGLIP:
        embedder = load_siglip(settings)
    else:
        try:
            embedder = load_siglip(settings)
        except EmbedderUnavailable as exc:
            log.warning(
                "SOKO_EMBEDDER=auto: SigLIP is not available, so the offline `baseline` "
                "embedder is used (it matches colours, shapes and words, not meaning): %s",
                exc,
            )
            embedder = BaselineEmbedder()
    log.info("embedder %s (%d dimensions)", embedder.identity, embedder.dim)
    return embedder


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
