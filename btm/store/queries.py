"""Every query of the product, with keyword-only arguments: cycles, evidence batches and
rows, fetches, scores, deliveries, phases, initiatives and pulses.

The rest of the product calls the functions that take an `engine`: each opens its own
session and, when it writes, commits the whole write as one transaction. The functions
that take a `session` are the steps they are built from.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, col, delete, select

from btm.store.engine import session_scope
from btm.store.tables import (
    Cycle,
    CycleReview,
    Delivery,
    DeliveryState,
    EvidenceBatch,
    Initiative,
    InitiativeDecision,
    InitiativePulse,
    PhaseChange,
    RunFailure,
    Score,
    SourceFetch,
    SurveyCampaign,
    SurveyInvitee,
    utcnow,
)
from btm.vocabulary import Basis, BatchStatus, Phase

if TYPE_CHECKING:
    import pandas as pd

OPENED_REASON = "opened to gather its evidence"


def open_cycle(
    *,
    session: Session,
    cycle_id: str,
    as_of: date,
    actor: str = "btm",
    reason: str = OPENED_REASON,
) -> Cycle:
    """The cycle, opened in its assess phase when it did not exist yet."""
    cycle = session.get(Cycle, cycle_id)
    if cycle is None:
        cycle = Cycle(id=cycle_id, as_of=as_of)
        session.add(cycle)
        session.flush()
        session.add(PhaseChange(cycle_id=cycle_id, phase=Phase.ASSESS, actor=actor, reason=reason))
        session.commit()
    return cycle


def ensure_cycle(
    *,
    engine: sa.Engine,
    cycle_id: str,
    as_of: date,
    actor: str = "btm",
    reason: str = OPENED_REASON,
) -> Cycle:
    """`open_cycle` in a session of its own."""
    with session_scope(engine) as session:
        return open_cycle(
            session=session, cycle_id=cycle_id, as_of=as_of, actor=actor, reason=reason
        )


def find_cycle(*, engine: sa.Engine, cycle_id: str) -> Cycle | None:
    """The cycle, None when it was never opened."""
    with session_scope(engine) as session:
        return session.get(Cycle, cycle_id)


def phase_history(*, session: Session, cycle_id: str) -> list[PhaseChange]:
    statement = select(PhaseChange).where(PhaseChange.cycle_id == cycle_id)
    return list(session.exec(statement.order_by(col(PhaseChange.id))))


def phase_changes(*, engine: sa.Engine, cycle_ids: Sequence[str]) -> list[PhaseChange]:
    """The phase history of each cycle, one cycle after the other in the order given."""
    with session_scope(engine) as session:
        return [c for i in cycle_ids for c in phase_history(session=session, cycle_id=i)]


def last_phase_change(*, session: Session, cycle_id: str) -> PhaseChange | None:
    """The cycle's latest phase change: its phase now; None when it was never opened."""
    history = phase_history(session=session, cycle_id=cycle_id)
    return history[-1] if history else None


def phase_of(*, engine: sa.Engine, cycle_id: str) -> PhaseChange | None:
    """`last_phase_change` in a session of its own."""
    with session_scope(engine) as session:
        return last_phase_change(session=session, cycle_id=cycle_id)


def enter_phase(*, engine: sa.Engine, change: PhaseChange) -> PhaseChange:
    """Append a phase change (checked by the caller) in one transaction."""
    with session_scope(engine) as session:
        session.add(change)
        session.commit()
        return change


def current_phases(*, session: Session) -> dict[str, PhaseChange]:
    """Every cycle's latest phase change, by cycle id, in cycle order."""
    latest: dict[str, PhaseChange] = {}
    for change in session.exec(select(PhaseChange).order_by(col(PhaseChange.id))):
        latest[change.cycle_id] = change
    return dict(sorted(latest.items()))


def cycle_phases(*, engine: sa.Engine) -> dict[str, PhaseChange]:
    """`current_phases` in a session of its own."""
    with session_scope(engine) as session:
        return current_phases(session=session)


