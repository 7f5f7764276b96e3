"""SQLModel tables and the few queries the rest of the product needs.

Small tables (cycles, batches, scores, deliveries) are SQLModel classes. Evidence rows go
in and out in bulk as DataFrames: one plain table per evidence kind, built from the same
kind definitions the reader uses, so no evidence row ever becomes an ORM object.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import JSON, Column, Field, Session, SQLModel, col, create_engine, delete, select

from btm.evidence.kinds import EvidenceKind, load_kinds

ROW_CHUNK = 50_000
MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Cycle(SQLModel, table=True):
    id: str = Field(primary_key=True, description="e.g. 2026-Q1")
    as_of: date
    started_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    rubric_version: str | None = Field(
        default=None,
        description="the rubric of the cycle's original scoring; a rescore under another "
        "version keeps it",
    )
    evidence_key: str | None = Field(
        default=None,
        description="digest of the batches and rubric the original scores were computed on",
    )
    target_state: str | None = Field(
        default=None, description="the target state the original scores' gaps are measured to"
    )


class EvidenceBatch(SQLModel, table=True):
    """One payload of one source, kept once per content: an unchanged payload fetched
    again is the same batch. `cycle_id` is the cycle that first gathered it."""

    __tablename__ = "evidence_batch"
    __table_args__ = (
        sa.UniqueConstraint(
            "source", "part", "sha256", name="uq_evidence_batch_source_part_sha256"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    source: str
    part: str = Field(description="file name within the source, or the source's one payload")
    connector: str = "files"
    kind: str
    file_name: str
    sha256: str = Field(index=True)
    archive_path: str
    rows: int = 0
    status: str = Field(description="accepted or quarantined")
    problems: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    validation: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON), description="the structured validation result"
    )
    fetched_at: datetime = Field(default_factory=utcnow)


class SourceFetch(SQLModel, table=True):
    """One attempt to fetch one source in a cycle: the payload it brought (one row per
    payload), or the error that stopped it (one row with no batch)."""

    __tablename__ = "source_fetch"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    source: str = Field(index=True)
    attempt: str = Field(description="groups the rows of one fetch of the source")
    connector: str
    part: str | None = None
    batch_id: int | None = Field(default=None, foreign_key="evidence_batch.id")
    ok: bool
    error: str | None = None
    rows: int = 0
    latency_ms: float = 0.0
    fetched_at: datetime = Field(default_factory=utcnow)


class Score(SQLModel, table=True):
    """One unit x capability x dimension of a cycle, under one rubric version: a cycle keeps
    its original set and every set it was rescored into."""

    __table_args__ = (
        sa.UniqueConstraint(
            "cycle_id",
            "rubric_version",
            "unit",
            "capability",
            "dimension",
            name="uq_score_cycle_id_rubric_version_unit_capability_dimension",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    unit: str
    capability: str
    dimension: str
    level: int | None = None
    target_level: int | None = Field(default=None, description="the level the target state asks")
    gap: int | None = Field(default=None, description="target_level - level; None when unknown")
    rubric_version: str
    trace: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    evidence_hashes: list[str] = Field(default_factory=list, sa_column=Column(JSON))


class Delivery(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("cycle_id", "audience", "recipient"),)

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    audience: str
    recipient: str
    channel: str = Field(description="outbox or smtp")
    location: str | None = None
    delivered_at: datetime = Field(default_factory=utcnow)


class PhaseChange(SQLModel, table=True):
    """One step of a cycle through assess, design, execute, improve and closed: who moved
    it, when and why. Appended, never updated: the cycle's phase is its latest row."""

    __tablename__ = "phase_change"

    id: int | None = Field(default=None, primary_key=True)
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    phase: str
    entered_at: datetime = Field(default_factory=utcnow)
    actor: str = Field(description="a person, or the flow run that moved it")
    reason: str


