"""Initiatives with a horizon and their own decisions: each carries its approver, cost and
effort estimates, expected level gain and the terms of its priority; the backlog it was
approved in, the scoring that last judged it and the later backlogs it was carried into.
Every decision on an initiative (the PMO's, the gate's, a carry-over, the review's) is a
row of `initiative_decision`. A pulse reading keeps the targeted cell recomputed from
the latest evidence. Approved initiatives of earlier cycles were approved in
their own cycle's backlog.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ADDED: tuple[sa.Column[object], ...] = (
    sa.Column("approver", AutoString(), nullable=True),
    sa.Column("cost_estimate", sa.Float(), nullable=True),
    sa.Column("effort_days", sa.Float(), nullable=True),
    sa.Column("expected_gain", sa.Float(), nullable=True),
    sa.Column("priority_basis", AutoString(), nullable=False, server_default=""),
    sa.Column("approved_in", AutoString(), nullable=True),
    sa.Column("judged_in", AutoString(), nullable=True),
    sa.Column("carried_into", sa.JSON(), nullable=True),
)


def upgrade() -> None:
    with op.batch_alter_table("initiative", schema=None) as batch_op:
        for column in _ADDED:
            batch_op.add_column(column.copy())
    op.execute("UPDATE initiative SET carried_into = '[]'")
    op.execute("UPDATE initiative SET approved_in = cycle_id WHERE status = 'approved'")
    with op.batch_alter_table("initiative_pulse", schema=None) as batch_op:
        batch_op.add_column(sa.Column("cell", sa.JSON(), nullable=True))
    op.create_table(
        "initiative_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("initiative_id", AutoString(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("decision", AutoString(), nullable=False),
        sa.Column("actor", AutoString(), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
        sa.Column("decided_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"]),
        sa.ForeignKeyConstraint(["initiative_id"], ["initiative.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("initiative_decision", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_initiative_decision_initiative_id"), ["initiative_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_initiative_decision_cycle_id"), ["cycle_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("initiative_decision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_initiative_decision_cycle_id"))
        batch_op.drop_index(batch_op.f("ix_initiative_decision_initiative_id"))
    op.drop_table("initiative_decision")
    with op.batch_alter_table("initiative_pulse", schema=None) as batch_op:
        batch_op.drop_column("cell")
    # the review's and the PMO's newer statuses read as the nearest older one
    op.execute("UPDATE initiative SET status = 'approved' WHERE status IN ('done', 'overdue')")
    op.execute("UPDATE initiative SET status = 'proposed' WHERE status = 'deferred'")
    with op.batch_alter_table("initiative", schema=None) as batch_op:
        for column in reversed(_ADDED):
            batch_op.drop_column(column.name)
