from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import store
from btm.evidence.files import coerce
from btm.evidence.kinds import kind_named
from tests.factories import rows


def _batch(
    session, cycle_id: str, source: str, sha: str, status: str = "accepted"
) -> store.EvidenceBatch:
    return store.add_batch(
        session=session,
        batch=store.EvidenceBatch(
            cycle_id=cycle_id,
            source=source,
            part=f"{source}.csv",
            kind="projects",
            file_name=f"{source}.csv",
            sha256=sha,
            archive_path="/archive/x",
            rows=3,
            status=status,
        ),
    )


def _open(session, *cycle_ids: str) -> None:
    for cycle_id in cycle_ids:
        store.open_cycle(session=session, cycle_id=cycle_id, as_of=date(2026, 3, 31))


def test_evidence_rows_round_trip_with_their_types(engine: sa.Engine) -> None:
    records = rows("projects", 3)
    records[1]["health"] = ""
    records[2]["architecture_reviewed"] = "N"
    frame = coerce(pd.DataFrame(records), kind_named("projects")).frame
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1")
        batch = _batch(session, "2026-Q1", "projects-retail", "a" * 64)
    assert batch.id is not None
    store.store_rows(engine=engine, kind="projects", batch_id=batch.id, frame=frame)

    loaded = store.load_rows(engine=engine, kind="projects", batch_ids=[batch.id])

    assert list(loaded["project_id"]) == ["PRJ-1", "PRJ-2", "PRJ-3"]
    assert list(loaded["row_number"]) == [2, 3, 4]
    assert loaded["planned_end"].iloc[0] == pd.Timestamp("2026-06-30")
    assert loaded["budget"].iloc[0] == 500.0
    assert list(loaded["architecture_reviewed"]) == [True, True, False]
    assert pd.isna(loaded["health"].iloc[1])
    assert pd.isna(loaded["actual_end"].iloc[0])


def test_storing_a_batch_again_replaces_its_rows(engine: sa.Engine) -> None:
    frame = coerce(pd.DataFrame(rows("projects", 2)), kind_named("projects")).frame
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1")
        batch = _batch(session, "2026-Q1", "projects-retail", "b" * 64)
    assert batch.id is not None
    for _ in range(2):
        store.store_rows(engine=engine, kind="projects", batch_id=batch.id, frame=frame)
    assert len(store.load_rows(engine=engine, kind="projects", batch_ids=[batch.id])) == 2


def _score(cycle_id: str, level: int | None, rubric_version: str = "t") -> store.Score:
    return store.Score(
        cycle_id=cycle_id,
        unit="Retail",
        capability="MTI-2",
        dimension="process",
        level=level,
        target_level=3,
        gap=None if level is None else 3 - level,
        rubric_version=rubric_version,
        trace=[{"rule": "r", "outcome": "pass"}],
    )


def _replace(session, cycle_id: str, *scores: store.Score) -> None:
    version = scores[0].rubric_version
    store.replace_scores(session=session, cycle_id=cycle_id, rubric_version=version, scores=scores)


def test_replacing_scores_never_duplicates_and_leaves_earlier_cycles(engine: sa.Engine) -> None:
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1", "2026-Q2")
        _replace(session, "2026-Q1", _score("2026-Q1", 2))
        _replace(session, "2026-Q2", _score("2026-Q2", 3))
        _replace(session, "2026-Q2", _score("2026-Q2", None))

        q1 = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version="t")
        q2 = store.get_scores(session=session, cycle_id="2026-Q2", rubric_version="t")
    assert [(s.level, s.target_level, s.gap, s.trace) for s in q1] == [
        (2, 3, 1, [{"rule": "r", "outcome": "pass"}])
    ]
    assert [(s.level, s.gap) for s in q2] == [(None, None)]


