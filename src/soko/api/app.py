"""The FastAPI app: built by `create_app(settings)`, never at import time.

The lifespan opens the application (`Soko`) once per process, loads the embedder and the
collection before the first request, and, unless told not to, runs the sync worker (hydrate
+ ingest) in a background thread: with Milvus Lite only one process may open the database
file, so `soko serve` is that process.
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
from soko.api.deps import AppState
from soko.api.errors import install_error_handlers
from soko.api.metrics import Metrics, ObserveRequests
from soko.api.routes import listings, ops, products, search
from soko.api.strict import BodyLimit
from soko.app import Soko
from soko.config import Settings

log = logging.getLogger(__name__)

#: Room for the multipart envelope and form fields around the image itself.
FORM_OVERHEAD_BYTES = 64 * 1024
WEB = resources.files("soko.api") / "web"


def open_application(settings: Settings) -> Soko:
    """The application with everything a request needs already built."""
    soko = Soko.open(settings)
    try:
        soko.search  # noqa: B018  (loads the embedder and connects the collection now)
    except BaseException:
        soko.close()
        raise
    return soko


def create_app(settings: Settings, *, run_worker: bool = True) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        soko = await run_in_threadpool(open_application, settings)
        state = AppState(soko, metrics)
        app.state.soko = state
        metrics.track_ingest_lag(soko.pending_count)
        stop = threading.Event()
        worker: threading.Thread | None = None
        sync = soko.sync_worker() if run_worker else None
        if sync is not None:
            state.sync = sync.status
            worker = threading.Thread(
                target=sync.follow, args=(stop,), name="soko-sync", daemon=True
            )
            worker.start()
        log.info("serving %s with embedder %s", settings.collection_name, soko.space.id)
        try:
            yield
        finally:
            stop.set()
            if worker is not None and sync is not None:
                worker.join(timeout=30)
                sync.close()
            soko.close()

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
    app.include_router(listings.router)
    app.include_router(products.router)
    app.include_router(ops.router)
    app.mount("/static", StaticFiles(directory=str(WEB)), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(str(WEB / "index.html"))

    return app