class Initiative(SQLModel, table=True):
    """An improvement initiative of a cycle's backlog: lift one capability x dimension of
    the enterprise to a target level by a due cycle."""

    id: str = Field(primary_key=True, description="<cycle>-<capability>-<dimension>")
    cycle_id: str = Field(foreign_key="cycle.id", index=True)
    rank: int
    priority: float
    capability: str
    dimension: str
    level: int | None = Field(
        default=None, description="the lowest unit level of the cell when proposed"
    )
    target_level: int
    gap: float = Field(description="the mean of the units' gaps to target when proposed")
    owner: str
    due_cycle: str
    linked_projects: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    status: str = Field(default="proposed", description="proposed, approved or dropped")
    title: str
    guidance: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class InitiativePulse(SQLModel, table=True):
    """One monthly reading of an initiative from its linked projects' evidence."""

    __tablename__ = "initiative_pulse"

    id: int | None = Field(default=None, primary_key=True)
    initiative_id: str = Field(foreign_key="initiative.id", index=True)
    as_of: date
    state: str = Field(description="on track, at risk, off track, done or no evidence")
    progress: float | None = Field(default=None, description="0-100, from percent complete")
    findings: list[str] = Field(default_factory=list, sa_column=Column(JSON))
    projects: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON))
    pulsed_at: datetime = Field(default_factory=utcnow)


class CycleReview(SQLModel, table=True):
    """The improve phase's comparison of a cycle with the next cycle's levels."""

    __tablename__ = "cycle_review"

    cycle_id: str = Field(foreign_key="cycle.id", primary_key=True)
    compared_with: str = Field(foreign_key="cycle.id")
    review: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON))
    reviewed_at: datetime = Field(default_factory=utcnow)


_SQL_TYPES: dict[str, Any] = {
    "text": sa.Text,
    "decimal": sa.Float,
    "date": sa.Date,
    "boolean": sa.Boolean,
}


def _evidence_table(kind: EvidenceKind) -> sa.Table:
    name = f"evidence_{kind.name}"
    if name in SQLModel.metadata.tables:
        return SQLModel.metadata.tables[name]
    return sa.Table(
        name,
        SQLModel.metadata,
        sa.Column("batch_id", sa.Integer, sa.ForeignKey("evidence_batch.id"), index=True),
        sa.Column("row_number", sa.Integer),
        *(sa.Column(f.name, _SQL_TYPES[f.type]) for f in kind.fields),
    )


EVIDENCE_TABLES = {name: _evidence_table(kind) for name, kind in load_kinds().items()}


def make_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: sa.URL | str) -> Config:
    """Alembic's configuration for this package's migrations, on a database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    rendered = url.render_as_string(hide_password=False) if isinstance(url, sa.URL) else url
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def init_db(engine: sa.Engine) -> None:
    """Create or upgrade the schema in place through the Alembic migrations."""
    config = alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


# cycles -------------------------------------------------------------------------------


def open_cycle(
    *,
    session: Session,
    cycle_id: str,
    as_of: date,
    actor: str = "btm",
    reason: str = "opened to gather its evidence",
) -> Cycle:
    """The cycle, opened in its assess phase when it did not exist yet."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        cycle = Cycle(id=cycle_id, as_of=as_of)
        session.add(cycle)
        session.flush()
        session.add(PhaseChange(cycle_id=cycle_id, phase="assess", actor=actor, reason=reason))
        session.commit()
    return cycle


def phase_history(*, session: Session, cycle_id: str) -> list[PhaseChange]:
    statement = select(PhaseChange).where(PhaseChange.cycle_id == cycle_id)
    return list(session.exec(statement.order_by(col(PhaseChange.id))))


def current_phases(*, session: Session) -> dict[str, PhaseChange]:
    """Every cycle's latest phase change, by cycle id, in cycle order."""
    latest: dict[str, PhaseChange] = {}
    for change in session.exec(select(PhaseChange).order_by(col(PhaseChange.id))):
        latest[change.cycle_id] = change
    return dict(sorted(latest.items()))


def initiatives_of(*, session: Session, cycle_id: str) -> list[Initiative]:
    statement = select(Initiative).where(Initiative.cycle_id == cycle_id)
    return list(session.exec(statement.order_by(col(Initiative.rank))))