def test_scores_are_kept_per_rubric_version_the_original_read_by_default(
    engine: sa.Engine,
) -> None:
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1")
        _replace(session, "2026-Q1", _score("2026-Q1", 2, "2026.9"))
        store.complete_cycle(session=session, cycle_id="2026-Q1", rubric_version="2026.9")
        _replace(session, "2026-Q1", _score("2026-Q1", 3, "2026.10"))
        _replace(session, "2026-Q1", _score("2026-Q1", 4, "2026.10"))  # replaces only 2026.10

        original = store.get_scores(session=session, cycle_id="2026-Q1")
        rescored = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version="2026.10")
        versions = store.rubric_versions(session=session, cycle_id="2026-Q1")
        cycle = session.get(store.Cycle, "2026-Q1")
    assert [(s.level, s.rubric_version) for s in original] == [(2, "2026.9")]
    assert [(s.level, s.rubric_version) for s in rescored] == [(4, "2026.10")]
    assert versions == ["2026.9", "2026.10"]
    assert cycle is not None and cycle.rubric_version == "2026.9"
    with store.session_scope(engine) as session, pytest.raises(sa.exc.IntegrityError):
        session.add(_score("2026-Q1", 5, "2026.10"))
        session.commit()


def test_last_accepted_batches_skip_quarantined_and_later_cycles(engine: sa.Engine) -> None:
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1", "2026-Q2", "2026-Q3")
        first = _batch(session, "2026-Q1", "projects-retail", "1" * 64)
        bad = _batch(session, "2026-Q2", "projects-retail", "2" * 64, status="quarantined")
        _batch(session, "2026-Q3", "projects-retail", "3" * 64)
        up_to_q2 = store.last_accepted_batches(
            session=session, source="projects-retail", up_to_cycle="2026-Q2"
        )
        before_bad = store.last_accepted_batches(
            session=session, source="projects-retail", up_to_cycle="2026-Q3", before_id=bad.id
        )
    assert [b.id for b in up_to_q2] == [first.id]
    assert [b.id for b in before_bad] == [first.id]


def test_one_batch_per_source_part_and_content(engine: sa.Engine) -> None:
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1", "2026-Q2")
        _batch(session, "2026-Q1", "projects-retail", "1" * 64)
    with store.session_scope(engine) as session, pytest.raises(sa.exc.IntegrityError):
        _batch(session, "2026-Q2", "projects-retail", "1" * 64)


def test_upgrading_a_0001_database_keeps_its_batches_as_fetches(database_url: str) -> None:
    from alembic import command

    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO cycle (id, as_of, started_at) VALUES ('2026-Q1', '2026-03-31', "
                "'2026-04-01 06:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO evidence_batch (cycle_id, source, kind, file_name, sha256, "
                "archive_path, rows, status, problems, fetched_at) VALUES ('2026-Q1', "
                "'projects-retail', 'projects', 'projects-retail.csv', :sha, '/a', 3, "
                "'accepted', '[]', '2026-04-01 06:00:00')"
            ),
            {"sha": "a" * 64},
        )

    store.init_db(engine)

    with store.session_scope(engine) as session:
        (batch,) = session.exec(select(store.EvidenceBatch)).all()
        fetches = store.latest_fetches(session=session, cycle_id="2026-Q1")
    assert (batch.part, batch.connector) == ("projects-retail.csv", "files")
    assert [(f.source, f.batch_id, f.ok) for f in fetches["projects-retail"]] == [
        ("projects-retail", batch.id, True)
    ]
    engine.dispose()


def _scored_at_0003(database_url: str) -> sa.Engine:
    """A database at revision 0003 holding one cycle scored on one cell (rubric 2026.2)."""
    from alembic import command

    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0003")
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO cycle (id, as_of, started_at, completed_at, rubric_version, "
                "evidence_key) VALUES ('2026-Q1', '2026-03-31', '2026-04-01 06:00:00', "
                "'2026-04-01 06:05:00', '2026.2', 'k')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO score (cycle_id, unit, capability, dimension, level, "
                "rubric_version, trace, evidence_hashes) VALUES ('2026-Q1', 'Retail', "
                "'MTI-2', 'process', 2, '2026.2', :trace, :hashes)"
            ),
            {"trace": '[{"rule": "r", "outcome": "pass"}]', "hashes": f'["{"a" * 64}"]'},
        )
    return engine


