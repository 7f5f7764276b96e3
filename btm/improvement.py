"""The improvement cycle of the BTM Standard: assess -> design -> execute -> improve.

A cycle opens in `assess` when its evidence is first gathered; its scoring and baseline
report complete the assessment and move it to `design`, where the backlog of improvement
initiatives is proposed from the gaps to target. The PMO's approval of that backlog is
the one gate (`advance`, design -> execute): no scheduled run passes it. While a cycle
executes, a monthly pulse reads its initiatives' linked projects. When the next cycle is
scored, the executing cycle is improved: its levels are compared with the new ones and
the targets, regressions flagged, the next targets proposed, and it is closed.

Every phase change is a new row (who, when, why); nothing is overwritten. The backlog's
priority formula and the pulse's thresholds are data (`btm/data/improvement.yaml`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from btm import fiscal, store
from btm.catalog import DATA_DIR, Catalog, read_yaml
from btm.errors import BtmError, ConfigurationError
from btm.evidence.gather import evidence_plan
from btm.initiatives_file import (
    BacklogContext,
    InitiativeFileError,
    problem_at,
    read_backlog,
    write_backlog,
)
from btm.reporting import Improvement, InitiativeLine, mean_level
from btm.scoring import next_level_guidance
from btm.settings import Settings

PHASES = ("assess", "design", "execute", "improve", "closed")
CONFIG_FILE = DATA_DIR / "improvement.yaml"
PMO_CONFIG = "improvement.yaml"  # the PMO's overrides, in BTM_HOME
GUIDANCE_LINES = 4
REGRESSIONS_SHOWN = 12  # in the report: the largest falls first
DEFAULT_OWNER = "PMO"  # of an initiative in an area the configuration names no owner for
PULSE_STATES = ("off track", "at risk", "no evidence", "on track", "done")  # worst first


# configuration ------------------------------------------------------------------------


class PulseRules(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slip_days_off_track: int = Field(ge=0)
    stale_update_days: int = Field(ge=1)


class ImprovementConfig(BaseModel):
    """btm/data/improvement.yaml, with the PMO's top-level keys laid over it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backlog_size: int = Field(ge=1)
    dependency_weight: float = Field(ge=0)
    due_in_cycles: int = Field(ge=1)
    area_weights: dict[str, float]
    owners: dict[str, str]
    depends_on: dict[str, list[str]]
    pulse: PulseRules

    @cached_property
    def dependents(self) -> dict[str, int]:
        """Per capability, how many capabilities depend on it directly or transitively."""
        users: dict[str, set[str]] = {}
        for capability, foundations in self.depends_on.items():
            for foundation in foundations:
                users.setdefault(foundation, set()).add(capability)
        counts = {}
        for capability in users:
            seen: set[str] = set()
            todo = list(users[capability])
            while todo:
                if (user := todo.pop()) not in seen:
                    seen.add(user)
                    todo.extend(users.get(user, ()))
            counts[capability] = len(seen)
        return counts

    def priority(self, *, gap: float, area: str, capability: str) -> float:
        dependents = self.dependents.get(capability, 0)
        weight = self.area_weights.get(area, 1.0)
        return round(gap * weight * (1 + self.dependency_weight * dependents), 3)


def load_config(*, catalog: Catalog, home: Path | None = None) -> ImprovementConfig:
    raw = dict(read_yaml(CONFIG_FILE))
    sources = [str(CONFIG_FILE)]
    override = home / PMO_CONFIG if home else None
    if override and override.exists():
        laid = read_yaml(override) or {}
        if not isinstance(laid, dict):
            raise ConfigurationError(
                f"{override}: must be a mapping of the keys of {CONFIG_FILE} to replace "
                f"(e.g. `backlog_size: 5`), not a {type(laid).__name__}"
            )
        raw.update(laid)
        sources.append(str(override))
    where = " laid over ".join(reversed(sources))
    try:
        config = ImprovementConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigurationError(f"{where}: {problems}") from exc
    known = set(catalog.capability_ids)
    areas = {a.id for a in catalog.areas}
    for capability, foundations in config.depends_on.items():
        for name in (capability, *foundations):
            if name not in known:
                raise ConfigurationError(
                    f"{where}: depends_on names {name!r}, not a capability of the catalogue"
                )
    for section, keys in (("area_weights", config.area_weights), ("owners", config.owners)):
        for key in keys:
            if key not in areas:
                raise ConfigurationError(
                    f"{where}: {section} names {key!r}, not an area of the catalogue "
                    f"({', '.join(sorted(areas))})"
                )
    _check_acyclic(config.depends_on, where)
    return config