def initiatives_of(*, session: Session, cycle_id: str) -> list[Initiative]:
    """The initiatives proposed in the cycle's own backlog, in rank order."""
    statement = select(Initiative).where(Initiative.cycle_id == cycle_id)
    return list(session.exec(statement.order_by(col(Initiative.rank))))


def own_initiatives(*, engine: sa.Engine, cycle_id: str) -> list[Initiative]:
    """`initiatives_of` in a session of its own."""
    with session_scope(engine) as session:
        return initiatives_of(session=session, cycle_id=cycle_id)


def all_initiatives(*, engine: sa.Engine, up_to: str | None = None) -> list[Initiative]:
    """Every initiative proposed up to the cycle `up_to` (default: all), oldest cycle
    first, each cycle's in rank order."""
    statement = select(Initiative)
    if up_to is not None:
        statement = statement.where(col(Initiative.cycle_id) <= up_to)
    with session_scope(engine) as session:
        return list(
            session.exec(statement.order_by(col(Initiative.cycle_id), col(Initiative.rank)))
        )


def backlog_of(*, engine: sa.Engine, cycle_id: str) -> list[Initiative]:
    """The cycle's backlog in rank order: its own initiatives and those carried into it
    from earlier cycles."""
    return sorted(
        (i for i in all_initiatives(engine=engine, up_to=cycle_id) if i.in_backlog_of(cycle_id)),
        key=lambda i: (i.rank, i.cycle_id, i.id),
    )


def save_initiatives(
    *,
    engine: sa.Engine,
    initiatives: Iterable[Initiative],
    decisions: Iterable[InitiativeDecision] = (),
) -> None:
    """Add new initiatives and write changed ones, with the decisions taken on them, all
    in one transaction."""
    with session_scope(engine) as session:
        session.add_all(initiatives)
        session.flush()
        session.add_all(decisions)
        session.commit()


def decisions_of(*, engine: sa.Engine, cycle_ids: Sequence[str]) -> list[InitiativeDecision]:
    """The decisions taken in the backlogs of these cycles, oldest first."""
    statement = select(InitiativeDecision).where(col(InitiativeDecision.cycle_id).in_(cycle_ids))
    with session_scope(engine) as session:
        return list(
            session.exec(
                statement.order_by(col(InitiativeDecision.decided_at), col(InitiativeDecision.id))
            )
        )


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


def pulses_of(*, engine: sa.Engine, initiative_ids: Sequence[str]) -> dict[str, InitiativePulse]:
    """`latest_pulses` in a session of its own."""
    with session_scope(engine) as session:
        return latest_pulses(session=session, initiative_ids=initiative_ids)


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


def save_pulses(*, engine: sa.Engine, as_of: date, pulses: Sequence[InitiativePulse]) -> None:
    """`replace_pulses` in one transaction of its own."""
    with session_scope(engine) as session:
        replace_pulses(session=session, as_of=as_of, pulses=pulses)


def review_of(*, engine: sa.Engine, cycle_id: str) -> CycleReview | None:
    """The improve phase's review of the cycle, None before it is reviewed."""
    with session_scope(engine) as session:
        return session.get(CycleReview, cycle_id)


def save_review(*, engine: sa.Engine, review: CycleReview) -> None:
    """Store a cycle's review, replacing an earlier one of the same cycle."""
    with session_scope(engine) as session:
        session.merge(review)
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


def latest_scored_cycle(*, engine: sa.Engine) -> Cycle | None:
    """`latest_cycle` in a session of its own: the newest scored cycle."""
    with session_scope(engine) as session:
        return latest_cycle(session=session)


def cycle_ids(*, session: Session, up_to: str) -> list[str]:
    statement = select(Cycle.id).where(col(Cycle.id) <= up_to)
    return list(session.exec(statement.order_by(col(Cycle.id))))