def test_upgrading_a_0003_database_keeps_its_scores_as_the_original_set(
    database_url: str,
) -> None:
    engine = _scored_at_0003(database_url)

    store.init_db(engine)

    with store.session_scope(engine) as session:
        (score,) = store.get_scores(session=session, cycle_id="2026-Q1")
        cycle = session.get(store.Cycle, "2026-Q1")
        assert store.rubric_versions(session=session, cycle_id="2026-Q1") == ["2026.2"]
        # a second set under another rubric now fits beside the first
        _replace(session, "2026-Q1", _score("2026-Q1", 3, "2026.3"))
        assert store.rubric_versions(session=session, cycle_id="2026-Q1") == ["2026.2", "2026.3"]
    assert (score.level, score.rubric_version, score.target_level, score.gap) == (
        2,
        "2026.2",
        None,
        None,
    )
    assert score.trace == [{"rule": "r", "outcome": "pass"}]
    assert score.evidence_hashes == ["a" * 64]
    assert cycle is not None
    assert (cycle.rubric_version, cycle.evidence_key, cycle.target_state) == ("2026.2", "k", None)
    with store.session_scope(engine) as session, pytest.raises(sa.exc.IntegrityError):
        session.add(_score("2026-Q1", 4, "2026.2"))
        session.commit()
    engine.dispose()


def test_downgrading_0004_keeps_the_originals_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    engine = _scored_at_0003(database_url)
    store.init_db(engine)
    with store.session_scope(engine) as session:
        _replace(session, "2026-Q1", _score("2026-Q1", 3, "2026.3"))
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0003")
    with engine.connect() as connection:
        left = connection.execute(sa.text("SELECT rubric_version, level FROM score")).all()
    assert [tuple(row) for row in left] == [("2026.2", 2)]

    store.init_db(engine)

    with store.session_scope(engine) as session:
        assert [s.level for s in store.get_scores(session=session, cycle_id="2026-Q1")] == [2]
    engine.dispose()


def test_downgrading_0006_drops_the_planning_kinds_and_upgrades_again(
    database_url: str,
) -> None:
    from alembic import command

    engine = store.make_engine(database_url)
    store.init_db(engine)
    planning = {f"evidence_{kind}" for kind in ("budgets", "resources", "vendors", "objectives")}
    assert planning <= set(sa.inspect(engine).get_table_names())
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0005")
    tables = set(sa.inspect(engine).get_table_names())
    assert not planning & tables and "evidence_risks" in tables

    store.init_db(engine)

    assert planning <= set(sa.inspect(engine).get_table_names())
    engine.dispose()


def test_one_delivery_per_cycle_audience_and_recipient(engine: sa.Engine) -> None:
    def delivery() -> store.Delivery:
        return store.Delivery(
            cycle_id="2026-Q1", audience="stakeholders", recipient="a@x.org", channel="outbox"
        )

    with store.session_scope(engine) as session:
        _open(session, "2026-Q1")
        store.record_delivery(session=session, delivery=delivery())
    with store.session_scope(engine) as session, pytest.raises(sa.exc.IntegrityError):
        store.record_delivery(session=session, delivery=delivery())


def test_latest_and_previous_cycle_only_count_completed_ones(engine: sa.Engine) -> None:
    with store.session_scope(engine) as session:
        _open(session, "2026-Q1", "2026-Q2", "2026-Q3")
        store.complete_cycle(session=session, cycle_id="2026-Q1", rubric_version="t")
        store.complete_cycle(session=session, cycle_id="2026-Q2", rubric_version="t")
        latest = store.latest_cycle(session=session)
        previous = store.previous_cycle(session=session, cycle_id="2026-Q3")
    assert latest is not None and latest.id == "2026-Q2"
    assert previous is not None and previous.id == "2026-Q2"


def test_the_migrations_build_exactly_the_models_schema(engine: sa.Engine) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    store.init_db(engine)  # a second upgrade is a no-op
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
        revision = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    assert differences == [], "the models changed: add an Alembic revision in btm/store/migrations"
    assert revision == "0012"


def test_a_score_stored_before_2027_1_has_its_basis_read_from_its_trace() -> None:
    survey = store.Score(
        cycle_id="2025-Q4",
        unit="A",
        capability="SP-3",
        dimension="process",
        level=3,
        rubric_version="2026.3",
        trace=[{"rule": "survey", "level": 3}],
    )
    system = survey.model_copy(update={"trace": [{"rule": "x", "level": 2}]})
    unknown = survey.model_copy(update={"trace": [], "level": None})
    assert [store.basis_of(s) for s in (survey, system, unknown)] == ["survey", "system", "unknown"]
    assert store.basis_of(system.model_copy(update={"basis": "blended"})) == "blended"
