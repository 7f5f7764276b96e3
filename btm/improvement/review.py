"""Improve: at each scoring every initiative in flight is judged on its levels (done,
overdue or still in flight); an executed cycle's levels are compared with the next
cycle's and with targets, regressions flagged, and the cycle closed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.improvement.backlog import Cell, cells, decision
from btm.improvement.phases import move_to_phase
from btm.scoring.rollup import mean_level
from btm.vocabulary import InitiativeStatus, Phase


def verdict(
    initiative: store.Initiative, cell: Cell | None, *, scored: str
) -> tuple[InitiativeStatus | None, list[str], str]:
    """An in-flight initiative judged on a scoring's levels: done when every unit of its
    cell is at its target, overdue when its due cycle has come without that, None (still
    in flight) before; with the units still below and the judgement in words."""
    below = cell.units_below(initiative.target_level) if cell else []
    due = initiative.due_cycle
    if cell is not None and not below:
        when = "on time" if scored == due else ("early" if scored < due else f"late (due {due})")
        return (
            InitiativeStatus.DONE,
            [],
            f"reached level {initiative.target_level} at {scored}, {when}",
        )
    short = f"{', '.join(below)} below {initiative.target_level}" if below else "no known level"
    if scored >= due:
        return InitiativeStatus.OVERDUE, below, f"overdue: due {due}, at {scored} {short}"
    return None, below, f"in flight, due {due}: at {scored} {short}"


def judge_initiatives(*, engine: sa.Engine, scored: str, actor: str) -> list[store.Initiative]:
    """Judge every initiative in flight since before `scored` on its scores: done, or
    overdue once its due cycle is scored without reaching its target. Each judgement is
    recorded once per scoring; judging again after a rescore only moves an initiative on."""
    grid = cells(store.scores_of(engine=engine, cycle_id=scored))
    judged, decisions = [], []
    for initiative in store.all_initiatives(engine=engine, up_to=scored):
        status = InitiativeStatus(initiative.status)
        if not status.in_flight or (initiative.approved_in or initiative.cycle_id) >= scored:
            continue
        found, _, why = verdict(
            initiative, grid.get((initiative.capability, initiative.dimension)), scored=scored
        )
        if found is None or (found == status and initiative.judged_in == scored):
            continue
        initiative.status, initiative.judged_in = found, scored
        initiative.updated_at = store.utcnow()
        judged.append(initiative)
        decisions.append(decision(initiative, scored, decided=found, actor=actor, reason=why))
    store.save_initiatives(engine=engine, initiatives=judged, decisions=decisions)
    return judged


def review_cycle(
    *, engine: sa.Engine, cycle_id: str, compared_with: str, catalog: Catalog
) -> dict[str, Any]:
    """Compare the cycle's levels with the next cycle's and the targets: regressions,
    the outcome so far of each initiative executed in it (its own and those carried into
    it), and the next cycle's proposed targets."""
    before = store.scores_of(engine=engine, cycle_id=cycle_id)
    after = store.scores_of(engine=engine, cycle_id=compared_with)
    initiatives = [
        i
        for i in store.backlog_of(engine=engine, cycle_id=cycle_id)
        if InitiativeStatus(i.status).executed and (i.approved_in or i.cycle_id) <= cycle_id
    ]
    pulses = store.pulses_of(engine=engine, initiative_ids=[i.id for i in initiatives])
    previous = {(s.unit, s.capability, s.dimension): s.level for s in before}
    regressions = [
        {
            "unit": s.unit,
            "capability": s.capability,
            "dimension": s.dimension,
            "from": previous[(s.unit, s.capability, s.dimension)],
            "to": s.level,
        }
        for s in after
        if s.level is not None
        and (was := previous.get((s.unit, s.capability, s.dimension))) is not None
        and s.level < was
    ]
    at_target = sum(1 for s in after if s.gap is not None and s.gap <= 0)
    was_at_target = sum(1 for s in before if s.gap is not None and s.gap <= 0)
    new_cells = cells(after)
    outcomes = []
    for initiative in initiatives:
        found, below, why = verdict(
            initiative,
            new_cells.get((initiative.capability, initiative.dimension)),
            scored=compared_with,
        )
        pulse = pulses.get(initiative.id)
        outcomes.append(
            {
                "initiative": initiative.id,
                "target_level": initiative.target_level,
                "due_cycle": initiative.due_cycle,
                "reached": found == InitiativeStatus.DONE,
                "verdict": found or "in flight",
                "judgement": why,
                "units_below": below,
                "last_pulse": pulse.state if pulse else None,
            }
        )
    proposed = [
        {
            "capability": c.capability,
            "dimension": c.dimension,
            "level": c.lowest.level,
            "proposed_target": c.next_target,
        }
        for c in new_cells.values()
        if c.gap > 0
    ]
    return {
        "compared_with": compared_with,
        "enterprise": {
            "before": mean_level(s.level for s in before),
            "after": mean_level(s.level for s in after),
        },
        "cells_at_target": {"before": was_at_target, "after": at_target, "of": len(after)},
        "regressions": regressions,
        "initiatives": outcomes,
        "proposed_targets": sorted(proposed, key=lambda p: (p["capability"], p["dimension"])),
    }


def improve_cycle(
    *,
    engine: sa.Engine,
    cycle_id: str,
    compared_with: str,
    catalog: Catalog,
    actor: str,
    reason: str | None = None,
) -> dict[str, Any]:
    """The improve phase, end to end: enter it, review, store the review, close the
    cycle; the next cycle is open (in assess) by then, since it was scored."""
    review = review_cycle(
        engine=engine, cycle_id=cycle_id, compared_with=compared_with, catalog=catalog
    )
    reached = sum(1 for o in review["initiatives"] if o["reached"])
    if store.phase_of(engine=engine, cycle_id=cycle_id).phase == Phase.EXECUTE:  # type: ignore[union-attr]
        move_to_phase(
            engine=engine,
            cycle_id=cycle_id,
            phase=Phase.IMPROVE,
            actor=actor,
            reason=reason
            or f"{compared_with} is scored: its levels are compared with this cycle's",
        )
    store.save_review(
        engine=engine,
        review=store.CycleReview(cycle_id=cycle_id, compared_with=compared_with, review=review),
    )
    move_to_phase(
        engine=engine,
        cycle_id=cycle_id,
        phase=Phase.CLOSED,
        actor=actor,
        reason=(
            f"reviewed against {compared_with}: {reached} of {len(review['initiatives'])} "
            f"initiatives reached their target, {len(review['regressions'])} regressions; "
            f"{compared_with} is the open cycle"
        ),
    )
    return review