def cycle_ids_up_to(*, engine: sa.Engine, up_to: str) -> list[str]:
    """`cycle_ids` in a session of its own: every cycle up to `up_to`, oldest first."""
    with session_scope(engine) as session:
        return cycle_ids(session=session, up_to=up_to)


def previous_cycle(*, session: Session, cycle_id: str) -> Cycle | None:
    statement = select(Cycle).where(col(Cycle.id) < cycle_id, col(Cycle.completed_at).is_not(None))
    return session.exec(statement.order_by(col(Cycle.id).desc())).first()


def previous_scored_cycle(*, engine: sa.Engine, cycle_id: str) -> Cycle | None:
    """`previous_cycle` in a session of its own: the newest scored cycle before this one."""
    with session_scope(engine) as session:
        return previous_cycle(session=session, cycle_id=cycle_id)


def find_batch(*, session: Session, source: str, part: str, sha256: str) -> EvidenceBatch | None:
    statement = select(EvidenceBatch).where(
        EvidenceBatch.source == source,
        EvidenceBatch.part == part,
        EvidenceBatch.sha256 == sha256,
    )
    return session.exec(statement).first()


def kept_batch(*, engine: sa.Engine, source: str, part: str, sha256: str) -> EvidenceBatch | None:
    """`find_batch` in a session of its own: the batch kept for this content, if any."""
    with session_scope(engine) as session:
        return find_batch(session=session, source=source, part=part, sha256=sha256)


def batches_by_hash(*, engine: sa.Engine, hashes: Sequence[str]) -> list[EvidenceBatch]:
    """The batches kept with any of these contents."""
    statement = select(EvidenceBatch).where(col(EvidenceBatch.sha256).in_(hashes))
    with session_scope(engine) as session:
        return list(session.exec(statement))


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
        EvidenceBatch.status == BatchStatus.ACCEPTED,
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


def carried_batches(
    *,
    engine: sa.Engine,
    source: str,
    up_to_cycle: str,
    part: str | None = None,
    before_id: int | None = None,
) -> list[tuple[EvidenceBatch, str | None]]:
    """`last_accepted_batches`, each with the last cycle before `up_to_cycle` whose fetch
    brought it (None when none did), in one session."""
    carried = []
    with session_scope(engine) as session:
        for batch in last_accepted_batches(
            session=session, source=source, up_to_cycle=up_to_cycle, part=part, before_id=before_id
        ):
            assert batch.id is not None
            used = last_cycle_using(session=session, batch_id=batch.id, before_cycle=up_to_cycle)
            carried.append((batch, used))
    return carried


def record_fetch(*, session: Session, fetch: SourceFetch) -> None:
    session.add(fetch)
    session.commit()


def save_fetch(*, engine: sa.Engine, fetch: SourceFetch) -> None:
    """`record_fetch` in one transaction of its own."""
    with session_scope(engine) as session:
        record_fetch(session=session, fetch=fetch)


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


def fetched_batches(
    *, engine: sa.Engine, cycle_id: str
) -> dict[str, list[tuple[SourceFetch, EvidenceBatch | None]]]:
    """`latest_fetches`, each row with the batch it brought (None for a row without
    one), in one session."""
    with session_scope(engine) as session:
        return {
            source: [
                (
                    fetch,
                    None
                    if fetch.batch_id is None
                    else get_batch(session=session, batch_id=fetch.batch_id),
                )
                for fetch in fetches
            ]
            for source, fetches in latest_fetches(session=session, cycle_id=cycle_id).items()
        }


def newest_cycle_fetched(*, session: Session, up_to: str | None = None) -> str | None:
    """The newest cycle whose sources were fetched, up to `up_to` when given."""
    statement = select(SourceFetch.cycle_id)
    if up_to is not None:
        statement = statement.where(col(SourceFetch.cycle_id) <= up_to)
    return session.exec(statement.order_by(col(SourceFetch.cycle_id).desc())).first()


