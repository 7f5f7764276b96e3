"""Self-assessment campaigns: one per cycle, with the respondents it invited and the
questionnaire each was sent. The invitation and reminder emails are rows of the delivery
ledger. Survey answers gain the `respondent` who returned them (campaign/respondent id).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 16:08:53
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "survey_campaign",
        sa.Column("id", AutoString(), nullable=False),
        sa.Column("cycle_id", AutoString(), nullable=False),
        sa.Column("opened_at", UTCDateTime(), nullable=False),
        sa.Column("closes_on", sa.Date(), nullable=False),
        sa.Column("bank_version", AutoString(), nullable=False),
        sa.ForeignKeyConstraint(
            ["cycle_id"],
            ["cycle.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cycle_id"),
    )
    op.create_table(
        "survey_invitee",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", AutoString(), nullable=False),
        sa.Column("respondent_id", AutoString(), nullable=False),
        sa.Column("unit", AutoString(), nullable=False),
        sa.Column("role", AutoString(), nullable=False),
        sa.Column("name", AutoString(), nullable=False),
        sa.Column("email", AutoString(), nullable=False),
        sa.Column("workbook", AutoString(), nullable=False),
        sa.Column("added_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["survey_campaign.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("campaign_id", "respondent_id"),
    )
    with op.batch_alter_table("survey_invitee", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_survey_invitee_campaign_id"), ["campaign_id"], unique=False
        )

    with op.batch_alter_table("evidence_survey", schema=None) as batch_op:
        batch_op.add_column(sa.Column("respondent", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("evidence_survey", schema=None) as batch_op:
        batch_op.drop_column("respondent")
    with op.batch_alter_table("survey_invitee", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_survey_invitee_campaign_id"))

    op.drop_table("survey_invitee")
    op.drop_table("survey_campaign")
