"""Evidence rows as one Parquet document per batch: kept with their batch in one
transaction, read back whole or by column, moved out of (and back into) the per-kind
tables by revision 0009."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from btm import store
from btm.evidence.files import coerce
from btm.evidence.kinds import kind_named
from tests.factories import rows


def _batch(sha: str, status: str = "accepted") -> store.EvidenceBatch:
    return store.EvidenceBatch(
        cycle_id="2026-Q1",
        source="ppm",
        part="projects.csv",
        kind="projects",
        file_name="projects.csv",
        sha256=sha,
        archive_path="/archive/x",
        rows=3,
        status=status,
    )


def _frame(count: int) -> pd.DataFrame:
    return coerce(pd.DataFrame(rows("projects", count)), kind_named("projects")).frame


def test_a_batch_and_its_rows_are_kept_together(engine: sa.Engine) -> None:
    store.ensure_cycle(engine=engine, cycle_id="2026-Q1", as_of=date(2026, 3, 31))
    encoded = store.encode_rows(_frame(3), "projects")

    batch = store.keep_batch(engine=engine, batch=_batch("a" * 64), rows=encoded)

    assert batch.id is not None
    loaded = store.load_rows(engine=engine, kind="projects", batch_ids=[batch.id])
    assert list(loaded["batch_id"]) == [batch.id] * 3
    assert list(loaded.columns[:2]) == ["batch_id", "row_number"]
    assert store.load_ids(engine=engine, kind="projects", batch_ids=[batch.id]) == {
        "PRJ-1",
        "PRJ-2",
        "PRJ-3",
    }
    # judged again as quarantined, the batch keeps no rows
    batch.status = "quarantined"
    store.keep_batch(engine=engine, batch=batch, rows=None)
    assert store.load_rows(engine=engine, kind="projects", batch_ids=[batch.id]).empty


def test_a_batch_whose_rows_cannot_be_kept_is_not_kept_either(engine: sa.Engine) -> None:
    store.ensure_cycle(engine=engine, cycle_id="2026-Q1", as_of=date(2026, 3, 31))
    broken = store.Encoded("projects", 3, None)  # type: ignore[arg-type]

    with pytest.raises(sa.exc.IntegrityError):
        store.keep_batch(engine=engine, batch=_batch("b" * 64), rows=broken)

    assert (
        store.kept_batch(engine=engine, source="ppm", part="projects.csv", sha256="b" * 64) is None
    )


def test_no_batches_read_as_an_empty_frame_with_the_kinds_columns(engine: sa.Engine) -> None:
    loaded = store.load_rows(engine=engine, kind="projects", batch_ids=[])
    assert loaded.empty
    assert {"batch_id", "row_number", "project_id", "planned_end"} <= set(loaded.columns)


def test_0009_moves_the_rows_of_the_per_kind_tables_and_a_downgrade_moves_them_back(
    database_url: str,
) -> None:
    from alembic import command

    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0008")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO cycle (id, as_of, started_at) VALUES ('2026-Q1', '2026-03-31', "
                "'2026-04-01 06:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO evidence_batch (id, cycle_id, source, part, connector, kind, "
                "file_name, sha256, archive_path, rows, status, problems, fetched_at) VALUES "
                "(7, '2026-Q1', 'ppm', 'projects.csv', 'files', 'projects', 'projects.csv', "
                ":sha, '/a', 2, 'accepted', '[]', '2026-04-01 06:00:00')"
            ),
            {"sha": "c" * 64},
        )
        connection.execute(
            sa.text(
                "INSERT INTO evidence_projects (batch_id, row_number, project_id, "
                "business_unit, planned_end, budget, architecture_reviewed) VALUES "
                "(7, 2, 'P1', 'Retail', '2026-06-30', 500.0, true), "
                "(7, 3, 'P2', 'Retail', NULL, NULL, NULL)"
            )
        )

    store.init_db(engine)

    loaded = store.load_rows(engine=engine, kind="projects", batch_ids=[7])
    assert list(loaded["project_id"]) == ["P1", "P2"]
    assert list(loaded["row_number"]) == [2, 3]
    assert loaded["planned_end"].iloc[0] == pd.Timestamp("2026-06-30")
    assert loaded["budget"].iloc[0] == 500.0
    assert str(loaded["architecture_reviewed"].dtype) == "boolean"
    assert list(loaded["architecture_reviewed"].fillna(False)) == [True, False]
    assert pd.isna(loaded["planned_end"].iloc[1])
    with engine.connect() as connection:
        left = connection.execute(sa.text("SELECT count(*) FROM evidence_projects")).scalar()
    assert left == 0

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0008")
    with engine.connect() as connection:
        back = connection.execute(
            sa.text("SELECT row_number, project_id, budget FROM evidence_projects ORDER BY 1")
        ).all()
    assert [tuple(r) for r in back] == [(2, "P1", 500.0), (3, "P2", None)]
    engine.dispose()