def newest_fetched_cycle(*, engine: sa.Engine, up_to: str | None = None) -> str | None:
    """`newest_cycle_fetched` in a session of its own."""
    with session_scope(engine) as session:
        return newest_cycle_fetched(session=session, up_to=up_to)


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


def fetch_history(*, engine: sa.Engine) -> list[SourceFetch]:
    """`all_fetches` in a session of its own: every fetch row, oldest first."""
    with session_scope(engine) as session:
        return all_fetches(session=session)


# a score's stored fields, read straight off the object: pydantic's model_dump costs
# more than the INSERT itself for a cycle's thousands of cells
_SCORE_FIELDS = tuple(c.name for c in Score.__table__.columns if c.name != "id")  # type: ignore[attr-defined]


def replace_scores(
    *,
    session: Session,
    cycle_id: str,
    rubric_version: str,
    scores: Iterable[Score | Mapping[str, Any]],
) -> int:
    """Replace a cycle's scores under one rubric version in one transaction: never
    duplicated; its sets under other versions and earlier cycles untouched. A score is a
    `Score` or its fields by name (a cycle's thousands of cells, built without the ORM's
    bookkeeping for each)."""
    session.exec(
        delete(Score).where(
            col(Score.cycle_id) == cycle_id, col(Score.rubric_version) == rubric_version
        )
    )
    rows = []
    for score in scores:
        row = (
            {name: score[name] for name in _SCORE_FIELDS}
            if isinstance(score, Mapping)
            else {name: getattr(score, name) for name in _SCORE_FIELDS}
        )
        assert (row["cycle_id"], row["rubric_version"]) == (cycle_id, rubric_version), (
            f"a score of {row['cycle_id']} under {row['rubric_version']} in the set of "
            f"{cycle_id} under {rubric_version}"
        )
        rows.append(row)
    if rows:  # one bulk INSERT: thousands of cells, never one ORM flush each
        session.execute(sa.insert(Score), rows)
    session.commit()
    return len(rows)


def is_original(scored: Cycle | None, rubric_version: str) -> bool:
    """Whether scoring the cycle under this rubric version is its original scoring: its
    first, or a later one under the same version. Any other is a rescore."""
    return scored is None or scored.rubric_version in (None, rubric_version)


def save_cycle_scores(
    *,
    engine: sa.Engine,
    cycle_id: str,
    rubric_version: str,
    scores: Iterable[Score | Mapping[str, Any]],
    evidence_key: str,
    target_state: str,
) -> int:
    """Store a scoring as the cycle's set under its rubric version, replacing only an
    earlier set under that same version. An original scoring records its rubric, evidence
    key and target state on the cycle; a rescore leaves the cycle's record as it is."""
    with Session(engine, expire_on_commit=False) as session:
        count = replace_scores(
            session=session, cycle_id=cycle_id, rubric_version=rubric_version, scores=scores
        )
        scored = session.get(Cycle, cycle_id)
        if is_original(scored, rubric_version):
            complete_cycle(
                session=session,
                cycle_id=cycle_id,
                rubric_version=rubric_version,
                evidence_key=evidence_key,
                target_state=target_state,
            )
        elif scored is not None and scored.target_state is None:
            # scored before targets existed: its rescores name the state they measure to
            record_target_state(session=session, cycle_id=cycle_id, target_state=target_state)
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


def scores_of(
    *, engine: sa.Engine, cycle_id: str, rubric_version: str | None = None
) -> list[Score]:
    """`get_scores` in a session of its own."""
    with session_scope(engine) as session:
        return get_scores(session=session, cycle_id=cycle_id, rubric_version=rubric_version)


def rubric_versions(*, session: Session, cycle_id: str) -> list[str]:
    """Every rubric version the cycle was scored under, in version order (2026.9 before
    2026.10)."""
    statement = select(Score.rubric_version).where(Score.cycle_id == cycle_id).distinct()
    return sorted(session.exec(statement), key=_version_order)