def _check_acyclic(depends_on: Mapping[str, list[str]], where: str) -> None:
    done: set[str] = set()

    def visit(capability: str, path: tuple[str, ...]) -> None:
        if capability in path:
            loop = " -> ".join((*path[path.index(capability) :], capability))
            raise ConfigurationError(f"{where}: depends_on loops: {loop}")
        if capability in done:
            return
        for foundation in depends_on.get(capability, []):
            visit(foundation, (*path, capability))
        done.add(capability)

    for capability in depends_on:
        visit(capability, ())


# phases -------------------------------------------------------------------------------


def phase_of(*, session: Any, cycle_id: str) -> store.PhaseChange | None:
    history = store.phase_history(session=session, cycle_id=cycle_id)
    return history[-1] if history else None


def enter_phase(
    *, session: Any, cycle_id: str, phase: str, actor: str, reason: str
) -> store.PhaseChange:
    """Record the cycle's step into `phase`, the next one after its current phase."""
    current = phase_of(session=session, cycle_id=cycle_id)
    expected = PHASES[PHASES.index(current.phase) + 1] if current else "assess"
    if phase != expected:
        raise BtmError(
            f"{cycle_id} cannot go from {current.phase if current else 'nothing'} to {phase}; "
            f"its next phase is {expected}"
        )
    change = store.PhaseChange(cycle_id=cycle_id, phase=phase, actor=actor, reason=reason)
    session.add(change)
    session.commit()
    return change


def waits_for(*, cycle: store.Cycle, phase: str, settings: Settings) -> str:
    """What the cycle needs before it can move on, in the words `btm status` prints."""
    if phase == "assess":
        if cycle.completed_at is None:
            calendar = fiscal.current()
            after = calendar.start(calendar.next(cycle.id)).isoformat()
            return (
                f"its scoring: the quarterly-cycle run on or after {after} "
                f"(or `btm run --cycle {cycle.id}`)"
            )
        return "the improvement backlog: `btm cycle advance` proposes it"
    if phase == "design":
        return (
            f"{settings.pmo}'s approval of the backlog: `btm initiatives export --cycle "
            f"{cycle.id} FILE`, review, `btm initiatives import --cycle {cycle.id} FILE`, "
            f"then `btm cycle advance --cycle {cycle.id} --by NAME --reason TEXT`"
        )
    if phase == "execute":
        following = fiscal.current().next(cycle.id)
        day = fiscal.current().start(fiscal.current().next(following)).isoformat()
        return (
            f"the scoring of {following} (quarterly-cycle on {day}); "
            "the monthly initiative-pulse tracks the initiatives meanwhile"
        )
    if phase == "improve":
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
    with store.session_scope(engine) as session:
        statuses = []
        for cycle_id, change in store.current_phases(session=session).items():
            cycle = session.get(store.Cycle, cycle_id)
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


