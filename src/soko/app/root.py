"""`Soko`: the composition root. Built once per process from `Settings`; nothing else wires.

The API's lifespan, every CLI command and the tests open one `Soko` and call its use cases.
It builds each part once, when first needed: the catalog at once (cheap), the embedder and
its vector space when a command embeds or searches (SigLIP takes seconds to load), the
collection when a command touches Milvus. `close()` releases what was built.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from soko.app.duplicate_eval import DuplicateEvalReport, evaluate_duplicates, find_photos
from soko.app.duplicates import DuplicateFinder
from soko.app.evaluation import (
    EvalReport,
    SuggestReport,
    evaluate,
    evaluate_suggestions,
    read_catalog,
)
from soko.app.health import Health
from soko.app.hydrate import Hydrator
from soko.app.ingest import IngestWorker
from soko.app.listings import ListingAdvisor
from soko.app.reconcile import ReconcileReport, reconcile
from soko.app.reindex import ReindexResult, reindex
from soko.app.search import SearchService
from soko.app.sync import SyncStatus, SyncWorker, follow
from soko.catalog import (
    Catalog,
    HydrateFailures,
    HydrateQueue,
    ImportReport,
    IngestQueue,
    MediaRoots,
    Product,
    SpaceRecord,
    import_file,
    servable,
)
from soko.config import Settings
from soko.embedding import DIM, Embedder, VectorSpace, load_embedder, read_image_file
from soko.embedding.base import FloatMatrix
from soko.errors import InvalidInput, SokoError
from soko.vectorstore import StoreStats, VectorStore

log = logging.getLogger(__name__)

T = TypeVar("T")
#: (what, done so far, total or None): long work reports progress through one of these.
Progress = Callable[[str, int, int | None], None]


class Soko:
    """The application: the catalog, the embedder, the collection, and the use cases."""

    def __init__(self, settings: Settings, catalog: Catalog) -> None:
        self.settings = settings
        self.catalog = catalog
        self._parts: dict[str, Any] = {}
        self._stores: dict[str, VectorStore] = {}
        self._lock = threading.RLock()

    @classmethod
    def open(cls, settings: Settings) -> Soko:
        """Connect the catalog (migrating it if needed); the rest is built on first use."""
        return cls(settings, Catalog.connect(settings.database_url))

    def close(self) -> None:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
            inspector = self._parts.pop("inspector", None)
        for store in stores:
            store.close()
        if inspector is not None:
            inspector.close()
        self.catalog.close()

    def __enter__(self) -> Soko:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _once(self, name: str, build: Callable[[], T]) -> T:
        with self._lock:
            if name not in self._parts:
                self._parts[name] = build()
            value: T = self._parts[name]
            return value

    # --- parts -----------------------------------------------------------------------------
    @property
    def embedder(self) -> Embedder:
        return self._once("embedder", lambda: load_embedder(self.settings))

    @property
    def space(self) -> VectorSpace:
        """The vector space this process writes and queries."""
        return self._once("space", lambda: VectorSpace.of(self.embedder, self.settings))

    @property
    def store(self) -> VectorStore:
        """The collection, checked to hold vectors of the running space."""
        return self.store_for(self.space.id, dim=self.space.dim)

    def store_for(self, space_id: str, *, dim: int = DIM) -> VectorStore:
        """The collection, checked to hold vectors of `space_id` (opened once per id)."""
        with self._lock:
            if space_id not in self._stores:
                self._stores[space_id] = VectorStore.connect(self.settings, space_id, dim=dim)
            return self._stores[space_id]

    @property
    def search(self) -> SearchService:
        return self._once(
            "search", lambda: SearchService(self.catalog, self.store, self.embedder, self.space)
        )

    @property
    def listings(self) -> ListingAdvisor:
        """Seller tools: suggestions for a new listing (category, price band, similar)."""
        return self._once("listings", lambda: ListingAdvisor(self.search, self.duplicates))

    @property
    def duplicates(self) -> DuplicateFinder:
        """Duplicate listings: of an upload, of a product, the catalog's pairs."""
        return self._once(
            "duplicates",
            lambda: DuplicateFinder(self.catalog, self.store, self.embedder, self.space),
        )

    # --- use cases -------------------------------------------------------------------------
    def import_file(
        self, path: Path, *, fmt: str | None = None, progress: Progress | None = None
    ) -> ImportReport:
        """Validate and upsert a catalog file (CSV or JSON Lines)."""
        from soko.catalog.importer import count_lines

        total = count_lines(path) if path.is_file() else None
        return import_file(
            self.catalog,
            path,
            fmt=fmt,
            media_root=self.settings.media_root,
            on_progress=(lambda line: progress("importing", line, total)) if progress else None,
        )

    def local_image(self, product: Product) -> Path | None:
        """The product's local photo file, if it is inside the media roots now (SOKO_MEDIA_ROOT
        when set, else the folders imports recorded); None otherwise."""
        if not product.image_path:
            return None
        roots = MediaRoots(self.catalog).allowed(self.settings.media_root)
        return servable(product.image_path, roots)

    def hydrator(self) -> Hydrator:
        return Hydrator(self.settings, self.catalog, self.embedder, self.space)

    def ingest_worker(
        self, *, batch_size: int | None = None, in_flight: int | None = None
    ) -> IngestWorker:
        """A worker writing into the collection of the catalog's vector space (the embedder
        is not loaded: ingesting needs only the stored vectors)."""
        return IngestWorker(
            self.settings,
            self.catalog,
            self.store_for,
            batch_size=batch_size,
            in_flight=in_flight,
        )

    def pending_count(self) -> int:
        return IngestQueue(self.catalog).pending_count()

    def sync_worker(
        self, *, batch_size: int | None = None, in_flight: int | None = None
    ) -> SyncWorker:
        return SyncWorker(
            self.hydrator(),
            self.ingest_worker(batch_size=batch_size, in_flight=in_flight),
            poll_s=self.settings.ingest_poll_s,
        )

    def follow_ingest(self, worker: IngestWorker, stop: threading.Event, **run: Any) -> None:
        """`soko ingest --follow`: the sync loop around ingest alone; stops on lasting errors."""

        def round_() -> None:
            worker.run(stop=stop, **run)

        follow(
            round_,
            stop,
            poll_s=self.settings.ingest_poll_s,
            status=SyncStatus(),
            keep_going=False,
        )

    def reconcile(self, *, dry_run: bool = False) -> ReconcileReport | None:
        """Compare the catalog with Milvus and repair drift; None when there are no vectors."""
        space_id = self.catalog_space()
        if space_id is None:
            return None
        return reconcile(self.catalog, self.store_for(space_id), dry_run=dry_run)

    def catalog_space(self) -> str | None:
        """The vector space of the catalog's stored vectors (None before the first)."""
        return SpaceRecord(self.catalog).get()

    def reindex(self, *, confirm: Callable[[str], None]) -> ReindexResult:
        with self._lock:
            stores, self._stores = list(self._stores.values()), {}
        for store in stores:  # the collection is about to be dropped
            store.close()
        return reindex(self.settings, self.catalog, self.space, confirm=confirm)

    def rebuild_index(self, *, nlist: int | None = None) -> dict[str, Any]:
        """Drop and re-create the vector index, wait until it is built, reload; its info."""
        store = self._inspector()
        if not store.exists():
            raise InvalidInput(f"collection {store.name!r} does not exist yet")
        store.rebuild_index(nlist=nlist)
        return {**store.index_info(), "params": store.spec.index_build_params()}

    def embed(
        self, image: Path | None, text: str | None
    ) -> tuple[FloatMatrix | None, FloatMatrix | None, FloatMatrix]:
        """One product's image, text and hybrid vectors (`soko embed`)."""
        if image is None and (text is None or not text.strip()):
            raise InvalidInput("give --image PATH, --text TEXT, or both")
        s = self.settings
        image_vector = text_vector = None
        if image is not None:
            photo = read_image_file(
                image, max_bytes=s.max_image_bytes, max_pixels=s.max_image_pixels
            )
            image_vector = self.embedder.encode_images([photo])
        if text is not None and text.strip():
            text_vector = self.embedder.encode_texts([text])
        return image_vector, text_vector, self.space.fuse(image_vector, text_vector)

    def evaluate(
        self,
        path: Path,
        *,
        image_column: str,
        group_column: str | None,
        k: int,
        apart_column: str | None = None,
        progress: Progress | None = None,
    ) -> tuple[EvalReport, str | None]:
        """Retrieval quality of the running embedder on a labelled catalog CSV (queries and
        catalog from different `apart_column` values, if given)."""
        rows, used_group = read_catalog(
            path, image_column=image_column, group_column=group_column, apart_column=apart_column
        )
        s = self.settings
        report = evaluate(
            rows,
            self.embedder,
            self.space,
            catalog=str(path),
            batch_size=s.embed_batch_size,
            max_image_bytes=s.max_image_bytes,
            max_image_pixels=s.max_image_pixels,
            k=k,
            apart=apart_column,
            progress=progress,
        )
        return report, used_group

    def evaluate_suggestions(
        self,
        path: Path,
        *,
        image_column: str,
        apart_column: str | None = None,
        progress: Progress | None = None,
    ) -> SuggestReport:
        """The listing suggestions' quality on a labelled catalog CSV: category accuracy and
        calibration, and the price band's coverage where the CSV has prices."""
        rows, _ = read_catalog(
            path, image_column=image_column, group_column=None, apart_column=apart_column
        )
        s = self.settings
        return evaluate_suggestions(
            rows,
            self.embedder,
            self.space,
            catalog=str(path),
            batch_size=s.embed_batch_size,
            max_image_bytes=s.max_image_bytes,
            max_image_pixels=s.max_image_pixels,
            apart=apart_column,
            progress=progress,
        )

    def evaluate_duplicates(
        self, folders: list[Path], *, k: int, seed: int, progress: Progress | None = None
    ) -> DuplicateEvalReport:
        """Duplicate detection's precision and recall on copies of the folders' photos."""
        s = self.settings
        return evaluate_duplicates(
            find_photos(folders),
            self.embedder,
            k=k,
            seed=seed,
            batch_size=s.embed_batch_size,
            max_image_bytes=s.max_image_bytes,
            max_image_pixels=s.max_image_pixels,
            progress=progress,
        )

    def health(self, *, sync: SyncStatus | None = None) -> Health:
        """Milvus, the catalog and the embedder, each checked on its own."""
        milvus: StoreStats | SokoError
        try:
            milvus = self._inspector().stats()
        except SokoError as exc:
            milvus = exc
        counts: Any
        failures: HydrateFailures | None = None
        try:
            counts = self.catalog.counts()
            failures = HydrateQueue(self.catalog).failures()
        except SokoError as exc:
            counts = exc
        space: str | SokoError | None = None
        # The embedder takes seconds to load: not just to report that Milvus is down.
        if "space" in self._parts or not isinstance(milvus, SokoError):
            try:
                space = self.space.id
            except SokoError as exc:
                space = exc
        return Health(self.settings.collection_name, milvus, counts, space, sync, failures)

    def _inspector(self) -> VectorStore:
        """A connection for stats, whatever space the collection holds."""
        with self._lock:
            for store in self._stores.values():
                return store
        return self._once("inspector", lambda: VectorStore.open_existing(self.settings))
