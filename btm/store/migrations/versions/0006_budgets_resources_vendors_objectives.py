"""Four more evidence kinds: budget lines, resource requests and pools, vendors and
objectives.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_KINDS = ("budgets", "resources", "vendors", "objectives")


def upgrade() -> None:
    op.create_table(
        "evidence_budgets",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("budget_line_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("period", sa.Text(), nullable=True),
        sa.Column("line_name", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("planned", sa.Float(), nullable=True),
        sa.Column("approved", sa.Float(), nullable=True),
        sa.Column("actual", sa.Float(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("strategic_objective", sa.Text(), nullable=True),
        sa.Column("planning_system", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_budgets", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_budgets_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_resources",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("resource_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("record_type", sa.Text(), nullable=True),
        sa.Column("role", sa.Text(), nullable=True),
        sa.Column("demand", sa.Float(), nullable=True),
        sa.Column("allocated", sa.Float(), nullable=True),
        sa.Column("actual", sa.Float(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("start_date", sa.Date(), nullable=True),
        sa.Column("end_date", sa.Date(), nullable=True),
        sa.Column("tool", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_resources", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_resources_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_vendors",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("vendor_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("tier", sa.Text(), nullable=True),
        sa.Column("relationship_owner", sa.Text(), nullable=True),
        sa.Column("last_strategy_review", sa.Date(), nullable=True),
        sa.Column("performance_score", sa.Float(), nullable=True),
        sa.Column("contract_end", sa.Date(), nullable=True),
        sa.Column("in_register", sa.Boolean(), nullable=True),
        sa.Column("preference", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_vendors", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_vendors_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_objectives",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("objective_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("period", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("capabilities", sa.Text(), nullable=True),
        sa.Column("progress", sa.Float(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_objectives", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_objectives_batch_id"), ["batch_id"], unique=False
        )


def downgrade() -> None:
    for kind in reversed(NEW_KINDS):
        with op.batch_alter_table(f"evidence_{kind}", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_evidence_{kind}_batch_id"))
        op.drop_table(f"evidence_{kind}")