# design: the backlog ------------------------------------------------------------------


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
) -> list[store.Initiative]:
    """The cycle's top-priority initiatives, one per capability x dimension below target,
    ranked by `config.priority` (ties in catalogue order)."""
    order = {
        (c.id, d.id): n
        for n, (c, d) in enumerate((c, d) for c in catalog.capabilities for d in catalog.dimensions)
    }
    due = cycle_id
    for _ in range(config.due_in_cycles):
        due = fiscal.current().next(due)
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
    with store.session_scope(engine) as session:
        existing = store.initiatives_of(session=session, cycle_id=cycle_id)
        if existing:
            return existing
        backlog = propose_backlog(
            cycle_id=cycle_id,
            scores=store.get_scores(session=session, cycle_id=cycle_id),
            catalog=catalog,
            config=config,
        )
        session.add_all(backlog)
        session.commit()
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
    with store.session_scope(engine) as session:
        backlog = store.initiatives_of(session=session, cycle_id=cycle_id)
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
    with store.session_scope(engine) as session:
        current = phase_of(session=session, cycle_id=cycle_id)
        if current is None or current.phase not in ("design", "execute"):
            where = current.phase if current else "not opened"
            raise BtmError(
                f"{cycle_id} is {where}: a backlog is imported in the design phase (or "
                "re-linked while it executes); `btm status` shows each cycle's phase"
            )
        existing = {i.id: i for i in store.initiatives_of(session=session, cycle_id=cycle_id)}
        scores = store.get_scores(session=session, cycle_id=cycle_id)
    _, project_batches = latest_project_batches(engine=engine)
    known_projects = store.load_ids(engine=engine, kind="projects", batch_ids=project_batches)
    context = BacklogContext(
        cycle_id=cycle_id,
        capabilities={c.id: c.name for c in catalog.capabilities},
        dimensions=catalog.dimension_ids,
        existing=existing,
        known_projects=frozenset(known_projects) if known_projects else None,
    )
    edits = read_backlog(path, context)
    listed = {e.id for e in edits if e.id}
    grid = cells(scores)
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
    if current.phase == "design":
        problems += [
            problem_at(
                path,
                e.row,
                "status",
                "approved is given by the PMO's gate, `btm cycle advance`; write proposed "
                "or dropped",
            )
            for e in edits
            if e.status == "approved" and (e.id is None or existing[e.id].status != "approved")
        ]
    if problems:
        raise InitiativeFileError(path, problems)
    updated = added = dropped = 0
    now = store.utcnow()
    with store.session_scope(engine) as session:
        for edit in edits:
            if edit.id is not None:
                initiative = existing[edit.id]
                updated += 1
            else:
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
            dropped += edit.status == "dropped" and initiative.status != "dropped"
            initiative.owner = edit.owner
            initiative.target_level = edit.target_level
            initiative.due_cycle = edit.due_cycle
            initiative.linked_projects = list(edit.linked_projects)
            initiative.status = edit.status
            initiative.rank = edit.rank or initiative.rank
            initiative.updated_at = now
            session.add(initiative)
        session.commit()
        ordered = sorted(
            store.initiatives_of(session=session, cycle_id=cycle_id),
            key=lambda i: (i.rank, -i.priority, i.id),
        )
        for rank, initiative in enumerate(ordered, 1):
            initiative.rank = rank
            session.add(initiative)
        session.commit()
    untouched = tuple(sorted(set(existing) - listed))
    return BacklogImport(updated, added, dropped, untouched)


# execute: the monthly pulse -----------------------------------------------------------


@dataclass(frozen=True)
class ProjectReading:
    project_id: str
    status: str | None
    health: str | None
    progress: float | None
    flags: tuple[tuple[str, str], ...]  # (state, why): "off track" or "at risk"

    def to_json(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "status": self.status,
            "health": self.health,
            "progress": self.progress,
            "flags": [why for _, why in self.flags],
        }


def _day(value: Any) -> date | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def read_project(row: Mapping[Any, Any], *, as_of: date, rules: PulseRules) -> ProjectReading:
    """One project's state at `as_of` from its latest evidence row."""
    status = None if pd.isna(row.get("status")) else str(row["status"])
    health = None if pd.isna(row.get("health")) else str(row["health"])
    planned_end, forecast_end = _day(row.get("planned_end")), _day(row.get("forecast_end"))
    updated = _day(row.get("last_status_update"))
    raw_progress = row.get("percent_complete")
    progress = 100.0 if status == "completed" else None
    if progress is None and raw_progress is not None and not pd.isna(raw_progress):
        progress = float(raw_progress)
    flags: list[tuple[str, str]] = []
    if status == "completed":
        return ProjectReading(str(row["project_id"]), status, health, progress, ())
    if status in ("on_hold", "cancelled"):
        flags.append(("off track", f"{status.replace('_', ' ')}"))
    if health == "red":
        flags.append(("off track", "health red"))
    elif health == "amber":
        flags.append(("at risk", "health amber"))
    if planned_end and planned_end < as_of:
        flags.append(("off track", f"past its planned end {planned_end} and not completed"))
    elif planned_end and forecast_end and forecast_end > planned_end:
        slip = (forecast_end - planned_end).days
        state = "off track" if slip > rules.slip_days_off_track else "at risk"
        flags.append((state, f"forecast {slip} days after its planned end"))
    if updated is None or (as_of - updated).days > rules.stale_update_days:
        since = "never" if updated is None else f"last on {updated}"
        flags.append(
            ("at risk", f"no status update for over {rules.stale_update_days} days ({since})")
        )
    return ProjectReading(str(row["project_id"]), status, health, progress, tuple(flags))