def rubric_versions_of(*, engine: sa.Engine, cycle_id: str) -> list[str]:
    """`rubric_versions` in a session of its own."""
    with session_scope(engine) as session:
        return rubric_versions(session=session, cycle_id=cycle_id)


def _version_order(version: str) -> list[str | int]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version)]


def metric_history(
    *, engine: sa.Engine, cycle_id: str, rubric_version: str, cycles: int
) -> dict[str, dict[str, list[float | None]]]:
    """Per unit and metric, the values its scores' traces recorded in the `cycles` scored
    cycles before `cycle_id`, oldest first (None where a cycle did not measure it): from
    each cycle's set under `rubric_version` when it has one, else its original set."""
    with session_scope(engine) as session:
        statement = select(Cycle).where(
            col(Cycle.id) < cycle_id, col(Cycle.completed_at).is_not(None)
        )
        earlier = list(session.exec(statement.order_by(col(Cycle.id).desc()).limit(cycles)))
        history: dict[str, dict[str, list[float | None]]] = {}
        for position, cycle in enumerate(reversed(earlier)):
            versions = rubric_versions(session=session, cycle_id=cycle.id)
            version = rubric_version if rubric_version in versions else cycle.rubric_version
            for score in get_scores(session=session, cycle_id=cycle.id, rubric_version=version):
                by_metric = history.setdefault(score.unit, {})
                for entry in score.trace:
                    metric, value = entry.get("metric"), entry.get("value")
                    if not metric or entry.get("rule") == "survey":
                        continue
                    values = by_metric.setdefault(metric, [None] * len(earlier))
                    if value is not None:
                        values[position] = float(value)
    return history


def basis_of(score: Score) -> Basis:
    """What a stored level rests on; for a score stored before rubric 2027.1, read from its
    trace (a survey entry: the survey; else system evidence, or unknown without a level)."""
    if score.basis:
        return Basis(score.basis)
    if any(entry.get("rule") == "survey" for entry in score.trace):
        return Basis.SURVEY
    return Basis.UNKNOWN if score.level is None else Basis.SYSTEM


SCORE_FRAME_COLUMNS = ["unit", "capability", "dimension", "level", "basis", "confidence"]


def scores_frame(scores: Sequence[Score]) -> pd.DataFrame:
    """The scores as a frame: level (Int64, <NA> when unknown), basis and confidence (NaN
    when none was stored)."""
    import pandas as pd

    frame = pd.DataFrame(
        [
            (s.unit, s.capability, s.dimension, s.level, str(basis_of(s)), s.confidence)
            for s in scores
        ],
        columns=SCORE_FRAME_COLUMNS,
    )
    frame["level"] = frame["level"].astype("Int64")
    frame["confidence"] = frame["confidence"].astype(float)
    return frame


def find_delivery(
    *, session: Session, cycle_id: str, audience: str, recipient: str
) -> Delivery | None:
    statement = select(Delivery).where(
        Delivery.cycle_id == cycle_id,
        Delivery.audience == audience,
        Delivery.recipient == recipient,
    )
    return session.exec(statement).first()


def delivered_to(*, engine: sa.Engine, cycle_id: str, audience: str) -> set[str]:
    """The recipients the ledger records as sent the cycle's report for the audience."""
    return {
        recipient
        for recipient, row in ledger_of(engine=engine, cycle_id=cycle_id, audience=audience).items()
        if row.state == DeliveryState.SENT
    }


def ledger_of(*, engine: sa.Engine, cycle_id: str, audience: str) -> dict[str, Delivery]:
    """The audience's ledger rows for the cycle, by recipient, whatever their state."""
    statement = select(Delivery).where(Delivery.cycle_id == cycle_id, Delivery.audience == audience)
    with session_scope(engine) as session:
        return {row.recipient: row for row in session.exec(statement)}


