"""Alembic environment for the catalog: runs on the connection `soko.catalog.migrate` passes."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine, text

from soko.catalog.models import Base

#: PostgreSQL advisory lock id held while migrating, so that two workers starting at once
#: do not both try to create the tables.
MIGRATION_LOCK_ID = 0x50C0_CA7A


def run(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:  # the `alembic` command line, with sqlalchemy.url set in the config
    url = context.config.get_main_option("sqlalchemy.url")
    assert url, "sqlalchemy.url is not set"
    with create_engine(url).begin() as own_connection:
        run(own_connection)
