"""Sources: batches kept once per source, part and content; fetch attempts; four more
evidence kinds (applications, decisions, risks, survey); the cycle's evidence key.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27 08:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_KINDS = ("applications", "decisions", "risks", "survey")
OLD_UNIQUE = ("cycle_id", "source", "sha256")
# Revision 0001 left the batch's unique constraint unnamed; batch mode names it on SQLite.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def upgrade() -> None:
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence_key", AutoString(), nullable=True))

    with op.batch_alter_table("evidence_batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("part", AutoString(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("connector", AutoString(), nullable=False, server_default="files")
        )
    op.execute("UPDATE evidence_batch SET part = file_name")
    if op.get_bind().dialect.name == "sqlite":
        with op.batch_alter_table(
            "evidence_batch", schema=None, naming_convention=NAMING
        ) as batch_op:
            batch_op.drop_constraint("uq_evidence_batch_cycle_id_source_sha256", type_="unique")
            batch_op.alter_column("part", server_default=None)
            batch_op.alter_column("connector", server_default=None)
            batch_op.create_unique_constraint(
                "uq_evidence_batch_source_part_sha256", ["source", "part", "sha256"]
            )
    else:
        op.drop_constraint(
            "evidence_batch_cycle_id_source_sha256_key", "evidence_batch", type_="unique"
        )
        op.alter_column("evidence_batch", "part", server_default=None)
        op.alter_column("evidence_batch", "connector", server_default=None)
        op.create_unique_constraint(
            "uq_evidence_batch_source_part_sha256",
            "evidence_batch",
            ["source", "part", "sha256"],
        )

    op.create_table(
        "source_fetch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("source", AutoString(), nullable=False),
        sa.Column("attempt", AutoString(), nullable=False),
        sa.Column("connector", AutoString(), nullable=False),
        sa.Column("part", AutoString(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("error", AutoString(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Float(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
        sa.ForeignKeyConstraint(["cycle_id"], ["cycle.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("source_fetch", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_source_fetch_cycle_id"), ["cycle_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_source_fetch_source"), ["source"], unique=False)
    # Batches gathered before this revision become the fetches that brought them.
    op.execute(
        "INSERT INTO source_fetch (cycle_id, source, attempt, connector, part, batch_id, ok, "
        "rows, latency_ms, fetched_at) SELECT cycle_id, source, 'before-0002-' || cycle_id, "
        "connector, part, id, TRUE, rows, 0, fetched_at FROM evidence_batch"
    )

    op.create_table(
        "evidence_applications",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("application_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("lifecycle_decision", sa.Text(), nullable=True),
        sa.Column("standards_compliant", sa.Boolean(), nullable=True),
        sa.Column("annual_cost", sa.Float(), nullable=True),
        sa.Column("capability_served", sa.Text(), nullable=True),
        sa.Column("last_reviewed", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_applications_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_decisions",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("decision_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("decision_body", sa.Text(), nullable=True),
        sa.Column("body_type", sa.Text(), nullable=True),
        sa.Column("decision_object", sa.Text(), nullable=True),
        sa.Column("decision_date", sa.Date(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_decisions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_evidence_decisions_batch_id"), ["batch_id"], unique=False
        )

    op.create_table(
        "evidence_risks",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("risk_id", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("title", sa.Text(), nullable=True),
        sa.Column("owner", sa.Text(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=True),
        sa.Column("mitigation", sa.Text(), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("status", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_risks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_risks_batch_id"), ["batch_id"], unique=False)

    op.create_table(
        "evidence_survey",
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("row_number", sa.Integer(), nullable=True),
        sa.Column("response_id", sa.Text(), nullable=True),
        sa.Column("respondent_role", sa.Text(), nullable=True),
        sa.Column("business_unit", sa.Text(), nullable=True),
        sa.Column("capability", sa.Text(), nullable=True),
        sa.Column("dimension", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_on", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["batch_id"], ["evidence_batch.id"]),
    )
    with op.batch_alter_table("evidence_survey", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_evidence_survey_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    for kind in NEW_KINDS:
        with op.batch_alter_table(f"evidence_{kind}", schema=None) as batch_op:
            batch_op.drop_index(batch_op.f(f"ix_evidence_{kind}_batch_id"))
        op.drop_table(f"evidence_{kind}")
    with op.batch_alter_table("source_fetch", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_source_fetch_source"))
        batch_op.drop_index(batch_op.f("ix_source_fetch_cycle_id"))
    op.drop_table("source_fetch")
    with op.batch_alter_table("evidence_batch", schema=None) as batch_op:
        batch_op.drop_constraint("uq_evidence_batch_source_part_sha256", type_="unique")
        batch_op.create_unique_constraint(
            "uq_evidence_batch_cycle_id_source_sha256", list(OLD_UNIQUE)
        )
        batch_op.drop_column("connector")
        batch_op.drop_column("part")
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.drop_column("evidence_key")
