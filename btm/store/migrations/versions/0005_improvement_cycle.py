"""The improvement cycle: phase changes, the initiative backlog, its monthly pulses and
the improve phase's review.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "phase_change",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cycle_id", AutoString(), sa.ForeignKey("cycle.id"), nullable=False),
        sa.Column("phase", AutoString(), nullable=False),
        sa.Column("entered_at", UTCDateTime(), nullable=False),
        sa.Column("actor", AutoString(), nullable=False),
        sa.Column("reason", AutoString(), nullable=False),
    )
    op.create_index("ix_phase_change_cycle_id", "phase_change", ["cycle_id"])
    op.create_table(
        "initiative",
        sa.Column("id", AutoString(), primary_key=True),
        sa.Column("cycle_id", AutoString(), sa.ForeignKey("cycle.id"), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Float(), nullable=False),
        sa.Column("capability", AutoString(), nullable=False),
        sa.Column("dimension", AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("target_level", sa.Integer(), nullable=False),
        sa.Column("gap", sa.Float(), nullable=False),
        sa.Column("owner", AutoString(), nullable=False),
        sa.Column("due_cycle", AutoString(), nullable=False),
        sa.Column("linked_projects", sa.JSON(), nullable=True),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("title", AutoString(), nullable=False),
        sa.Column("guidance", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_initiative_cycle_id", "initiative", ["cycle_id"])
    op.create_table(
        "initiative_pulse",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("initiative_id", AutoString(), sa.ForeignKey("initiative.id"), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("state", AutoString(), nullable=False),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.Column("findings", sa.JSON(), nullable=True),
        sa.Column("projects", sa.JSON(), nullable=True),
        sa.Column("pulsed_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_initiative_pulse_initiative_id", "initiative_pulse", ["initiative_id"])
    op.create_table(
        "cycle_review",
        sa.Column("cycle_id", AutoString(), sa.ForeignKey("cycle.id"), primary_key=True),
        sa.Column("compared_with", AutoString(), sa.ForeignKey("cycle.id"), nullable=False),
        sa.Column("review", sa.JSON(), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cycle_review")
    op.drop_index("ix_initiative_pulse_initiative_id", table_name="initiative_pulse")
    op.drop_table("initiative_pulse")
    op.drop_index("ix_initiative_cycle_id", table_name="initiative")
    op.drop_table("initiative")
    op.drop_index("ix_phase_change_cycle_id", table_name="phase_change")
    op.drop_table("phase_change")
