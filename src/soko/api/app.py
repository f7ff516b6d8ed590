"""The FastAPI app: built by `create_app(settings)`, never at import time.

The lifespan connects the catalog, the embedder and Milvus once per process and, unless told
not to, runs the sync worker (hydrate + ingest) in a background thread: with Milvus Lite only
one process may open the database file, so `soko serve` is that process.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from soko import __version__
from soko.api.deps import Services
from soko.api.errors import install_error_handlers
from soko.api.metrics import Metrics, ObserveRequests
from soko.api.routes import ops, products, search
from soko.api.strict import BodyLimit
from soko.catalog import Catalog
from soko.config import Settings
from soko.embedding import load_embedder, vector_space_id
from soko.search import SearchService
from soko.sync import SyncWorker
from soko.vectorstore import VectorStore

log = logging.getLogger(__name__)

#: Room for the multipart envelope and form fields around the image itself.
FORM_OVERHEAD_BYTES = 64 * 1024
WEB = resources.files("soko.api") / "web"


def build_services(settings: Settings, metrics: Metrics) -> Services:
    catalog = Catalog.connect(settings.database_url)
    try:
        embedder = load_embedder(settings)
        space = vector_space_id(embedder.identity, settings.image_weight, settings.text_weight)
        store = VectorStore.connect(settings, space)
    except BaseException:
        catalog.close()
        raise
    search = SearchService(
        store, embedder, image_weight=settings.image_weight, text_weight=settings.text_weight
    )
    metrics.track_ingest_lag(lambda: catalog.counts().pending)
    return Services(settings, catalog, store, embedder, search, metrics)


def create_app(settings: Settings, *, run_worker: bool = True) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = await run_in_threadpool(build_services, settings, metrics)
        app.state.services = services
        stop = threading.Event()
        worker: threading.Thread | None = None
        if run_worker:
            sync = SyncWorker(settings, services.catalog, services.embedder, store=services.store)
            services.sync = sync.status
            worker = threading.Thread(
                target=sync.follow, args=(stop,), name="soko-sync", daemon=True
            )
            worker.start()
        log.info("serving %s with embedder %s", services.store.name, services.embedder.identity)
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=30)
                sync.close()
            services.close()

    app = FastAPI(
        title="Soko visual search",
        version=__version__,
        description="Products similar to a product, a photo or words.",
        lifespan=lifespan,
    )
    install_error_handlers(app, metrics)
    app.add_middleware(BodyLimit, max_bytes=settings.max_image_bytes + FORM_OVERHEAD_BYTES)

    app.add_middleware(ObserveRequests, metrics=metrics)

    app.include_router(search.router)
    app.include_router(products.router)
    app.include_router(ops.router)
    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(WEB / "index.html"))

    return app
