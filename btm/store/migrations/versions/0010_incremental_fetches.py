"""Incremental fetches: each fetch row says whether the fetch was full or incremental,
from which moment it asked, the watermark it leaves for the source's next incremental
fetch, the digest of the settings it ran on and, for an incremental one, the archived
delta it merged.

Rows stored before this revision carry none of it, so each API source's first fetch
after the upgrade is full.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("source_fetch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("mode", AutoString(), nullable=True))
        batch_op.add_column(sa.Column("since", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("watermark", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("settings_sha256", AutoString(), nullable=True))
        batch_op.add_column(sa.Column("delta_sha256", AutoString(), nullable=True))


def downgrade() -> None:
    # The old code fetches every source in full, so nothing else needs undoing.
    with op.batch_alter_table("source_fetch", schema=None) as batch_op:
        batch_op.drop_column("delta_sha256")
        batch_op.drop_column("settings_sha256")
        batch_op.drop_column("watermark")
        batch_op.drop_column("since")
        batch_op.drop_column("mode")