def latest_pulses(*, session: Session, initiative_ids: Sequence[str]) -> dict[str, InitiativePulse]:
    """Each initiative's newest pulse reading."""
    statement = select(InitiativePulse).where(
        col(InitiativePulse.initiative_id).in_(initiative_ids)
    )
    latest: dict[str, InitiativePulse] = {}
    for pulse in session.exec(
        statement.order_by(col(InitiativePulse.as_of), col(InitiativePulse.id))
    ):
        latest[pulse.initiative_id] = pulse
    return latest


def replace_pulses(*, session: Session, as_of: date, pulses: Sequence[InitiativePulse]) -> None:
    """Store a pulse's readings, replacing any earlier reading of the same day."""
    ids = [p.initiative_id for p in pulses]
    session.exec(
        delete(InitiativePulse).where(
            col(InitiativePulse.as_of) == as_of, col(InitiativePulse.initiative_id).in_(ids)
        )
    )
    session.add_all(pulses)
    session.commit()


def complete_cycle(
    *,
    session: Session,
    cycle_id: str,
    rubric_version: str,
    evidence_key: str | None = None,
    target_state: str | None = None,
) -> None:
    """Record the cycle's original scoring: its rubric, evidence key and target state."""
    cycle = session.get(Cycle, cycle_id)
    assert cycle is not None, f"cycle {cycle_id} was never opened"
    cycle.completed_at = utcnow()
    cycle.rubric_version = rubric_version
    cycle.evidence_key = evidence_key
    cycle.target_state = target_state
    session.add(cycle)
    session.commit()


def record_target_state(*, session: Session, cycle_id: str, target_state: str) -> None:
    cycle = session.get(Cycle, cycle_id)
    assert cycle is not None, f"cycle {cycle_id} was never opened"
    cycle.target_state = target_state
    session.add(cycle)
    session.commit()


def latest_cycle(*, session: Session) -> Cycle | None:
    statement = select(Cycle).where(col(Cycle.completed_at).is_not(None))
    return session.exec(statement.order_by(col(Cycle.id).desc())).first()


def cycle_ids(*, session: Session, up_to: str) -> list[str]:
    statement = select(Cycle.id).where(col(Cycle.id) <= up_to)
    return list(session.exec(statement.order_by(col(Cycle.id))))


def previous_cycle(*, session: Session, cycle_id: str) -> Cycle | None:
    statement = select(Cycle).where(col(Cycle.id) < cycle_id, col(Cycle.completed_at).is_not(None))
    return session.exec(statement.order_by(col(Cycle.id).desc())).first()


# evidence -----------------------------------------------------------------------------


def find_batch(*, session: Session, source: str, part: str, sha256: str) -> EvidenceBatch | None:
    statement = select(EvidenceBatch).where(
        EvidenceBatch.source == source,
        EvidenceBatch.part == part,
        EvidenceBatch.sha256 == sha256,
    )
    return session.exec(statement).first()


def add_batch(*, session: Session, batch: EvidenceBatch) -> EvidenceBatch:
    session.add(batch)
    session.commit()
    session.refresh(batch)
    return batch


def last_accepted_batches(
    *,
    session: Session,
    source: str,
    up_to_cycle: str,
    part: str | None = None,
    before_id: int | None = None,
) -> list[EvidenceBatch]:
    """The newest accepted batch of each part of a source, first gathered no later than
    the cycle (and older than `before_id` when given)."""
    statement = select(EvidenceBatch).where(
        EvidenceBatch.source == source,
        EvidenceBatch.status == "accepted",
        col(EvidenceBatch.cycle_id) <= up_to_cycle,
    )
    if part is not None:
        statement = statement.where(EvidenceBatch.part == part)
    if before_id is not None:
        statement = statement.where(col(EvidenceBatch.id) < before_id)
    newest: dict[str, EvidenceBatch] = {}
    for batch in session.exec(statement.order_by(col(EvidenceBatch.id))):
        newest[batch.part] = batch
    return sorted(newest.values(), key=lambda b: b.part)


def record_fetch(*, session: Session, fetch: SourceFetch) -> None:
    session.add(fetch)
    session.commit()