def judge_initiative(
    initiative: store.Initiative, readings: Mapping[str, ProjectReading], *, as_of: date
) -> store.InitiativePulse:
    """An initiative's state from its linked projects: the worst of theirs."""
    linked = initiative.linked_projects
    found = [readings[p] for p in linked if p in readings]
    missing = [p for p in linked if p not in readings]
    findings = []
    if not linked:
        state = "no evidence"
        findings.append(
            "no linked projects: link the projects that deliver it with `btm initiatives import`"
        )
    elif not found:
        state = "no evidence"
        findings.append(f"none of its projects is in the evidence: {', '.join(missing)}")
    else:
        states = [s for r in found for s, _ in r.flags]
        if missing:
            states.append("at risk")
            findings.append(f"not in the evidence: {', '.join(missing)}")
        findings.extend(f"{r.project_id}: {why}" for r in found for _, why in r.flags)
        if "off track" in states:
            state = "off track"
        elif "at risk" in states:
            state = "at risk"
        elif all(r.status == "completed" for r in found):
            state = "done"
        else:
            state = "on track"
    known = [r.progress for r in found if r.progress is not None]
    return store.InitiativePulse(
        initiative_id=initiative.id,
        as_of=as_of,
        state=state,
        progress=round(sum(known) / len(known), 1) if known else None,
        findings=findings,
        projects=[r.to_json() for r in found],
    )


def latest_project_batches(
    *, engine: sa.Engine, as_of: date | None = None
) -> tuple[str | None, list[int]]:
    """The newest accepted project evidence on `as_of` (default: the newest gathered):
    the cycle it was gathered in and its batches."""
    up_to = fiscal.current().containing(as_of) if as_of else "9999-Q4"
    with store.session_scope(engine) as session:
        cycle_id = store.newest_cycle_fetched(session=session, up_to=up_to)
    if cycle_id is None:
        return None, []
    plan = evidence_plan(engine=engine, cycle_id=cycle_id)
    return cycle_id, sorted(b.id for b in plan.batches if b.kind == "projects" and b.id)


def latest_projects(
    *, engine: sa.Engine, as_of: date | None = None
) -> tuple[str | None, pd.DataFrame]:
    """The rows of `latest_project_batches`, one per project id."""
    cycle_id, batch_ids = latest_project_batches(engine=engine, as_of=as_of)
    if not batch_ids:
        return cycle_id, pd.DataFrame(columns=["project_id"])
    rows = store.load_rows(engine=engine, kind="projects", batch_ids=batch_ids)
    return cycle_id, rows.drop_duplicates("project_id", keep="last")


@dataclass(frozen=True)
class Pulse:
    as_of: date
    evidence_cycle: str | None
    readings: tuple[tuple[store.Initiative, store.InitiativePulse], ...]

    def count(self, state: str) -> int:
        return sum(1 for _, p in self.readings if p.state == state)


def run_pulse(*, engine: sa.Engine, as_of: date, settings: Settings, catalog: Catalog) -> Pulse:
    """Read every approved initiative of the executing cycles and store the readings."""
    rules = load_config(catalog=catalog, home=settings.resolved_home).pulse
    with store.session_scope(engine) as session:
        executing = [
            c for c, p in store.current_phases(session=session).items() if p.phase == "execute"
        ]
        initiatives = [
            i
            for cycle_id in executing
            for i in store.initiatives_of(session=session, cycle_id=cycle_id)
            if i.status == "approved"
        ]
    evidence_cycle, rows = latest_projects(engine=engine, as_of=as_of)
    wanted = {p for i in initiatives for p in i.linked_projects}
    readings = {
        str(row["project_id"]): read_project(row, as_of=as_of, rules=rules)
        for row in rows[rows["project_id"].isin(wanted)].to_dict("records")
    }
    pulses = [judge_initiative(i, readings, as_of=as_of) for i in initiatives]
    with store.session_scope(engine) as session:
        store.replace_pulses(session=session, as_of=as_of, pulses=pulses)
    return Pulse(as_of, evidence_cycle, tuple(zip(initiatives, pulses, strict=True)))


