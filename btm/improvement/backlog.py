"""Design: the backlog of improvement initiatives proposed from the gaps to target, and
the PMO's review of it as a file (export, then import with every row checked).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.errors import BtmError
from btm.fiscal import FiscalCalendar
from btm.improvement.backlog_file import (
    BacklogContext,
    InitiativeEdit,
    InitiativeFileError,
    problem_at,
    read_backlog,
    write_backlog,
)
from btm.improvement.config import DEFAULT_OWNER, GUIDANCE_LINES, ImprovementConfig, load_config
from btm.improvement.pulse import latest_project_batches
from btm.scoring.engine import next_level_guidance
from btm.settings import Settings
from btm.vocabulary import Basis, InitiativeStatus, Phase


def initiative_id(cycle_id: str, capability: str, dimension: str) -> str:
    return f"{cycle_id}-{capability}-{dimension}"


@dataclass(frozen=True)
class Cell:
    """One capability x dimension over the business units with a known level."""

    capability: str
    dimension: str
    scores: tuple[store.Score, ...]

    @property
    def lagging(self) -> tuple[store.Score, ...]:
        """The units below their own target level."""
        return tuple(s for s in self.scores if (s.level or 0) < (s.target_level or 0))

    @property
    def lowest(self) -> store.Score:
        """The lowest unit below its target, or the lowest unit when none is."""
        return min(self.lagging or self.scores, key=lambda s: (s.level or 0, s.unit))

    @property
    def gap(self) -> float:
        """The mean, over the units, of the levels still to go to their targets; an
        unknown level counts as the first (no evidence of the practice)."""
        to_go = [max((s.target_level or 0) - (s.level or 1), 0) for s in self.scores]
        return sum(to_go) / len(to_go) if to_go else 0.0

    @property
    def next_target(self) -> int:
        """The next step: one level above the lowest unit below its target, never beyond
        the targets of the units below theirs."""
        lagging = self.lagging or self.scores
        highest_target = max(s.target_level or 0 for s in lagging)
        return min(highest_target, (self.lowest.level or 1) + 1)

    def units_below(self, level: int) -> list[str]:
        """The units below `level`, or below their own target when that is lower."""
        return sorted(
            s.unit for s in self.scores if (s.level or 0) < min(level, s.target_level or level)
        )


def cells(scores: Sequence[store.Score]) -> dict[tuple[str, str], Cell]:
    """Each capability x dimension over the units with a known level and a target."""
    grouped: dict[tuple[str, str], list[store.Score]] = {}
    for score in scores:
        if score.level is not None and score.target_level is not None:
            grouped.setdefault((score.capability, score.dimension), []).append(score)
    return {key: Cell(*key, tuple(found)) for key, found in grouped.items()}


def unknown_cells(scores: Sequence[store.Score]) -> dict[tuple[str, str], Cell]:
    """The cells no unit's evidence could judge, over the units they apply to: an
    initiative for one gathers the evidence its first level's rules need."""
    grouped: dict[tuple[str, str], list[store.Score]] = {}
    for score in scores:
        if store.basis_of(score) != Basis.NOT_APPLICABLE and score.target_level is not None:
            grouped.setdefault((score.capability, score.dimension), []).append(score)
    return {
        key: Cell(*key, tuple(found))
        for key, found in grouped.items()
        if all(s.level is None for s in found)
    }


def propose_backlog(
    *,
    cycle_id: str,
    scores: Sequence[store.Score],
    catalog: Catalog,
    config: ImprovementConfig,
    calendar: FiscalCalendar,
    carried: Iterable[tuple[str, str]] = (),
    room: int | None = None,
) -> list[store.Initiative]:
    """The cycle's top-priority initiatives, `room` of them (default `backlog_size`), one
    per capability x dimension below target that no initiative carried over from an
    earlier cycle already lifts, ranked by `config.priority` (ties in catalogue order).
    A cell no unit can be judged on comes after every cell known to fall short: missing
    evidence never outranks evidence of a gap."""
    order = {
        (c.id, d.id): n
        for n, (c, d) in enumerate((c, d) for c in catalog.capabilities for d in catalog.dimensions)
    }
    taken = set(carried)
    due = calendar.shifted(cycle_id, config.due_in_cycles)
    candidates = []
    for unknown, grid in enumerate((cells(scores), unknown_cells(scores))):
        for (capability, dimension), cell in grid.items():
            if cell.gap <= 0 or (capability, dimension) in taken:
                continue
            area_id = catalog.area_of(capability).id
            priority = config.priority(gap=cell.gap, area=area_id, capability=capability)
            candidates.append((unknown, -priority, order[(capability, dimension)], cell))
    candidates.sort(key=lambda c: c[:3])
    return [
        new_initiative(
            cycle_id=cycle_id,
            cell=cell,
            target=cell.next_target,
            rank=rank,
            config=config,
            due_cycle=due,
            catalog=catalog,
        )
        for rank, (_, _, _, cell) in enumerate(
            candidates[: config.backlog_size if room is None else room], 1
        )
    ]


