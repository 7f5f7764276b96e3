"""The phases of a cycle, assess -> design -> execute -> improve -> closed: every change
a new row (who, when, why), and what each open cycle waits for.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from btm import store
from btm.errors import BtmError
from btm.settings import Settings
from btm.vocabulary import Phase

PHASES = tuple(Phase)


def current_phase(*, engine: sa.Engine, cycle_id: str) -> Phase | None:
    """The cycle's phase now, None when it was never opened."""
    change = store.phase_of(engine=engine, cycle_id=cycle_id)
    return Phase(change.phase) if change else None


def next_change(
    *, current: store.PhaseChange | None, cycle_id: str, phase: str, actor: str, reason: str
) -> store.PhaseChange:
    """The cycle's step into `phase`, refused unless it is the next one after `current`."""
    expected = Phase(current.phase).next if current else Phase.ASSESS
    if phase != expected:
        raise BtmError(
            f"{cycle_id} cannot go from {current.phase if current else 'nothing'} to {phase}; "
            f"its next phase is {expected}"
        )
    return store.PhaseChange(cycle_id=cycle_id, phase=phase, actor=actor, reason=reason)


def move_to_phase(
    *, engine: sa.Engine, cycle_id: str, phase: str, actor: str, reason: str
) -> store.PhaseChange:
    """Record the cycle's step into `phase`, the next one after its current phase."""
    change = next_change(
        current=store.phase_of(engine=engine, cycle_id=cycle_id),
        cycle_id=cycle_id,
        phase=phase,
        actor=actor,
        reason=reason,
    )
    return store.enter_phase(engine=engine, change=change)


def waits_for(*, cycle: store.Cycle, phase: str, settings: Settings) -> str:
    """What the cycle needs before it can move on, in the words `btm status` prints."""
    if phase == Phase.ASSESS:
        if cycle.completed_at is None:
            calendar = settings.calendar
            after = calendar.start(calendar.next(cycle.id)).isoformat()
            return (
                f"its scoring: the quarterly-cycle run on or after {after} "
                f"(or `btm run --cycle {cycle.id}`)"
            )
        return "the improvement backlog: `btm cycle advance` proposes it"
    if phase == Phase.DESIGN:
        return (
            f"{settings.pmo}'s approval of the backlog: `btm initiatives export --cycle "
            f"{cycle.id} FILE`, review, `btm initiatives import --cycle {cycle.id} FILE`, "
            f"then `btm cycle advance --cycle {cycle.id} --by NAME --reason TEXT`"
        )
    if phase == Phase.EXECUTE:
        calendar = settings.calendar
        following = calendar.next(cycle.id)
        day = calendar.start(calendar.next(following)).isoformat()
        return (
            f"the scoring of {following} (quarterly-cycle on {day}); "
            "the monthly initiative-pulse tracks the initiatives meanwhile"
        )
    if phase == Phase.IMPROVE:
        return f"its review: `btm cycle advance --cycle {cycle.id}` completes it"
    return "nothing: the cycle is closed"


@dataclass(frozen=True)
class PhaseStatus:
    cycle_id: str
    phase: str
    since: str
    actor: str
    reason: str
    waits_for: str

    def to_json(self) -> dict[str, str]:
        return dict(vars(self))


def phase_statuses(*, engine: sa.Engine, settings: Settings) -> list[PhaseStatus]:
    """Every cycle's current phase and what it waits for, oldest cycle first."""
    statuses = []
    for cycle_id, change in store.cycle_phases(engine=engine).items():
        cycle = store.find_cycle(engine=engine, cycle_id=cycle_id)
        assert cycle is not None
        statuses.append(
            PhaseStatus(
                cycle_id=cycle_id,
                phase=change.phase,
                since=change.entered_at.strftime("%Y-%m-%d %H:%M"),
                actor=change.actor,
                reason=change.reason,
                waits_for=waits_for(cycle=cycle, phase=change.phase, settings=settings),
            )
        )
    return statuses
