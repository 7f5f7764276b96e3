"""Design: the backlog of improvement initiatives proposed from the gaps to target, and
the PMO's review of it as a file (export, then import with every row checked).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from btm.vocabulary import InitiativeStatus, Phase


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
        """The mean, over the units, of the levels still to go to their targets."""
        to_go = [max((s.target_level or 0) - (s.level or 0), 0) for s in self.scores]
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
    grouped: dict[tuple[str, str], list[store.Score]] = {}
    for score in scores:
        if score.level is not None and score.target_level is not None:
            grouped.setdefault((score.capability, score.dimension), []).append(score)
    return {key: Cell(*key, tuple(found)) for key, found in grouped.items()}


def propose_backlog(
    *,
    cycle_id: str,
    scores: Sequence[store.Score],
    catalog: Catalog,
    config: ImprovementConfig,
    calendar: FiscalCalendar,
) -> list[store.Initiative]:
    """The cycle's top-priority initiatives, one per capability x dimension below target,
    ranked by `config.priority` (ties in catalogue order)."""
    order = {
        (c.id, d.id): n
        for n, (c, d) in enumerate((c, d) for c in catalog.capabilities for d in catalog.dimensions)
    }
    due = cycle_id
    for _ in range(config.due_in_cycles):
        due = calendar.next(due)
    candidates = []
    for (capability, dimension), cell in cells(scores).items():
        if cell.gap <= 0:
            continue
        area_id = catalog.area_of(capability).id
        priority = config.priority(gap=cell.gap, area=area_id, capability=capability)
        candidates.append((-priority, order[(capability, dimension)], cell, area_id, priority))
    candidates.sort(key=lambda c: (c[0], c[1]))
    return [
        new_initiative(
            cycle_id=cycle_id,
            cell=cell,
            target=cell.next_target,
            rank=rank,
            priority=priority,
            owner=config.owners.get(area, DEFAULT_OWNER),
            due_cycle=due,
            catalog=catalog,
        )
        for rank, (_, _, cell, area, priority) in enumerate(candidates[: config.backlog_size], 1)
    ]


def new_initiative(
    *,
    cycle_id: str,
    cell: Cell,
    target: int,
    rank: int,
    priority: float,
    owner: str,
    due_cycle: str,
    catalog: Catalog,
    linked_projects: Sequence[str] = (),
    status: str = "proposed",
) -> store.Initiative:
    """An initiative to lift `cell` to `target`, titled with the units below it and
    guided by the next level's rules the lowest unit does not pass."""
    lowest = cell.lowest if cell.scores else None
    below = cell.units_below(target)
    dimension_name = next(d.name for d in catalog.dimensions if d.id == cell.dimension)
    guidance = (
        [
            f"{g.text}: {g.improve}" if g.improve else g.text
            for g in next_level_guidance(lowest.trace, lowest.level)
        ][:GUIDANCE_LINES]
        if lowest
        else []
    )
    return store.Initiative(
        id=initiative_id(cycle_id, cell.capability, cell.dimension),
        cycle_id=cycle_id,
        rank=rank,
        priority=priority,
        capability=cell.capability,
        dimension=cell.dimension,
        level=lowest.level if lowest else None,
        target_level=target,
        gap=round(cell.gap, 3),
        owner=owner,
        due_cycle=due_cycle,
        linked_projects=list(linked_projects),
        status=status,
        title=(
            f"{catalog.capability(cell.capability).name}, {dimension_name.lower()}: "
            f"lift {', '.join(below) or 'every unit'} to level {target}"
        ),
        guidance=guidance,
    )


def build_backlog(
    *, engine: sa.Engine, cycle_id: str, catalog: Catalog, settings: Settings
) -> list[store.Initiative]:
    """Propose and store the cycle's backlog, unless it already has one."""
    config = load_config(catalog=catalog, home=settings.resolved_home)
    existing = store.backlog_of(engine=engine, cycle_id=cycle_id)
    if existing:
        return existing
    backlog = propose_backlog(
        cycle_id=cycle_id,
        scores=store.scores_of(engine=engine, cycle_id=cycle_id),
        catalog=catalog,
        config=config,
        calendar=settings.calendar,
    )
    store.save_initiatives(engine=engine, initiatives=backlog)
    return backlog


@dataclass(frozen=True)
class BacklogImport:
    updated: int
    added: int
    dropped: int
    untouched: tuple[str, ...]  # initiatives the file did not list: left as they were

    @property
    def summary(self) -> str:
        text = f"{self.updated} initiatives updated, {self.added} added, {self.dropped} dropped"
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
    write_backlog(backlog, path)
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
    grid = cells(store.scores_of(engine=engine, cycle_id=cycle_id))
    edits = read_backlog(
        path, _backlog_context(engine, cycle_id, existing, catalog=catalog, settings=settings)
    )
    problems = _refused(
        edits, path, grid=grid, existing=existing, in_design=current.phase == Phase.DESIGN
    )
    if problems:
        raise InitiativeFileError(path, problems)
    added = dropped = 0
    changed = []
    now = store.utcnow()
    for edit in edits:
        initiative = existing[edit.id] if edit.id is not None else None
        if initiative is None:
            cell = grid.get((edit.capability, edit.dimension)) or Cell(
                edit.capability, edit.dimension, ()
            )
            area = catalog.area_of(edit.capability).id
            initiative = new_initiative(
                cycle_id=cycle_id,
                cell=cell,
                target=edit.target_level,
                rank=edit.rank or len(existing) + added + 1,
                priority=config.priority(gap=cell.gap, area=area, capability=edit.capability),
                owner=edit.owner,
                due_cycle=edit.due_cycle,
                catalog=catalog,
            )
            added += 1
        dropped += edit.status == InitiativeStatus.DROPPED != initiative.status
        changed.append(_edited(initiative, edit, now))
    store.save_initiatives(engine=engine, initiatives=changed)
    ordered = sorted(
        store.backlog_of(engine=engine, cycle_id=cycle_id),
        key=lambda i: (i.rank, -i.priority, i.id),
    )
    for rank, initiative in enumerate(ordered, 1):
        initiative.rank = rank
    store.save_initiatives(engine=engine, initiatives=ordered)
    untouched = tuple(sorted(set(existing) - {e.id for e in edits if e.id}))
    return BacklogImport(len(edits) - added, added, dropped, untouched)


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
    existing: Mapping[str, store.Initiative],
    in_design: bool,
) -> list[str]:
    """What the rows ask that the cycle cannot take: a new initiative aiming no higher
    than its cell already is, or an approval outside the PMO's gate."""
    problems = [
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
    if in_design:
        problems += [
            problem_at(
                path,
                e.row,
                "status",
                "approved is given by the PMO's gate, `btm cycle advance`; write proposed "
                "or dropped",
            )
            for e in edits
            if e.status == InitiativeStatus.APPROVED
            and (e.id is None or existing[e.id].status != InitiativeStatus.APPROVED)
        ]
    return problems


def _edited(initiative: store.Initiative, edit: InitiativeEdit, now: datetime) -> store.Initiative:
    """The initiative with the PMO's edit applied."""
    initiative.owner = edit.owner
    initiative.target_level = edit.target_level
    initiative.due_cycle = edit.due_cycle
    initiative.linked_projects = list(edit.linked_projects)
    initiative.status = edit.status
    initiative.rank = edit.rank or initiative.rank
    initiative.updated_at = now
    return initiative