def begin_delivery(*, engine: sa.Engine, delivery: Delivery) -> Delivery | None:
    """Record an attempt as `sending`, committed before the message goes out: a new row,
    or the recipient's row of an attempt that failed or whose outcome is unknown. None
    when the ledger has it sent (or another run has just claimed it): send nothing."""
    with session_scope(engine) as session:
        row = find_delivery(
            session=session,
            cycle_id=delivery.cycle_id,
            audience=delivery.audience,
            recipient=delivery.recipient,
        )
        if row is not None and row.state == DeliveryState.SENT:
            return None
        if row is None:
            row = delivery
        else:
            for name in ("channel", "location", "message_id"):
                setattr(row, name, getattr(delivery, name))
        row.state, row.error = DeliveryState.SENDING, None
        row.attempted_at, row.delivered_at = utcnow(), None
        session.add(row)
        try:
            session.commit()
        except sa.exc.IntegrityError:  # another run inserted the row first: it sends
            session.rollback()
            return None
        return row


def finish_delivery(
    *, engine: sa.Engine, delivery_id: int, state: DeliveryState, error: str | None = None
) -> None:
    """Record an attempt's outcome: `sent` (delivered now) or `failed` (with why)."""
    with session_scope(engine) as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            raise LookupError(f"no delivery {delivery_id} in the ledger")
        row.state, row.error = state, error
        row.delivered_at = utcnow() if state == DeliveryState.SENT else None
        session.add(row)
        session.commit()


def record_delivery(*, session: Session, delivery: Delivery) -> None:
    session.add(delivery)
    session.commit()


def save_delivery(*, engine: sa.Engine, delivery: Delivery) -> None:
    """`record_delivery` in one transaction of its own."""
    with session_scope(engine) as session:
        record_delivery(session=session, delivery=delivery)


def get_deliveries(*, session: Session, cycle_id: str) -> list[Delivery]:
    return list(session.exec(select(Delivery).where(Delivery.cycle_id == cycle_id)))


def record_run_failure(*, engine: sa.Engine, failure: RunFailure) -> None:
    with session_scope(engine) as session:
        session.add(failure)
        session.commit()


def last_run_failure(*, engine: sa.Engine) -> RunFailure | None:
    """The flow run that failed most recently, with where its alert went."""
    statement = select(RunFailure).order_by(
        col(RunFailure.failed_at).desc(), col(RunFailure.id).desc()
    )
    with session_scope(engine) as session:
        return session.exec(statement.limit(1)).first()


def last_accepted_increment(
    *, engine: sa.Engine, source: str, cycle_id: str
) -> tuple[SourceFetch, EvidenceBatch] | None:
    """The source's latest fetch in the cycle that left a watermark and whose batch was
    accepted, with that batch: where its next incremental fetch asks from, and the
    snapshot that fetch merges onto. None when the cycle has none (its next fetch is full).
    A fetch that failed or was quarantined since is passed over: it moves nothing."""
    statement = (
        select(SourceFetch, EvidenceBatch)
        .join(EvidenceBatch, col(SourceFetch.batch_id) == col(EvidenceBatch.id))
        .where(
            SourceFetch.source == source,
            SourceFetch.cycle_id == cycle_id,
            col(SourceFetch.ok).is_(True),
            col(SourceFetch.watermark).is_not(None),
            EvidenceBatch.status == BatchStatus.ACCEPTED,
        )
        .order_by(col(SourceFetch.id).desc())
    )
    with session_scope(engine) as session:
        found = session.exec(statement.limit(1)).first()
        return None if found is None else (found[0], found[1])


# survey campaigns ----------------------------------------------------------------------


def survey_campaign(*, engine: sa.Engine, cycle_id: str) -> SurveyCampaign | None:
    """The cycle's self-assessment campaign, if one was opened."""
    statement = select(SurveyCampaign).where(SurveyCampaign.cycle_id == cycle_id)
    with session_scope(engine) as session:
        return session.exec(statement).first()


