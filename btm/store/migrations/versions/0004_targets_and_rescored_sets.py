"""Targets and rescored sets: each score's target level and gap; scores kept per rubric
version, so a cycle rescored under a new rubric keeps its original set; the cycle's target
state.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlmodel.sql.sqltypes import AutoString

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OLD_COLUMNS = ["cycle_id", "unit", "capability", "dimension"]
NEW_COLUMNS = ["cycle_id", "rubric_version", "unit", "capability", "dimension"]
NEW_UNIQUE = "uq_score_cycle_id_rubric_version_unit_capability_dimension"
# Revision 0001 left the score's unique constraint unnamed: batch mode names it on SQLite
# by this convention, and PostgreSQL named it <table>_<columns>_key.
NAMING = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}
OLD_UNIQUE_SQLITE = "uq_score_cycle_id_unit_capability_dimension"
OLD_UNIQUE_POSTGRESQL = "score_cycle_id_unit_capability_dimension_key"


def _old_unique() -> str:
    sqlite = op.get_bind().dialect.name == "sqlite"
    return OLD_UNIQUE_SQLITE if sqlite else OLD_UNIQUE_POSTGRESQL


def upgrade() -> None:
    with op.batch_alter_table("cycle", schema=None) as batch_op:
        batch_op.add_column(sa.Column("target_state", AutoString(), nullable=True))

    with op.batch_alter_table("score", schema=None, naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column("target_level", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("gap", sa.Integer(), nullable=True))
        batch_op.drop_constraint(_old_unique(), type_="unique")
        batch_op.create_unique_constraint(NEW_UNIQUE, NEW_COLUMNS)


def downgrade() -> None:
    # The old schema holds one set per cycle: the rescored sets go, the originals stay.
    op.execute(
        "DELETE FROM score WHERE rubric_version <> "
        "(SELECT cycle.rubric_version FROM cycle WHERE cycle.id = score.cycle_id)"
    )
    with op.batch_alter_table("score", schema=None) as batch_op:
        batch_op.drop_constraint(NEW_UNIQUE, type_="unique")
        # named as upgrade() finds it, so that the database can be upgraded again
        batch_op.create_unique_constraint(_old_unique(), OLD_COLUMNS)
        batch_op.drop_column("gap")
        batch_op.drop_column("target_level")
    # In place, not by copying the table: on SQLite a copy would drop `cycle`, which every
    # other table references (SQLite has dropped columns in place since 3.35).
    with op.batch_alter_table("cycle", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("target_state")