def latest_fetches(*, session: Session, cycle_id: str) -> dict[str, list[SourceFetch]]:
    """Each source's rows of its latest fetch attempt in the cycle."""
    statement = select(SourceFetch).where(SourceFetch.cycle_id == cycle_id)
    rows = list(session.exec(statement.order_by(col(SourceFetch.id))))
    last_attempt = {row.source: row.attempt for row in rows}
    latest: dict[str, list[SourceFetch]] = {}
    for row in rows:
        if row.attempt == last_attempt[row.source]:
            latest.setdefault(row.source, []).append(row)
    return dict(sorted(latest.items()))


def newest_cycle_fetched(*, session: Session, up_to: str) -> str | None:
    """The newest cycle, up to `up_to`, whose sources were fetched."""
    statement = select(SourceFetch.cycle_id).where(col(SourceFetch.cycle_id) <= up_to)
    return session.exec(statement.order_by(col(SourceFetch.cycle_id).desc())).first()


def last_cycle_using(*, session: Session, batch_id: int, before_cycle: str) -> str | None:
    """The last cycle before `before_cycle` whose fetch brought this batch."""
    statement = select(sa.func.max(SourceFetch.cycle_id)).where(
        SourceFetch.batch_id == batch_id, col(SourceFetch.cycle_id) < before_cycle
    )
    return session.exec(statement).first()


def get_batch(*, session: Session, batch_id: int) -> EvidenceBatch:
    batch = session.get(EvidenceBatch, batch_id)
    assert batch is not None, f"evidence batch {batch_id} is referenced but missing"
    return batch


def all_fetches(*, session: Session) -> list[SourceFetch]:
    return list(session.exec(select(SourceFetch).order_by(col(SourceFetch.id))))


def _db_records(frame: pd.DataFrame, table: sa.Table) -> list[tuple[Any, ...]]:
    """Rows as plain tuples for the driver: dates as ISO text, missing values as None."""
    columns: dict[str, Any] = {}
    for column in table.columns:
        values = frame[column.name]
        if isinstance(column.type, sa.Date):
            # a field the source does not carry arrives as an all-missing object column
            values = pd.to_datetime(values).dt.strftime("%Y-%m-%d")
        columns[column.name] = values.astype(object).where(values.notna(), None)
    return list(zip(*columns.values(), strict=True))


def store_rows(*, engine: sa.Engine, kind: str, batch_id: int, frame: pd.DataFrame) -> None:
    """Write a batch's rows in bulk in one transaction: COPY on PostgreSQL, the driver's
    executemany elsewhere; never one ORM object per row."""
    table = EVIDENCE_TABLES[kind]
    out = frame.reindex(columns=[c.name for c in table.columns])
    out["batch_id"] = batch_id
    out["row_number"] = frame["_row"].to_numpy()
    records = _db_records(out, table)
    names = ", ".join(c.name for c in table.columns)
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.batch_id == batch_id))
        if engine.dialect.name == "postgresql":
            driver = connection.connection.driver_connection
            assert driver is not None
            with (
                driver.cursor() as cursor,
                cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy,
            ):
                for record in records:
                    copy.write_row(record)
            return
        marks = ", ".join("?" for _ in table.columns)
        insert = f"INSERT INTO {table.name} ({names}) VALUES ({marks})"
        for start in range(0, len(records), ROW_CHUNK):
            connection.exec_driver_sql(insert, records[start : start + ROW_CHUNK])


def delete_rows(*, engine: sa.Engine, kind: str, batch_id: int) -> None:
    table = EVIDENCE_TABLES[kind]
    with engine.begin() as connection:
        connection.execute(table.delete().where(table.c.batch_id == batch_id))


def load_ids(*, engine: sa.Engine, kind: str, batch_ids: Sequence[int]) -> set[str]:
    """The distinct ids of a kind's rows in the given batches."""
    if not batch_ids:
        return set()
    table = EVIDENCE_TABLES[kind]
    id_column = table.c[load_kinds()[kind].id_field]
    statement = sa.select(id_column).where(table.c.batch_id.in_(list(batch_ids))).distinct()
    with engine.connect() as connection:
        return {str(v) for v in connection.execute(statement).scalars() if v is not None}


