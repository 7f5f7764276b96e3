"""Evidence rows as one Parquet document per batch (`evidence_rows`): a million rows are
kept in a fraction of a second, where one SQL row per evidence row cost seconds.

The rows already kept in the per-kind tables move into documents, batch by batch, and
leave those tables empty; a downgrade moves them back.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 09:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

from btm.evidence.kinds import load_kinds
from btm.store import rows

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _documents() -> sa.Table:
    return sa.Table(
        "evidence_rows",
        sa.MetaData(),
        sa.Column("batch_id", sa.Integer),
        sa.Column("kind", AutoString()),
        sa.Column("rows", sa.Integer),
        sa.Column("data", sa.LargeBinary),
    )


def _kind_table(bind: Any, kind: str) -> sa.Table:
    return sa.Table(f"evidence_{kind}", sa.MetaData(), autoload_with=bind)


def upgrade() -> None:
    op.create_table(
        "evidence_rows",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("kind", AutoString(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
        sa.PrimaryKeyConstraint("batch_id"),
    )
    with op.batch_alter_table("evidence_rows", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_rows_kind"), ["kind"], unique=False)

    import pandas as pd

    bind = op.get_bind()
    documents = _documents()
    for kind in load_kinds().values():
        table = _kind_table(bind, kind.name)
        batch_ids = bind.execute(sa.select(table.c.batch_id).distinct()).scalars().all()
        for batch_id in batch_ids:
            result = bind.execute(
                sa.select(table).where(table.c.batch_id == batch_id).order_by(table.c.row_number)
            )
            frame = pd.DataFrame.from_records(result.all(), columns=list(result.keys()))
            data = rows.encode(frame, kind, row_numbers=frame["row_number"])
            bind.execute(
                documents.insert().values(
                    batch_id=batch_id, kind=kind.name, rows=len(frame), data=data
                )
            )
        bind.execute(table.delete())


def downgrade() -> None:
    bind = op.get_bind()
    documents = _documents()
    for kind, batch_id, data in bind.execute(
        sa.select(documents.c.kind, documents.c.batch_id, documents.c.data)
    ):
        table = _kind_table(bind, kind)
        frame = rows.decode(bytes(data))
        # a field a later revision added is not a column of this revision's table
        frame = frame[[c for c in frame.columns if c in table.columns]]
        frame.insert(0, "batch_id", batch_id)
        for column in table.columns:
            if isinstance(column.type, sa.Date):
                frame[column.name] = frame[column.name].dt.date
        cells = frame.astype(object).where(frame.notna(), None)
        records = [dict(zip(cells.columns, row, strict=True)) for row in cells.itertuples(False)]
        if records:
            bind.execute(table.insert(), records)
    with op.batch_alter_table("evidence_rows", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_rows_kind"))
    op.drop_table("evidence_rows")
