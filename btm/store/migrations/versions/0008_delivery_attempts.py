"""Each delivery's attempt and outcome: the ledger's state (sending, sent or failed), the
Message-ID a resend reuses, when the attempt began and why it failed; a delivery is
`delivered_at` only once sent. The failed flow runs and where their ops alerts went.

Every row stored before this revision was written after its message went out, so it
reads as `sent`, attempted when it was delivered.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.add_column(sa.Column("state", AutoString(), nullable=False, server_default="sent"))
        batch_op.add_column(sa.Column("message_id", AutoString(), nullable=True))
        batch_op.add_column(sa.Column("attempted_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("error", AutoString(), nullable=True))
        batch_op.alter_column("delivered_at", existing_type=UTCDateTime(), nullable=True)
    op.execute("UPDATE delivery SET attempted_at = delivered_at")

    op.create_table(
        "run_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow_name", AutoString(), nullable=False),
        sa.Column("run_name", AutoString(), nullable=False),
        sa.Column("state", AutoString(), nullable=False),
        sa.Column("detail", AutoString(), nullable=False),
        sa.Column("link", AutoString(), nullable=False),
        sa.Column("alert_path", AutoString(), nullable=True),
        sa.Column("alert_emailed", sa.Boolean(), nullable=False),
        sa.Column("alert_error", AutoString(), nullable=True),
        sa.Column("failed_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("run_failure", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_run_failure_failed_at"), ["failed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("run_failure", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_run_failure_failed_at"))
    op.drop_table("run_failure")

    # The old ledger knows only deliveries that went out: the others are forgotten, so
    # the old code sends them (again, for a row left `sending`).
    op.execute("DELETE FROM delivery WHERE state <> 'sent'")
    with op.batch_alter_table("delivery", schema=None) as batch_op:
        batch_op.alter_column("delivered_at", existing_type=UTCDateTime(), nullable=False)
        batch_op.drop_column("error")
        batch_op.drop_column("attempted_at")
        batch_op.drop_column("message_id")
        batch_op.drop_column("state")