def new_initiative(
    *,
    cycle_id: str,
    cell: Cell,
    target: int,
    rank: int,
    config: ImprovementConfig,
    due_cycle: str,
    catalog: Catalog,
    owner: str | None = None,
) -> store.Initiative:
    """An initiative to lift `cell` to `target`, titled with the units below it, guided by
    the next level's rules the lowest unit does not pass, owned and approved by its area's
    defaults unless `owner` is given."""
    lowest = cell.lowest if cell.scores else None
    below = cell.units_below(target)
    dimension_name = next(d.name for d in catalog.dimensions if d.id == cell.dimension)
    aim = f"lift {', '.join(below) or 'every unit'} to level {target}"
    if cell.scores and all(s.level is None for s in cell.scores):
        aim = f"gather the evidence to judge {', '.join(below)}, and lift them to level {target}"
    area = catalog.area_of(cell.capability).id
    guidance = (
        [
            f"{g.text}: {g.improve}" if g.improve else g.text
            for g in next_level_guidance(lowest.trace, lowest.level)
        ][:GUIDANCE_LINES]
        if lowest
        else []
    )
    initiative = store.Initiative(
        id=initiative_id(cycle_id, cell.capability, cell.dimension),
        cycle_id=cycle_id,
        rank=rank,
        priority=0.0,
        capability=cell.capability,
        dimension=cell.dimension,
        level=lowest.level if lowest else None,
        target_level=target,
        gap=round(cell.gap, 3),
        owner=owner or config.owners.get(area, DEFAULT_OWNER),
        approver=config.approvers.get(area, DEFAULT_OWNER),
        due_cycle=due_cycle,
        linked_projects=[],
        status=InitiativeStatus.PROPOSED,
        title=f"{catalog.capability(cell.capability).name}, {dimension_name.lower()}: {aim}",
        guidance=guidance,
    )
    return reprioritised(initiative, config=config, catalog=catalog)


def expected_gain(initiative: store.Initiative) -> float:
    """The PMO's estimate of the levels it lifts the cell by, or its target's step."""
    if initiative.expected_gain is not None:
        return initiative.expected_gain
    return float(max(initiative.target_level - (initiative.level or 1), 1))


def reprioritised(
    initiative: store.Initiative, *, config: ImprovementConfig, catalog: Catalog
) -> store.Initiative:
    """The initiative with its priority, and the priority's terms, from its gap, expected
    gain and effort estimate."""
    terms = config.priority_of(
        gap=initiative.gap,
        area=catalog.area_of(initiative.capability).id,
        capability=initiative.capability,
        expected_gain=expected_gain(initiative),
        effort_days=initiative.effort_days,
    )
    initiative.priority = terms.score
    initiative.priority_basis = terms.basis
    return initiative


def decision(
    initiative: store.Initiative, cycle_id: str, *, decided: str, actor: str, reason: str
) -> store.InitiativeDecision:
    return store.InitiativeDecision(
        initiative_id=initiative.id, cycle_id=cycle_id, decision=decided, actor=actor, reason=reason
    )


def build_backlog(
    *, engine: sa.Engine, cycle_id: str, catalog: Catalog, settings: Settings, actor: str
) -> list[store.Initiative]:
    """Propose and store the cycle's backlog, unless it already has one: the open
    initiatives of earlier cycles carried over (in flight, overdue, or deferred and so
    proposed again), and new proposals for the cells none of them lifts, as many as the
    initiatives in flight leave room for in `backlog_size`."""
    config = load_config(catalog=catalog, home=settings.resolved_home)
    if store.own_initiatives(engine=engine, cycle_id=cycle_id):
        return store.backlog_of(engine=engine, cycle_id=cycle_id)
    scores = store.scores_of(engine=engine, cycle_id=cycle_id)
    carried, settled, decisions = carry_over(
        engine=engine,
        cycle_id=cycle_id,
        grid=cells(scores),
        calendar=settings.calendar,
        actor=actor,
    )
    in_flight = sum(1 for i in carried if InitiativeStatus(i.status).in_flight)
    proposed = propose_backlog(
        cycle_id=cycle_id,
        scores=scores,
        catalog=catalog,
        config=config,
        calendar=settings.calendar,
        carried=[(i.capability, i.dimension) for i in carried],
        room=max(config.backlog_size - in_flight, 0),
    )
    # stable: proposals keep their catalogue order among equals, carried ones come after
    ordered = sorted((*proposed, *carried), key=lambda i: -i.priority)
    for rank, initiative in enumerate(ordered, 1):
        initiative.rank = rank
    store.save_initiatives(engine=engine, initiatives=[*ordered, *settled], decisions=decisions)
    return store.backlog_of(engine=engine, cycle_id=cycle_id)


