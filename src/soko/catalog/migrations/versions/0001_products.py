"""products and catalog_meta

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PENDING = "(written_version IS NULL OR version != written_version) AND (deleted OR has_vector)"


def upgrade() -> None:
    utc = sa.DateTime(timezone=True)
    # On SQLite exactly INTEGER: the id becomes the rowid (rows clustered by id).
    product_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "products",
        sa.Column("id", product_id, autoincrement=False, nullable=False),
        sa.Column("name", sa.String(1000), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("price", sa.Double(), nullable=False),
        sa.Column("seller_id", sa.BigInteger(), nullable=False),
        sa.Column("image_url", sa.String(2048), nullable=True),
        sa.Column("image_path", sa.String(2048), nullable=True),
        sa.Column("created_at", utc, nullable=False),
        sa.Column("updated_at", utc, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("written_version", sa.Integer(), nullable=True),
        sa.Column("hydrate_needed", sa.Boolean(), nullable=False),
        sa.Column("has_vector", sa.Boolean(), nullable=False),
        sa.Column("last_hydrated_at", utc, nullable=True),
        sa.Column("hydrate_error", sa.Text(), nullable=True),
        sa.Column("hydrate_attempts", sa.Integer(), nullable=False),
        sa.Column("next_hydrate_at", utc, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_products"),
    )
    op.create_table(
        "product_vectors",
        sa.Column("product_id", product_id, autoincrement=False, nullable=False),
        sa.Column("image_vector", sa.LargeBinary(), nullable=True),
        sa.Column("text_vector", sa.LargeBinary(), nullable=True),
        sa.Column("hybrid_vector", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name="fk_product_vectors_product_id_products"
        ),
        sa.PrimaryKeyConstraint("product_id", name="pk_product_vectors"),
    )
    op.create_index(
        "ix_products_pending",
        "products",
        ["id"],
        sqlite_where=sa.text(PENDING),
        postgresql_where=sa.text(PENDING),
    )
    op.create_index("ix_products_category", "products", ["category"])
    op.create_index("ix_products_seller_id", "products", ["seller_id"])
    op.create_table(
        "catalog_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_catalog_meta"),
    )


def downgrade() -> None:
    op.drop_table("catalog_meta")
    op.drop_table("product_vectors")
    op.drop_index("ix_products_seller_id", table_name="products")
    op.drop_index("ix_products_category", table_name="products")
    op.drop_index("ix_products_pending", table_name="products")
    op.drop_table("products")
