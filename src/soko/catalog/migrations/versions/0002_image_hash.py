"""product_vectors.image_hash: the photo's perceptual hash, for duplicate listings

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

Products hydrated before this revision keep a NULL hash until they are hydrated again (a
refresh, an edit); duplicate checks judge them by the image vector alone meanwhile.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("product_vectors") as batch:
        batch.add_column(sa.Column("image_hash", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("product_vectors") as batch:
        batch.drop_column("image_hash")
