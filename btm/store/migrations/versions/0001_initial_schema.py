"""Initial schema: cycles, evidence batches and rows, scores, deliveries.

Revision ID: 0001
Revises:
Create Date: 2026-11-27 07:45:18.113288
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cycle",
        sa.Column("id", AutoString(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.Column("rubric_version", AutoString(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "delivery",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("audience", AutoString(), nullable=False),
        sa.Column("recipient", AutoString(), nullable=False),
        sa.Column("channel", AutoString(), nullable=False),
        sa.Column("location", AutoString(), nullable=True),
        sa.Column("delivered_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "audience", "recipient"),
    )
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_delivery_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "evidence_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("source", AutoString(), nullable=False),
        sa.Column("kind", AutoString(), nullable=False),
        sa.Column("file_name", AutoString(), nullable=False),
        sa.Column("sha256", AutoString(), nullable=False),
        sa.Column("archive_path", AutoString(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", AutoString(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=True),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "source", "sha256"),
    )
    with op.batch_alter_table("evidence_batch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_batch_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_evidence_batch_sha256"), ["sha256"], unique=False)

    op.create_table(
        "score",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("unit", AutoString(), nullable=False),
        sa.Column("capability", AutoString(), nullable=False),
        sa.Column("dimension", AutoString(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("rubric_version", AutoString(), nullable=False),
        sa.Column("trace", sa.JSON(), nullable=True),
        sa.Column("evidence_hashes", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id", "unit", "capability", "dimension"),
    )
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_score_cycle_id"), ["cycle_id"], unique=False)

    op.create_table(
        "evidence_investments",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("investment_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("category", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("approval_date", sa.Date(), nullable=True),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column("actual_spend", sa.Float(), nullable=True),
        sa.Column("business_case", sa.Boolean(), nullable=True),
        sa.Column("expected_benefit", sa.Float(), nullable=True),
        sa.Column("realized_benefit", sa.Float(), nullable=True),
        sa.Column("strategic_objective", sa.Text(), nullable=True),
        sa.Column("sponsor", sa.Text(), nullable=True),
        sa.Column("decision_body", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["evidence_batch.id"],
        ),
    )
    with op.batch_alter_table("evidence_investments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_investments_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_projects",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("project_id", sa.Text(), nullable=True),
        sa.Column("investment_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.Column("health", sa.Text(), nullable=True),
        sa.Column("planned_start", sa.Date(), nullable=True),
        sa.Column("planned_end", sa.Date(), nullable=True),
        sa.Column("forecast_end", sa.Date(), nullable=True),
        sa.Column("actual_end", sa.Date(), nullable=True),
        sa.Column("budget", sa.Float(), nullable=True),
        sa.Column("actual_cost", sa.Float(), nullable=True),
        sa.Column("percent_complete", sa.Float(), nullable=True),
        sa.Column("last_status_update", sa.Date(), nullable=True),
        sa.Column("architecture_reviewed", sa.Boolean(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["evidence_batch.id"],
        ),
    )
    with op.batch_alter_table("evidence_projects", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_projects_batch_id"), ["batch_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("evidence_projects", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_projects_batch_id"))

    op.drop_table("evidence_projects")
    with op.batch_alter_table("evidence_investments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_investments_batch_id"))

    op.drop_table("evidence_investments")
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_score_cycle_id"))

    op.drop_table("score")
    with op.batch_alter_table("evidence_batch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_evidence_batch_sha256"))
        batch_op.drop_index(batch_op.f("ix_evidence_batch_cycle_id"))

    op.drop_table("evidence_batch")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_delivery_cycle_id"))

    op.drop_table("delivery")
    op.drop_table("cycle")