def carry_over(
    *,
    engine: sa.Engine,
    cycle_id: str,
    grid: Mapping[tuple[str, str], Cell],
    calendar: FiscalCalendar,
    actor: str,
) -> tuple[list[store.Initiative], list[store.Initiative], list[store.InitiativeDecision]]:
    """The earlier cycles' open initiatives, carried into this cycle's backlog with their
    owner, links and history: in flight and overdue ones as they are; a deferred one
    proposed again, due as many quarters after this cycle as it was after its own, unless
    its cell has reached its target meanwhile (then it is settled: dropped, not needed).
    Returns the carried, the settled and the decisions recorded on them."""
    carried, settled, decisions = [], [], []
    now = store.utcnow()
    for initiative in store.all_initiatives(engine=engine, up_to=calendar.previous(cycle_id)):
        status = InitiativeStatus(initiative.status)
        if not status.carried or cycle_id in initiative.carried_into:
            continue
        since = initiative.carried_into[-1] if initiative.carried_into else initiative.cycle_id
        initiative.updated_at = now
        cell = grid.get((initiative.capability, initiative.dimension))
        if (
            status is InitiativeStatus.DEFERRED
            and cell
            and not cell.units_below(initiative.target_level)
        ):
            initiative.status = InitiativeStatus.DROPPED
            level = initiative.target_level
            why = f"not needed any more: every unit is at level {level} at {cycle_id}"
            settled.append(initiative)
            decisions.append(
                decision(initiative, cycle_id, decided="dropped", actor=actor, reason=why)
            )
            continue
        if status is InitiativeStatus.DEFERRED:
            span = max(calendar.quarters_between(since, initiative.due_cycle), 1)
            initiative.due_cycle = calendar.shifted(cycle_id, span)
            initiative.status = InitiativeStatus.PROPOSED
            why = f"deferred in {since}; proposed again, due {initiative.due_cycle}"
        elif status is InitiativeStatus.OVERDUE:
            why = f"overdue since {initiative.due_cycle}: approve a later due cycle, or drop it"
        else:
            why = f"in flight since {initiative.approved_in}, due {initiative.due_cycle}"
        initiative.carried_into = [*initiative.carried_into, cycle_id]
        carried.append(initiative)
        decisions.append(decision(initiative, cycle_id, decided="carried", actor=actor, reason=why))
    return carried, settled, decisions


@dataclass(frozen=True)
class BacklogImport:
    updated: int
    added: int
    dropped: int
    decided: int  # decisions recorded (approve, defer, drop), each with who and why
    untouched: tuple[str, ...]  # initiatives the file did not list: left as they were

    @property
    def summary(self) -> str:
        text = f"{self.updated} initiatives updated, {self.added} added, {self.dropped} dropped"
        if self.decided:
            text += f", {self.decided} decisions recorded"
        if self.untouched:
            text += f"; not in the file, left as they were: {', '.join(self.untouched)}"
        return text


def export_backlog(*, engine: sa.Engine, cycle_id: str, path: Path) -> int:
    backlog = store.backlog_of(engine=engine, cycle_id=cycle_id)
    if not backlog:
        raise BtmError(
            f"{cycle_id} has no backlog yet: it is proposed when the cycle is scored "
            "(`btm status` shows its phase)"
        )
    write_backlog(backlog, path, cycle_id=cycle_id)
    return len(backlog)


