"""What a scheduled run and the PMO move on: after an assessment, the scored cycle goes
to design and an executing one is improved; `advance` is the PMO's step, the gate
included.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.errors import BtmError
from btm.improvement.backlog import build_backlog, decision
from btm.improvement.phases import PHASES, move_to_phase
from btm.improvement.review import improve_cycle, judge_initiatives
from btm.settings import Settings
from btm.vocabulary import InitiativeStatus, Phase


def backlog_text(size: int, carried: int) -> str:
    """'11 initiatives (6 carried over, 5 proposed)', or '10 initiatives proposed'."""
    if not carried:
        return f"{size} initiatives proposed"
    return f"{size} initiatives ({carried} carried over, {size - carried} proposed)"


@dataclass(frozen=True)
class Progress:
    """What a quarterly run moved on, and which cycles it left waiting at the gate."""

    designed: str | None  # the assessed cycle, now in design
    backlog: int
    improved: tuple[str, ...]
    waiting: tuple[str, ...]  # earlier cycles still in design: not passed silently
    carried: int = 0  # of the backlog, the initiatives carried over from earlier cycles

    def moved_lines(self) -> list[str]:
        designed = [f"{self.designed}: design, {backlog_text(self.backlog, self.carried)}"]
        return (designed if self.designed else []) + [
            f"{c}: improved and closed" for c in self.improved
        ]

    def waiting_lines(self, settings: Settings) -> list[str]:
        return [
            f"{c}: still waits in design for {settings.pmo}'s approval of its backlog "
            "(`btm cycle advance`); not passed by a scheduled run"
            for c in self.waiting
        ]

    def lines(self, settings: Settings) -> list[str]:
        return self.moved_lines() + self.waiting_lines(settings)


def after_assessment(
    *, engine: sa.Engine, cycle_id: str, catalog: Catalog, settings: Settings, actor: str
) -> Progress:
    """Move the cycles on once `cycle_id` is scored: every initiative in flight is judged
    on its levels, it goes to design with its backlog (the open initiatives carried over,
    new ones proposed), and each earlier cycle that was executing is improved and closed. Earlier
    cycles still in design stay there and are reported: only the PMO passes that gate."""
    phases = store.cycle_phases(engine=engine)
    designed, backlog, carried = None, 0, 0
    judge_initiatives(engine=engine, scored=cycle_id, actor=actor)
    if phases.get(cycle_id) is not None and phases[cycle_id].phase == Phase.ASSESS:
        built = build_backlog(
            engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings, actor=actor
        )
        backlog, carried = len(built), sum(1 for i in built if i.cycle_id != cycle_id)
        move_to_phase(
            engine=engine,
            cycle_id=cycle_id,
            phase=Phase.DESIGN,
            actor=actor,
            reason=f"scored; {backlog_text(backlog, carried)}, sent with the baseline report",
        )
        designed = cycle_id
    improved = []
    for earlier, change in phases.items():
        if earlier < cycle_id and change.phase in (Phase.EXECUTE, Phase.IMPROVE):
            improve_cycle(
                engine=engine,
                cycle_id=earlier,
                compared_with=cycle_id,
                catalog=catalog,
                actor=actor,
            )
            improved.append(earlier)
    waiting = tuple(c for c, p in phases.items() if c < cycle_id and p.phase == Phase.DESIGN)
    return Progress(designed, backlog, tuple(improved), waiting, carried)


def approve_at_gate(*, engine: sa.Engine, cycle_id: str, actor: str, reason: str) -> None:
    """The PMO's gate: every initiative of the backlog still proposed is approved, each
    decision recorded; those the PMO decided one by one stay as decided. One whose cell
    another backlog's initiative already lifts (a gate passed after the next cycle was
    designed) is dropped, naming that initiative."""
    backlog = store.backlog_of(engine=engine, cycle_id=cycle_id)
    executable = (InitiativeStatus.PROPOSED, InitiativeStatus.APPROVED, InitiativeStatus.OVERDUE)
    if not any(i.status in executable for i in backlog):
        raise BtmError(
            f"{cycle_id} has no initiative to execute: import a backlog with "
            f"`btm initiatives import --cycle {cycle_id} FILE` first"
        )
    # a cell another backlog already has in flight (a gate passed late) is not lifted twice
    in_flight = {
        (i.capability, i.dimension): i.id
        for i in store.all_initiatives(engine=engine)
        if InitiativeStatus(i.status).in_flight
    }
    proposed = [i for i in backlog if i.status == InitiativeStatus.PROPOSED]
    now = store.utcnow()
    decisions = []
    for initiative in proposed:
        initiative.updated_at = now
        other = in_flight.get((initiative.capability, initiative.dimension))
        if other is not None:
            initiative.status = InitiativeStatus.DROPPED
            why = f"at the gate: {other} already lifts this cell"
        else:
            initiative.status = InitiativeStatus.APPROVED
            initiative.approved_in = initiative.approved_in or cycle_id
            why = f"at the gate: {reason}"
        decisions.append(
            decision(initiative, cycle_id, decided=initiative.status, actor=actor, reason=why)
        )
    store.save_initiatives(engine=engine, initiatives=proposed, decisions=decisions)


def advance(
    *,
    engine: sa.Engine,
    cycle_id: str,
    actor: str,
    reason: str,
    catalog: Catalog,
    settings: Settings,
) -> store.PhaseChange:
    """The PMO moves a cycle to its next phase. design -> execute is the gate: it approves
    the proposed initiatives. execute -> improve needs a later scored cycle to compare
    with, and closes the cycle after its review."""
    if not actor.strip() or not reason.strip():
        raise BtmError("name who advances the cycle and why: --by NAME --reason TEXT")
    cycle = store.find_cycle(engine=engine, cycle_id=cycle_id)
    current = store.phase_of(engine=engine, cycle_id=cycle_id)
    later = store.latest_scored_cycle(engine=engine)
    if cycle is None or current is None:
        raise BtmError(f"there is no cycle {cycle_id}; `btm status` lists the cycles")
    phase = current.phase
    if phase == Phase.CLOSED:
        raise BtmError(f"{cycle_id} is closed; `btm status` shows the open cycle")
    if phase == Phase.ASSESS:
        if cycle.completed_at is None:
            raise BtmError(
                f"{cycle_id} is not scored yet; run `btm run --cycle {cycle_id}` before "
                "designing its backlog"
            )
        build_backlog(
            engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings, actor=actor
        )
    if phase == Phase.DESIGN:
        approve_at_gate(engine=engine, cycle_id=cycle_id, actor=actor, reason=reason)
    if phase in (Phase.EXECUTE, Phase.IMPROVE):
        if later is None or later.id <= cycle_id:
            raise BtmError(
                f"{cycle_id} executes until the next cycle is scored: improve compares its "
                f"levels with {settings.calendar.next(cycle_id)}'s; run that cycle first"
            )
        improve_cycle(
            engine=engine,
            cycle_id=cycle_id,
            compared_with=later.id,
            catalog=catalog,
            actor=actor,
            reason=reason,
        )
        latest = store.phase_of(engine=engine, cycle_id=cycle_id)
        assert latest is not None
        return latest
    return move_to_phase(
        engine=engine,
        cycle_id=cycle_id,
        phase=PHASES[PHASES.index(phase) + 1],
        actor=actor,
        reason=reason,
    )
