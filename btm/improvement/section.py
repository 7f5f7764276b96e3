"""The report's improvement section: where the cycle stands, the initiatives executed
since the previous cycle, the new backlog and the regressions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.improvement.config import REGRESSIONS_SHOWN
from btm.improvement.phases import waits_for
from btm.settings import Settings
from btm.vocabulary import InitiativeStatus, Phase


@dataclass(frozen=True)
class InitiativeLine:
    """One improvement initiative as the report lists it."""

    rank: int
    capability_id: str
    capability_name: str
    dimension: str
    target_text: str  # "level 2 → 3"
    owner: str
    due_cycle: str
    status: str  # its InitiativeStatus, and where it was carried from: "approved, from 2026-Q2"
    state: str  # the latest pulse: on track, at risk, off track, done, no evidence; or ""
    progress_text: str  # "62 %" or "–"
    outcome_text: str  # after the review: "reached", "overdue: ...", "in flight, due ..."
    findings: tuple[str, ...]
    projects_text: str  # the linked project ids, or "none linked"


@dataclass(frozen=True)
class Improvement:
    """Where the cycle stands in assess -> design -> execute -> improve, with the
    initiatives executed since the previous cycle and the cycle's own backlog."""

    phase_text: str
    executed_cycle_id: str | None
    executed: tuple[InitiativeLine, ...]
    backlog: tuple[InitiativeLine, ...]
    backlog_text: str  # "proposed, waiting for the PMO's approval" or "approved by ..."
    regressions: tuple[str, ...]  # the largest falls of a unit's level, at most a dozen
    regression_count: int  # all of them


def status_in_backlog(initiative: store.Initiative, cycle_id: str) -> str:
    """Its status as the cycle's backlog shows it: "approved, from 2026-Q2" when carried."""
    if initiative.cycle_id == cycle_id:
        return initiative.status
    return f"{initiative.status}, from {initiative.cycle_id}"


def span_text(initiative: store.Initiative) -> str:
    """From the backlog that approved it (or proposed it) to its due cycle."""
    return f"{initiative.approved_in or initiative.cycle_id} → {initiative.due_cycle}"


def _line(
    initiative: store.Initiative,
    *,
    catalog: Catalog,
    pulse: store.InitiativePulse | None,
    outcome: Mapping[str, Any] | None,
    cycle_id: str,
) -> InitiativeLine:
    below = ", ".join(outcome["units_below"]) if outcome else ""
    if outcome is None:
        outcome_text = ""
    elif outcome["reached"]:
        outcome_text = "reached"
    elif outcome.get("verdict") == InitiativeStatus.OVERDUE:
        outcome_text = (
            f"overdue: due {initiative.due_cycle}, {below} below {initiative.target_level}"
        )
    elif outcome.get("verdict") == "in flight":
        outcome_text = f"in flight, due {initiative.due_cycle}"
    else:
        outcome_text = f"not yet: {below} below {initiative.target_level}"
    level = "unknown" if initiative.level is None else str(initiative.level)
    return InitiativeLine(
        rank=initiative.rank,
        capability_id=initiative.capability,
        capability_name=catalog.capability(initiative.capability).name,
        dimension=initiative.dimension,
        target_text=f"level {level} → {initiative.target_level}",
        owner=initiative.owner,
        due_cycle=initiative.due_cycle,
        status=status_in_backlog(initiative, cycle_id),
        state=pulse.state if pulse else "",
        progress_text="–" if pulse is None or pulse.progress is None else f"{pulse.progress:.0f} %",
        outcome_text=outcome_text,
        findings=tuple(pulse.findings[:3]) if pulse else (),
        projects_text=", ".join(initiative.linked_projects) or "none linked",
    )


def report_section(
    *, engine: sa.Engine, cycle_id: str, catalog: Catalog, settings: Settings
) -> Improvement | None:
    """The report's improvement section for a cycle: its phase, the initiatives of the
    cycle before it (their pulse and, once reviewed, their outcome), and its backlog."""
    current = store.phase_of(engine=engine, cycle_id=cycle_id)
    cycle = store.find_cycle(engine=engine, cycle_id=cycle_id)
    if current is None or cycle is None:
        return None
    earlier = [c for c in store.cycle_phases(engine=engine) if c < cycle_id]
    executed_cycle = earlier[-1] if earlier else None
    executed = (
        [
            i
            for i in store.backlog_of(engine=engine, cycle_id=executed_cycle)
            if InitiativeStatus(i.status).executed
            and (i.approved_in or i.cycle_id) <= executed_cycle
        ]
        if executed_cycle
        else []
    )
    review = store.review_of(engine=engine, cycle_id=executed_cycle) if executed_cycle else None
    backlog = [
        i
        for i in store.backlog_of(engine=engine, cycle_id=cycle_id)
        if i.status != InitiativeStatus.DROPPED
    ]
    pulses = store.pulses_of(engine=engine, initiative_ids=[i.id for i in (*executed, *backlog)])
    history = store.phase_changes(engine=engine, cycle_ids=[cycle_id])
    outcomes = {o["initiative"]: o for o in (review.review["initiatives"] if review else [])}
    approval = next((c for c in history if c.phase == Phase.EXECUTE), None)
    if approval:
        backlog_text = f"approved by {approval.actor} on {approval.entered_at:%Y-%m-%d}"
    else:
        backlog_text = f"proposed, waiting for {settings.pmo}'s approval"
    found = sorted(
        review.review["regressions"] if review else [],
        key=lambda r: (r["to"] - r["from"], r["unit"], r["capability"], r["dimension"]),
    )
    regressions = tuple(
        f"{r['unit']}, {r['capability']} {r['dimension']}: {r['from']} → {r['to']}"
        for r in found[:REGRESSIONS_SHOWN]
    )
    # stakeholders read what it waits for, not the commands that move it on
    waiting = waits_for(cycle=cycle, phase=current.phase, settings=settings).split(": `")[0]
    return Improvement(
        phase_text=current.phase
        if current.phase == Phase.CLOSED
        else f"{current.phase}, waiting for {waiting}",
        executed_cycle_id=executed_cycle if executed else None,
        executed=tuple(
            _line(
                i,
                catalog=catalog,
                pulse=pulses.get(i.id),
                outcome=outcomes.get(i.id),
                cycle_id=executed_cycle or cycle_id,
            )
            for i in executed
        ),
        backlog=tuple(
            _line(i, catalog=catalog, pulse=pulses.get(i.id), outcome=None, cycle_id=cycle_id)
            for i in backlog
        ),
        backlog_text=backlog_text,
        regressions=regressions,
        regression_count=len(found),
    )