def import_backlog(
    *, engine: sa.Engine, cycle_id: str, path: Path, catalog: Catalog, settings: Settings
) -> BacklogImport:
    """Apply the PMO's reviewed backlog file: every row is checked first, and nothing is
    changed unless all of them pass."""
    config = load_config(catalog=catalog, home=settings.resolved_home)
    current = store.phase_of(engine=engine, cycle_id=cycle_id)
    if current is None or current.phase not in (Phase.DESIGN, Phase.EXECUTE):
        where = current.phase if current else "not opened"
        raise BtmError(
            f"{cycle_id} is {where}: a backlog is imported in the design phase (or "
            "re-linked while it executes); `btm status` shows each cycle's phase"
        )
    existing = {i.id: i for i in store.backlog_of(engine=engine, cycle_id=cycle_id)}
    scores = store.scores_of(engine=engine, cycle_id=cycle_id)
    grid, unknown = cells(scores), unknown_cells(scores)
    edits = read_backlog(
        path, _backlog_context(engine, cycle_id, existing, catalog=catalog, settings=settings)
    )
    problems = _refused(edits, path, grid=grid)
    if problems:
        raise InitiativeFileError(path, problems)
    added = dropped = 0
    changed, decisions = [], []
    now = store.utcnow()
    for edit in edits:
        initiative = existing[edit.id] if edit.id is not None else None
        decided = edit.decides(initiative)
        if initiative is None:
            key = (edit.capability, edit.dimension)
            cell = grid.get(key) or unknown.get(key) or Cell(*key, ())
            initiative = new_initiative(
                cycle_id=cycle_id,
                cell=cell,
                target=edit.target_level,
                rank=edit.rank or len(existing) + added + 1,
                config=config,
                owner=edit.owner,
                due_cycle=edit.due_cycle,
                catalog=catalog,
            )
            added += 1
        dropped += edit.status == InitiativeStatus.DROPPED != initiative.status
        if decided and edit.status == InitiativeStatus.APPROVED:
            initiative.approved_in = initiative.approved_in or cycle_id  # first approved in
        if decided and InitiativeStatus(edit.status).decided_by_pmo:
            decisions.append(
                decision(
                    initiative,
                    cycle_id,
                    decided=edit.status,
                    actor=edit.decided_by,
                    reason=edit.decision_reason,
                )
            )
        changed.append(
            reprioritised(_edited(initiative, edit, now), config=config, catalog=catalog)
        )
    store.save_initiatives(engine=engine, initiatives=changed, decisions=decisions)
    ordered = sorted(
        store.backlog_of(engine=engine, cycle_id=cycle_id),
        key=lambda i: (i.rank, -i.priority, i.id),
    )
    for rank, initiative in enumerate(ordered, 1):
        initiative.rank = rank
    store.save_initiatives(engine=engine, initiatives=ordered)
    untouched = tuple(sorted(set(existing) - {e.id for e in edits if e.id}))
    return BacklogImport(len(edits) - added, added, dropped, len(decisions), untouched)


def _backlog_context(
    engine: sa.Engine,
    cycle_id: str,
    existing: Mapping[str, store.Initiative],
    *,
    catalog: Catalog,
    settings: Settings,
) -> BacklogContext:
    """What a backlog file is checked against: the catalogue, the cycle's initiatives and
    the projects of the newest accepted evidence."""
    _, project_batches = latest_project_batches(engine=engine)
    known_projects = store.load_ids(engine=engine, kind="projects", batch_ids=project_batches)
    return BacklogContext(
        cycle_id=cycle_id,
        calendar=settings.calendar,
        levels=catalog.level_numbers,
        capabilities={c.id: c.name for c in catalog.capabilities},
        dimensions=catalog.dimension_ids,
        existing=existing,
        known_projects=frozenset(known_projects) if known_projects else None,
    )


def _refused(
    edits: Sequence[InitiativeEdit],
    path: Path,
    *,
    grid: Mapping[tuple[str, str], Cell],
) -> list[str]:
    """What the rows ask that the cycle cannot take: a new initiative aiming no higher
    than its cell already is."""
    return [
        problem_at(
            path,
            e.row,
            "target_level",
            f"{e.capability} {e.dimension} is at level "
            f"{grid[(e.capability, e.dimension)].lowest.level} already; aim above it",
        )
        for e in edits
        if e.id is None
        and (e.capability, e.dimension) in grid
        and e.target_level <= (grid[(e.capability, e.dimension)].lowest.level or 0)
    ]


def _edited(initiative: store.Initiative, edit: InitiativeEdit, now: datetime) -> store.Initiative:
    """The initiative with the PMO's edit applied."""
    initiative.owner = edit.owner
    initiative.target_level = edit.target_level
    initiative.due_cycle = edit.due_cycle
    initiative.linked_projects = list(edit.linked_projects)
    initiative.status = edit.status
    initiative.rank = edit.rank or initiative.rank
    initiative.approver = edit.approver
    initiative.cost_estimate = edit.cost_estimate
    initiative.effort_days = edit.effort_days
    initiative.expected_gain = edit.expected_gain
    initiative.updated_at = now
    return initiative