def load_rows(*, engine: sa.Engine, kind: str, batch_ids: Sequence[int]) -> pd.DataFrame:
    """A kind's rows of the given batches, typed as the reader types them."""
    table = EVIDENCE_TABLES[kind]
    names = [c.name for c in table.columns]
    ids = ", ".join(str(int(i)) for i in batch_ids) or "NULL"
    # The driver's own cursor: plain tuples, none of SQLAlchemy's per-row processing.
    query = f"SELECT {', '.join(names)} FROM {table.name} WHERE batch_id IN ({ids})"
    with engine.connect() as connection:
        cursor = connection.connection.cursor()
        try:
            cursor.execute(query)
            rows = cursor.fetchall()
        finally:
            cursor.close()
    frame = pd.DataFrame.from_records(rows, columns=names)
    for column in table.columns:
        values = frame[column.name]
        if isinstance(column.type, sa.Date):
            frame[column.name] = pd.to_datetime(values, format="ISO8601")
        elif isinstance(column.type, sa.Boolean):
            frame[column.name] = values.astype("boolean")
        elif isinstance(column.type, sa.Float):
            frame[column.name] = pd.to_numeric(values).astype(float)
        elif isinstance(column.type, sa.Text):
            frame[column.name] = values.astype("str")
    return frame


# scores -------------------------------------------------------------------------------


def replace_scores(
    *, session: Session, cycle_id: str, rubric_version: str, scores: Iterable[Score]
) -> int:
    """Replace a cycle's scores under one rubric version in one transaction: never
    duplicated; its sets under other versions and earlier cycles untouched."""
    session.exec(
        delete(Score).where(
            col(Score.cycle_id) == cycle_id, col(Score.rubric_version) == rubric_version
        )
    )
    count = 0
    for score in scores:
        assert (score.cycle_id, score.rubric_version) == (cycle_id, rubric_version), (
            f"a score of {score.cycle_id} under {score.rubric_version} in the set of "
            f"{cycle_id} under {rubric_version}"
        )
        session.add(score)
        count += 1
    session.commit()
    return count


def get_scores(
    *, session: Session, cycle_id: str, rubric_version: str | None = None
) -> list[Score]:
    """A cycle's scores under one rubric version; by default its original scoring's."""
    if rubric_version is None:
        cycle = session.get(Cycle, cycle_id)
        rubric_version = cycle.rubric_version if cycle else None
    statement = select(Score).where(
        Score.cycle_id == cycle_id, Score.rubric_version == rubric_version
    )
    order = (col(Score.unit), col(Score.capability), col(Score.dimension))
    return list(session.exec(statement.order_by(*order)))


def rubric_versions(*, session: Session, cycle_id: str) -> list[str]:
    """Every rubric version the cycle was scored under, in version order (2026.9 before
    2026.10)."""
    statement = select(Score.rubric_version).where(Score.cycle_id == cycle_id).distinct()
    return sorted(session.exec(statement), key=_version_order)


def _version_order(version: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


def scores_frame(scores: Sequence[Score]) -> pd.DataFrame:
    frame = pd.DataFrame(
        [(s.unit, s.capability, s.dimension, s.level) for s in scores],
        columns=["unit", "capability", "dimension", "level"],
    )
    frame["level"] = frame["level"].astype("Int64")
    return frame


# deliveries ---------------------------------------------------------------------------


def find_delivery(
    *, session: Session, cycle_id: str, audience: str, recipient: str
) -> Delivery | None:
    statement = select(Delivery).where(
        Delivery.cycle_id == cycle_id,
        Delivery.audience == audience,
        Delivery.recipient == recipient,
    )
    return session.exec(statement).first()


def record_delivery(*, session: Session, delivery: Delivery) -> None:
    session.add(delivery)
    session.commit()


def get_deliveries(*, session: Session, cycle_id: str) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(Delivery.cycle_id == cycle_id)))


@cache
def engine_for(url: str) -> sa.Engine:
    """One engine per database URL per process, with the schema in place."""
    engine = make_engine(url)
    init_db(engine)
    return engine
