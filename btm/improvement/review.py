"""Improve: an executed cycle's levels compared with the next cycle's and with targets,
regressions flagged, and the cycle closed.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.improvement.backlog import cells
from btm.improvement.phases import move_to_phase
from btm.scoring.rollup import mean_level
from btm.vocabulary import Phase


def review_cycle(
    *, engine: sa.Engine, cycle_id: str, compared_with: str, catalog: Catalog
) -> dict[str, Any]:
    """Compare the cycle's levels with the next cycle's and the targets: regressions,
    each initiative's outcome, and the next cycle's proposed targets."""
    before = store.scores_of(engine=engine, cycle_id=cycle_id)
    after = store.scores_of(engine=engine, cycle_id=compared_with)
    initiatives = [
        i for i in store.backlog_of(engine=engine, cycle_id=cycle_id) if i.status == "approved"
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
        cell = new_cells.get((initiative.capability, initiative.dimension))
        below = cell.units_below(initiative.target_level) if cell else []
        reached = cell is not None and not below
        pulse = pulses.get(initiative.id)
        outcomes.append(
            {
                "initiative": initiative.id,
                "target_level": initiative.target_level,
                "reached": reached,
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
