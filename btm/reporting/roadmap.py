"""The PMO report's roadmap: the cycle's initiatives over the coming quarters, each with
its span, its state and the cells it moves.

Shown are the initiatives of the cycle's backlog that are not dropped (its own and those
carried into it), and those this cycle's scoring judged done or overdue. An initiative
runs from the backlog that approved it (else the one that proposed it) to its due cycle,
the cycle at whose scoring it is judged; an overdue one runs on to the report's cycle, and
a done one ends at the scoring that judged it so. The quarters shown run from the earliest
start to the latest end, but no further than `QUARTERS_AHEAD` past the report's cycle: a
span that runs on beyond is cut there and says so.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from btm import store
from btm.fiscal import FiscalCalendar
from btm.improvement.backlog import Cell, cells
from btm.vocabulary import InitiativeStatus

QUARTERS_AHEAD = 6  # the quarters shown past the report's cycle
NO_INITIATIVES_TEXT = "No initiative is proposed, under way or judged this cycle."


@dataclass(frozen=True)
class RoadmapLine:
    """One initiative on the roadmap, every value already worded."""

    initiative_id: str
    owner: str
    label: str  # the cell it aims at, "MTI-2 process"
    cells_text: str  # "MTI-2 process: Insurance, Retail to 3"
    start: str  # the first quarter of its span
    end: str  # the last quarter of its span, at most the roadmap's last quarter
    overdue_from: str | None  # an overdue one's due cycle (or its start, if later)
    runs_on: bool  # its span runs on past the roadmap's last quarter
    span_text: str  # "2026-Q3 → 2027-Q1", where it really ends
    due_text: str  # "due 2026-Q2" when it is overdue, else ""
    state: str  # the latest pulse of an open one, else its status
    state_text: str  # the state, with ", overdue" when it is
    tentative: bool  # proposed or deferred: not yet approved

    @property
    def span_due_text(self) -> str:
        """The span with the due cycle of an overdue one, "2026-Q1 → 2026-Q3 (due 2026-Q2)"."""
        return f"{self.span_text} ({self.due_text})" if self.due_text else self.span_text


@dataclass(frozen=True)
class Roadmap:
    """The report's roadmap: its quarters, oldest first, and its initiatives in the order
    they start."""

    cycle_id: str
    quarters: tuple[str, ...]  # () when there is no initiative
    lines: tuple[RoadmapLine, ...]
    empty_text: str = NO_INITIATIVES_TEXT


def cycle_roadmap(*, engine: sa.Engine, cycle_id: str, calendar: FiscalCalendar) -> Roadmap:
    """The roadmap of a scored cycle from what the store holds."""
    shown = {
        i.id: i
        for i in store.backlog_of(engine=engine, cycle_id=cycle_id)
        if i.status != InitiativeStatus.DROPPED
    }
    for initiative in store.all_initiatives(engine=engine, up_to=cycle_id):
        if initiative.judged_in == cycle_id and initiative.status in (
            InitiativeStatus.DONE,
            InitiativeStatus.OVERDUE,
        ):
            shown.setdefault(initiative.id, initiative)
    initiatives = list(shown.values())
    return build_roadmap(
        initiatives,
        cycle_id=cycle_id,
        pulses=store.pulses_of(engine=engine, initiative_ids=[i.id for i in initiatives]),
        scores=store.scores_of(engine=engine, cycle_id=cycle_id),
        calendar=calendar,
    )


def build_roadmap(
    initiatives: Sequence[store.Initiative],
    *,
    cycle_id: str,
    pulses: Mapping[str, store.InitiativePulse],
    scores: Sequence[store.Score],
    calendar: FiscalCalendar,
    quarters_ahead: int = QUARTERS_AHEAD,
) -> Roadmap:
    """The roadmap of these initiatives in the report of `cycle_id`, with each one's
    latest pulse and the cycle's scores (for the units each would lift)."""
    if not initiatives:
        return Roadmap(cycle_id, (), ())
    spans = {i.id: _span(i, cycle_id) for i in initiatives}
    horizon = calendar.shifted(cycle_id, quarters_ahead)
    first = min(cycle_id, *(start for start, _ in spans.values()))
    last = min(horizon, max(cycle_id, *(end for _, end in spans.values())))
    quarters = calendar.span(first, last)
    grid = cells(scores)
    order = {i.id: (spans[i.id], i.rank, i.id) for i in initiatives}
    return Roadmap(
        cycle_id,
        tuple(quarters),
        tuple(
            _line(i, spans[i.id], last=last, pulse=pulses.get(i.id), grid=grid)
            for i in sorted(initiatives, key=lambda i: order[i.id])
        ),
    )


def _line(
    initiative: store.Initiative,
    span: tuple[str, str],
    *,
    last: str,
    pulse: store.InitiativePulse | None,
    grid: Mapping[tuple[str, str], Cell],
) -> RoadmapLine:
    start, end = span
    status = InitiativeStatus(initiative.status)
    state = pulse.state if status.in_flight and pulse is not None else status.value
    overdue = status is InitiativeStatus.OVERDUE
    # hatched from the due cycle on: the scoring of its due cycle found it short
    overdue_from = max(start, initiative.due_cycle) if overdue else None
    label = f"{initiative.capability} {initiative.dimension}"
    cell = grid.get((initiative.capability, initiative.dimension))
    target = initiative.target_level
    if cell is None:
        moves = "no unit has a known level"
    else:
        below = cell.units_below(target)
        moves = f"{', '.join(below)} to {target}" if below else f"every unit at {target}"
    return RoadmapLine(
        initiative_id=initiative.id,
        owner=initiative.owner,
        label=label,
        cells_text=f"{label}: {moves}",
        start=start,
        end=min(end, last),
        overdue_from=overdue_from if overdue_from and overdue_from <= last else None,
        runs_on=end > last,
        span_text=start if start == end else f"{start} → {end}",
        due_text=f"due {initiative.due_cycle}" if overdue else "",
        state=state,
        state_text=f"{state}, overdue" if overdue and state != status else state,
        tentative=status in (InitiativeStatus.PROPOSED, InitiativeStatus.DEFERRED),
    )


def _span(initiative: store.Initiative, cycle_id: str) -> tuple[str, str]:
    """The first and last quarter of an initiative's span (cycle ids sort in order)."""
    start = initiative.approved_in or initiative.cycle_id
    end = initiative.due_cycle
    if initiative.status == InitiativeStatus.OVERDUE:
        end = max(end, cycle_id)
    elif initiative.status == InitiativeStatus.DONE and initiative.judged_in:
        end = initiative.judged_in
    return start, max(start, end)