# improve: the review ------------------------------------------------------------------


def review_cycle(
    *, engine: sa.Engine, cycle_id: str, compared_with: str, catalog: Catalog
) -> dict[str, Any]:
    """Compare the cycle's levels with the next cycle's and the targets: regressions,
    each initiative's outcome, and the next cycle's proposed targets."""
    with store.session_scope(engine) as session:
        before = store.get_scores(session=session, cycle_id=cycle_id)
        after = store.get_scores(session=session, cycle_id=compared_with)
        initiatives = [
            i
            for i in store.initiatives_of(session=session, cycle_id=cycle_id)
            if i.status == "approved"
        ]
        pulses = store.latest_pulses(session=session, initiative_ids=[i.id for i in initiatives])
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
    with store.session_scope(engine) as session:
        if phase_of(session=session, cycle_id=cycle_id).phase == "execute":  # type: ignore[union-attr]
            enter_phase(
                session=session,
                cycle_id=cycle_id,
                phase="improve",
                actor=actor,
                reason=reason
                or f"{compared_with} is scored: its levels are compared with this cycle's",
            )
        session.merge(
            store.CycleReview(cycle_id=cycle_id, compared_with=compared_with, review=review)
        )
        session.commit()
        enter_phase(
            session=session,
            cycle_id=cycle_id,
            phase="closed",
            actor=actor,
            reason=(
                f"reviewed against {compared_with}: {reached} of {len(review['initiatives'])} "
                f"initiatives reached their target, {len(review['regressions'])} regressions; "
                f"{compared_with} is the open cycle"
            ),
        )
    return review


# orchestration: what a run and the PMO move on -----------------------------------------


@dataclass(frozen=True)
class Progress:
    """What a quarterly run moved on, and which cycles it left waiting at the gate."""

    designed: str | None  # the assessed cycle, now in design
    backlog: int
    improved: tuple[str, ...]
    waiting: tuple[str, ...]  # earlier cycles still in design: not passed silently

    def moved_lines(self) -> list[str]:
        designed = [f"{self.designed}: design, {self.backlog} initiatives proposed"]
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
    """Move the cycles on once `cycle_id` is scored: it goes to design with its proposed
    backlog, and each earlier cycle that was executing is improved and closed. Earlier
    cycles still in design stay there and are reported: only the PMO passes that gate."""
    with store.session_scope(engine) as session:
        phases = store.current_phases(session=session)
    designed, backlog = None, 0
    if phases.get(cycle_id) is not None and phases[cycle_id].phase == "assess":
        backlog = len(
            build_backlog(engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings)
        )
        with store.session_scope(engine) as session:
            enter_phase(
                session=session,
                cycle_id=cycle_id,
                phase="design",
                actor=actor,
                reason=f"scored; {backlog} initiatives proposed, sent with the baseline report",
            )
        designed = cycle_id
    improved = []
    for earlier, change in phases.items():
        if earlier < cycle_id and change.phase in ("execute", "improve"):
            improve_cycle(
                engine=engine,
                cycle_id=earlier,
                compared_with=cycle_id,
                catalog=catalog,
                actor=actor,
            )
            improved.append(earlier)
    waiting = tuple(c for c, p in phases.items() if c < cycle_id and p.phase == "design")
    return Progress(designed, backlog, tuple(improved), waiting)


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
    with store.session_scope(engine) as session:
        cycle = session.get(store.Cycle, cycle_id)
        current = phase_of(session=session, cycle_id=cycle_id)
        later = store.latest_cycle(session=session)
    if cycle is None or current is None:
        raise BtmError(f"there is no cycle {cycle_id}; `btm status` lists the cycles")
    phase = current.phase
    if phase == "closed":
        raise BtmError(f"{cycle_id} is closed; `btm status` shows the open cycle")
    if phase == "assess":
        if cycle.completed_at is None:
            raise BtmError(
                f"{cycle_id} is not scored yet; run `btm run --cycle {cycle_id}` before "
                "designing its backlog"
            )
        build_backlog(engine=engine, cycle_id=cycle_id, catalog=catalog, settings=settings)
    if phase == "design":
        with store.session_scope(engine) as session:
            backlog = [
                i
                for i in store.initiatives_of(session=session, cycle_id=cycle_id)
                if i.status != "dropped"
            ]
            if not backlog:
                raise BtmError(
                    f"{cycle_id} has no initiative to execute: import a backlog with "
                    f"`btm initiatives import --cycle {cycle_id} FILE` first"
                )
            for initiative in backlog:
                initiative.status = "approved"
                initiative.updated_at = store.utcnow()
                session.add(initiative)
            session.commit()
    if phase in ("execute", "improve"):
        if later is None or later.id <= cycle_id:
            raise BtmError(
                f"{cycle_id} executes until the next cycle is scored: improve compares its "
                f"levels with {fiscal.current().next(cycle_id)}'s; run that cycle first"
            )
        improve_cycle(
            engine=engine,
            cycle_id=cycle_id,
            compared_with=later.id,
            catalog=catalog,
            actor=actor,
            reason=reason,
        )
        with store.session_scope(engine) as session:
            latest = phase_of(session=session, cycle_id=cycle_id)
        assert latest is not None
        return latest
    with store.session_scope(engine) as session:
        return enter_phase(
            session=session,
            cycle_id=cycle_id,
            phase=PHASES[PHASES.index(phase) + 1],
            actor=actor,
            reason=reason,
        )