def open_survey_campaign(*, engine: sa.Engine, campaign: SurveyCampaign) -> SurveyCampaign:
    """The cycle's campaign: `campaign` when the cycle has none yet, else the one it has,
    closing on `campaign.closes_on` from now on (a campaign keeps its id for good: every
    questionnaire sent carries it). Two runs opening one cycle's campaign at once keep one."""
    with Session(engine, expire_on_commit=False) as session:
        existing = session.exec(
            select(SurveyCampaign).where(SurveyCampaign.cycle_id == campaign.cycle_id)
        ).first()
        if existing is None:
            session.add(campaign)
            try:
                session.commit()
            except sa.exc.IntegrityError:  # the other run's row won
                session.rollback()
                return open_survey_campaign(engine=engine, campaign=campaign)
            return campaign
        existing.closes_on = campaign.closes_on
        session.add(existing)
        session.commit()
        return existing


def survey_invitees(*, engine: sa.Engine, campaign_id: str) -> dict[str, SurveyInvitee]:
    """A campaign's invitees by respondent id."""
    statement = select(SurveyInvitee).where(SurveyInvitee.campaign_id == campaign_id)
    with session_scope(engine) as session:
        return {row.respondent_id: row for row in session.exec(statement)}


def add_survey_invitee(*, engine: sa.Engine, invitee: SurveyInvitee) -> SurveyInvitee:
    """The invitee as first recorded: a respondent is invited to a campaign once, as they
    were then, however often the campaign is opened again."""
    with Session(engine, expire_on_commit=False) as session:
        session.add(invitee)
        try:
            session.commit()
        except sa.exc.IntegrityError:
            session.rollback()
            existing = session.exec(
                select(SurveyInvitee).where(
                    SurveyInvitee.campaign_id == invitee.campaign_id,
                    SurveyInvitee.respondent_id == invitee.respondent_id,
                )
            ).one()
            return existing
        return invitee


def open_invitations(*, engine: sa.Engine, cycle_id: str, on: date) -> set[tuple[str, str]]:
    """(campaign id, respondent id) of every invitee of the cycle's campaign, if it is
    still open `on` that day (it closes at the end of its closing day); none once closed."""
    statement = (
        select(SurveyInvitee.campaign_id, SurveyInvitee.respondent_id)
        .join(SurveyCampaign, col(SurveyCampaign.id) == col(SurveyInvitee.campaign_id))
        .where(SurveyCampaign.cycle_id == cycle_id, col(SurveyCampaign.closes_on) >= on)
    )
    with session_scope(engine) as session:
        return {(campaign, respondent) for campaign, respondent in session.exec(statement)}


def latest_survey_campaign(*, engine: sa.Engine) -> SurveyCampaign | None:
    """The campaign opened last."""
    statement = select(SurveyCampaign).order_by(col(SurveyCampaign.opened_at).desc()).limit(1)
    with session_scope(engine) as session:
        return session.exec(statement).first()


def open_survey_campaigns(*, engine: sa.Engine, on: date) -> list[SurveyCampaign]:
    """The campaigns still open that day, oldest cycle first."""
    statement = (
        select(SurveyCampaign)
        .where(col(SurveyCampaign.closes_on) >= on)
        .order_by(col(SurveyCampaign.cycle_id))
    )
    with session_scope(engine) as session:
        return list(session.exec(statement))


def returns_by_part(*, engine: sa.Engine, cycle_id: str, source: str) -> dict[str, int]:
    """How many different payloads of each part the source's fetches in the cycle
    brought (for returned questionnaires: a second return replaces the first)."""
    statement = (
        select(EvidenceBatch.part, sa.func.count(sa.distinct(col(EvidenceBatch.sha256))))
        .join(SourceFetch, col(SourceFetch.batch_id) == col(EvidenceBatch.id))
        .where(SourceFetch.cycle_id == cycle_id, EvidenceBatch.source == source)
        .group_by(EvidenceBatch.part)
    )
    with session_scope(engine) as session:
        return {part: int(n) for part, n in session.exec(statement)}
