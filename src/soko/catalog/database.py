"""Engines for the catalog database (SQLite by default, PostgreSQL at scale) and migrations.

SQLite runs in WAL mode so that readers (the API) never wait for the writer (an import, the
ingest worker). Write transactions that read first start with `BEGIN IMMEDIATE`: a deferred
transaction that later upgrades to a write lock fails at once with SQLITE_BUSY when another
writer committed in between, whatever the busy timeout.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, OperationalError

from soko.errors import CatalogUnavailable, ConfigError

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).parent / "migrations"
#: Seconds a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 30.0
#: Execution option asking for `BEGIN IMMEDIATE` on SQLite (ignored elsewhere).
IMMEDIATE = "soko_begin_immediate"


def parse_url(database_url: str) -> URL:
    """The URL SQLAlchemy should use; plain `postgresql://` means psycopg 3 (installed)."""
    try:
        url = make_url(database_url)
    except ArgumentError:
        raise ConfigError(
            "DATABASE_URL: expected e.g. sqlite:///./data/catalog.db or postgresql://user@host/db"
        ) from None
    if url.drivername in {"postgresql", "postgres"}:
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in {"sqlite", "postgresql"}:
        raise ConfigError(f"DATABASE_URL: unsupported database {url.get_backend_name()!r}")
    return url


def safe_url(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def create_catalog_engine(database_url: str) -> Engine:
    url = parse_url(database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url)
    try:
        return create_engine(url, pool_pre_ping=True, pool_size=4, max_overflow=4)
    except NoSuchModuleError as exc:
        raise ConfigError(f"DATABASE_URL: no driver for {url.drivername}: {exc}") from None
    except ImportError:
        raise ConfigError(
            "DATABASE_URL: PostgreSQL needs psycopg 3 (pip install 'soko-search[postgres]')"
        ) from None


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver level: SQLAlchemy's "begin" event below emits BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        immediate = connection.get_execution_options().get(IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


#: The newest migration in migrations/versions (a test checks it against Alembic's view).
#: Knowing it lets every start skip importing Alembic when the schema is current.
HEAD_REVISION = "0002"


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (a no-op when it is there already)."""
    try:
        if current_revision(engine) == HEAD_REVISION:
            return
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as exc:
        raise CatalogUnavailable(
            f"catalog database {safe_url(engine.url)} unavailable: {_first_line(exc)}"
        ) from exc
    log.info("catalog schema at %s", HEAD_REVISION)


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__