# the report's section -----------------------------------------------------------------


def _line(
    initiative: store.Initiative,
    *,
    catalog: Catalog,
    pulse: store.InitiativePulse | None,
    outcome: Mapping[str, Any] | None,
) -> InitiativeLine:
    if outcome is None:
        outcome_text = ""
    elif outcome["reached"]:
        outcome_text = "reached"
    else:
        outcome_text = (
            f"not yet: {', '.join(outcome['units_below'])} below {initiative.target_level}"
        )
    level = "unknown" if initiative.level is None else str(initiative.level)
    return InitiativeLine(
        rank=initiative.rank,
        capability_id=initiative.capability,
        capability_name=catalog.capability(initiative.capability).name,
        dimension=initiative.dimension,
        target_text=f"level {level} → {initiative.target_level}",
        owner=initiative.owner,
        due_cycle=initiative.due_cycle,
        status=initiative.status,
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
    with store.session_scope(engine) as session:
        current = phase_of(session=session, cycle_id=cycle_id)
        cycle = session.get(store.Cycle, cycle_id)
        if current is None or cycle is None:
            return None
        earlier = [c for c in store.current_phases(session=session) if c < cycle_id]
        executed_cycle = earlier[-1] if earlier else None
        executed = (
            [
                i
                for i in store.initiatives_of(session=session, cycle_id=executed_cycle)
                if i.status == "approved"
            ]
            if executed_cycle
            else []
        )
        review = session.get(store.CycleReview, executed_cycle) if executed_cycle else None
        backlog = [
            i
            for i in store.initiatives_of(session=session, cycle_id=cycle_id)
            if i.status != "dropped"
        ]
        pulses = store.latest_pulses(
            session=session, initiative_ids=[i.id for i in (*executed, *backlog)]
        )
        history = store.phase_history(session=session, cycle_id=cycle_id)
    outcomes = {o["initiative"]: o for o in (review.review["initiatives"] if review else [])}
    approval = next((c for c in history if c.phase == "execute"), None)
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
        if current.phase == "closed"
        else f"{current.phase}, waiting for {waiting}",
        executed_cycle_id=executed_cycle if executed else None,
        executed=tuple(
            _line(i, catalog=catalog, pulse=pulses.get(i.id), outcome=outcomes.get(i.id))
            for i in executed
        ),
        backlog=tuple(
            _line(i, catalog=catalog, pulse=pulses.get(i.id), outcome=None) for i in backlog
        ),
        backlog_text=backlog_text,
        regressions=regressions,
        regression_count=len(found),
    )
