"""Execute: the monthly pulse. Each in-flight initiative is read from the latest accepted
evidence twice: its linked projects' status, health and schedule, and its targeted cell
scored again on the systems' evidence and compared with the levels it was approved on.
Its state is the worse of the two readings, so "on track" means the capability is moving.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.evidence.gather import CycleEvidence, assemble_evidence, evidence_plan
from btm.improvement.config import PulseRules, load_config
from btm.metrics import compute_metrics
from btm.scoring.engine import (
    CellScore,
    History,
    UnitEvidence,
    needs_text,
    next_level_guidance,
    score_cell,
    units_evidence,
)
from btm.scoring.rubric import Rubric, Rule, format_value, metric_label
from btm.settings import Settings
from btm.vocabulary import Basis, InitiativeStatus, PulseState

if TYPE_CHECKING:
    import pandas as pd

PULSE_STATES = tuple(PulseState)  # worst first
SURVEY = "survey"  # the evidence kind a cell is not scored on again: the pulse reads the systems


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
    import pandas as pd

    return None if value is None or pd.isna(value) else pd.Timestamp(value).date()


def read_project(row: Mapping[Any, Any], *, as_of: date, rules: PulseRules) -> ProjectReading:
    """One project's state at `as_of` from its latest evidence row."""
    import pandas as pd

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
        flags.append((PulseState.OFF_TRACK, f"{status.replace('_', ' ')}"))
    if health == "red":
        flags.append((PulseState.OFF_TRACK, "health red"))
    elif health == "amber":
        flags.append((PulseState.AT_RISK, "health amber"))
    if planned_end and planned_end < as_of:
        flags.append(
            (PulseState.OFF_TRACK, f"past its planned end {planned_end} and not completed")
        )
    elif planned_end and forecast_end and forecast_end > planned_end:
        slip = (forecast_end - planned_end).days
        state = PulseState.OFF_TRACK if slip > rules.slip_days_off_track else PulseState.AT_RISK
        flags.append((state, f"forecast {slip} days after its planned end"))
    if updated is None or (as_of - updated).days > rules.stale_update_days:
        since = "never" if updated is None else f"last on {updated}"
        flags.append(
            (
                PulseState.AT_RISK,
                f"no status update for over {rules.stale_update_days} days ({since})",
            )
        )
    return ProjectReading(str(row["project_id"]), status, health, progress, tuple(flags))


@dataclass(frozen=True)
class ProjectsReading:
    """An initiative's linked projects, judged together."""

    state: PulseState | None  # None: it links no project
    findings: tuple[str, ...]
    progress: float | None
    projects: tuple[ProjectReading, ...]


def judge_projects(
    initiative: store.Initiative, readings: Mapping[str, ProjectReading]
) -> ProjectsReading:
    """The worst state of an initiative's linked projects, done when all are completed."""
    linked = initiative.linked_projects
    found = [readings[p] for p in linked if p in readings]
    missing = [p for p in linked if p not in readings]
    findings = []
    state: PulseState | None
    if not linked:
        state = None
        findings.append(
            "no linked projects: link the projects that deliver it with `btm initiatives import`"
        )
    elif not found:
        state = PulseState.NO_EVIDENCE
        findings.append(f"none of its projects is in the evidence: {', '.join(missing)}")
    else:
        states = [s for r in found for s, _ in r.flags]
        if missing:
            states.append(PulseState.AT_RISK)
            findings.append(f"not in the evidence: {', '.join(missing)}")
        findings.extend(f"{r.project_id}: {why}" for r in found for _, why in r.flags)
        if PulseState.OFF_TRACK in states:
            state = PulseState.OFF_TRACK
        elif PulseState.AT_RISK in states:
            state = PulseState.AT_RISK
        elif all(r.status == "completed" for r in found):
            state = PulseState.DONE
        else:
            state = PulseState.ON_TRACK
    known = [r.progress for r in found if r.progress is not None]
    progress = round(sum(known) / len(known), 1) if known else None
    return ProjectsReading(state, tuple(findings), progress, tuple(found))


# the targeted cell ------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitReading:
    """One unit of the targeted cell that was below its target when the initiative was
    approved: the level the systems showed then and show now, and what moved since."""

    unit: str
    target: int
    was: int | None
    now: int | None
    moving: tuple[str, ...] = ()  # the level's rise, or the next level's metrics moving
    needs: tuple[str, ...] = ()  # the next level's rules that do not pass now

    @property
    def reached(self) -> bool:
        return self.now is not None and self.now >= self.target

    @property
    def fell(self) -> bool:
        return self.was is not None and self.now is not None and self.now < self.was

    def to_json(self) -> dict[str, Any]:
        return {"unit": self.unit, "was": self.was, "now": self.now, "target": self.target}


@dataclass(frozen=True)
class CellReading:
    """The targeted cell scored again on the latest accepted system evidence, beside the
    stored scores of the cycle whose backlog approved the initiative (its baseline)."""

    state: PulseState
    finding: str
    baseline: str
    evidence_cycle: str | None
    units: tuple[UnitReading, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "state": str(self.state),
            "baseline": self.baseline,
            "evidence_cycle": self.evidence_cycle,
            "units": [u.to_json() for u in self.units],
            "moving": [text for u in self.units for text in u.moving],
        }


def baseline_of(initiative: store.Initiative) -> str:
    """The cycle whose backlog approved the initiative; its own for rows stored before
    approvals were recorded."""
    return initiative.approved_in or initiative.cycle_id


def _level(level: int | None) -> str:
    return "unknown" if level is None else str(level)


def _known(value: Any) -> float | None:
    return None if value is None or value != value else float(value)  # NaN is unknown


def _needs(rule: Rule) -> str:
    """What the rule asks, in `btm explain`'s words ("needs >= 85 %")."""
    return needs_text(rule.metric, rule.operator, rule.threshold, trend=rule.trend)


def read_unit(score: store.Score, now: CellScore | None, *, target: int) -> UnitReading:
    """A unit's level then (its stored score, when the systems judged it) and now, and the
    next level's metrics that moved toward their thresholds since. A level the survey
    alone gave is no level the systems showed."""
    was = score.level if store.basis_of(score).on_evidence else None
    if now is None or now.level is None:
        return UnitReading(score.unit, target, was, None)
    needs = tuple(g.text for g in next_level_guidance(now.trace(), now.level))
    if was is None or now.level > was:
        rose = f"{score.unit} level {_level(was)} → {now.level}"
        return UnitReading(score.unit, target, was, now.level, (rose,), needs)
    then = {
        entry["metric"]: _known(entry.get("value"))
        for entry in score.trace
        if entry.get("metric") and entry.get("rule") not in ("survey", "cell")
    }
    moving = []
    for outcome in now.outcomes:
        rule, before, after = outcome.rule, then.get(outcome.rule.metric), outcome.value
        if rule.level != was + 1 or before is None or after is None or rule.holds(before):
            continue
        then_text, now_text = format_value(rule.metric, before), format_value(rule.metric, after)
        # a move the report's rounding hides ("84 % → 84 %") is not one a PMO can act on
        if rule.improved([before, after]) and then_text != now_text:
            label = metric_label(rule.metric)
            moving.append(f"{score.unit} {label} {then_text} → {now_text}, {_needs(rule)}")
    return UnitReading(score.unit, target, was, now.level, tuple(moving), needs)


def read_cell(
    initiative: store.Initiative,
    baseline: Sequence[store.Score],
    now: Mapping[str, CellScore],
    *,
    evidence_cycle: str | None,
) -> CellReading:
    """The cell's own state, from the units below the initiative's target (or their own,
    when lower) in its baseline, an unknown level counting as below: done when each is at
    its target now, off track when a level fell, on track when a level rose or a next
    level's metric moved toward its threshold, at risk when nothing moved, no evidence
    when the systems judge none of them now."""
    cycle_id = baseline_of(initiative)
    scores = [
        s
        for s in baseline
        if (s.capability, s.dimension) == (initiative.capability, initiative.dimension)
        and store.basis_of(s) != Basis.NOT_APPLICABLE
    ]
    units = []
    for score in scores:
        target = min(initiative.target_level, score.target_level or initiative.target_level)
        if score.level is None or score.level < target:
            units.append(read_unit(score, now.get(score.unit), target=target))

    def reading(state: PulseState, finding: str) -> CellReading:
        return CellReading(state, finding, cycle_id, evidence_cycle, tuple(units))

    if not scores:
        return reading(PulseState.NO_EVIDENCE, f"the cell has no score in {cycle_id} to compare")
    if not units or all(u.reached for u in units):
        targets = sorted({u.target for u in units} or {initiative.target_level})
        if len(targets) == 1:
            return reading(PulseState.DONE, f"the cell reached level {targets[0]} in every unit")
        reached = ", ".join(f"{u.unit} {u.now}" for u in units)
        return reading(PulseState.DONE, f"the cell reached its target in every unit: {reached}")
    if evidence_cycle is None or all(u.now is None for u in units):
        where = f"the evidence of {evidence_cycle}" if evidence_cycle else "no evidence gathered"
        below = ", ".join(u.unit for u in units)
        return reading(
            PulseState.NO_EVIDENCE, f"no system evidence judges the cell in {below} ({where})"
        )
    if fell := [u for u in units if u.fell]:
        fallen = ", ".join(f"{u.unit} level {u.was} → {u.now}" for u in fell)
        return reading(PulseState.OFF_TRACK, f"the capability fell back: {fallen}")
    if moving := [text for u in units for text in u.moving]:
        return reading(PulseState.ON_TRACK, f"moving: {'; '.join(moving)}")
    still = "; ".join(
        f"{u.unit} level {_level(u.now)}" + (f" ({'; '.join(u.needs)})" if u.needs else "")
        for u in units
    )
    return reading(PulseState.AT_RISK, f"the capability is not moving: {still}")


def judge_initiative(
    initiative: store.Initiative,
    projects: ProjectsReading,
    cell: CellReading,
    *,
    as_of: date,
) -> store.InitiativePulse:
    """The initiative's state: the worse of its linked projects' and its cell's, the cell's
    alone when it links no project; so it is done only once the cell reached its target."""
    states = [cell.state] if projects.state is None else [projects.state, cell.state]
    return store.InitiativePulse(
        initiative_id=initiative.id,
        as_of=as_of,
        state=min(states, key=PULSE_STATES.index),
        progress=projects.progress,
        findings=[cell.finding, *projects.findings],
        projects=[r.to_json() for r in projects.projects],
        cell=cell.to_json(),
    )


def latest_project_batches(
    *, engine: sa.Engine, up_to: str | None = None
) -> tuple[str | None, list[int]]:
    """The newest accepted project evidence gathered up to the cycle `up_to` (default: the
    newest gathered): the cycle it was gathered in and its batches."""
    cycle_id = store.newest_fetched_cycle(engine=engine, up_to=up_to)
    if cycle_id is None:
        return None, []
    plan = evidence_plan(engine=engine, cycle_id=cycle_id)
    return cycle_id, sorted(b.id for b in plan.batches if b.kind == "projects" and b.id)


def latest_projects(
    *, engine: sa.Engine, up_to: str | None = None
) -> tuple[str | None, pd.DataFrame]:
    """The rows of `latest_project_batches`, one per project id."""
    import pandas as pd

    cycle_id, batch_ids = latest_project_batches(engine=engine, up_to=up_to)
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


def in_flight_initiatives(*, engine: sa.Engine, up_to: str) -> list[store.Initiative]:
    """Every approved or overdue initiative whose backlog approved it by the cycle `up_to`,
    whatever its cycle's phase now, oldest cycle first."""
    return [
        i
        for i in store.all_initiatives(engine=engine, up_to=up_to)
        if InitiativeStatus(i.status).in_flight and baseline_of(i) <= up_to
    ]


def project_rows(evidence: CycleEvidence, wanted: set[str]) -> list[dict[Any, Any]]:
    """The newest row of each wanted project id (the rows come in batch order)."""
    frame = evidence.frames.get("projects")
    if frame is None:
        return []
    rows = frame.drop_duplicates("project_id", keep="last")
    return rows[rows["project_id"].isin(wanted)].to_dict("records")


def measure_units(
    evidence: CycleEvidence, *, as_of: date, rubric: Rubric, history: Mapping[str, History]
) -> dict[str, UnitEvidence]:
    """What each unit's cells are scored on again: the metrics of the evidence's system
    kinds (the survey left out), measured once per pulse on its day."""
    frames = {kind: frame for kind, frame in evidence.frames.items() if kind != SURVEY}
    metrics = compute_metrics(frames, as_of=as_of, policy=rubric.metric_policy)
    return dict(units_evidence(metrics, ages=evidence.ages_by_unit(), history=history))


def run_pulse(
    *, engine: sa.Engine, as_of: date, settings: Settings, catalog: Catalog, rubric: Rubric
) -> Pulse:
    """Read every in-flight initiative approved by the pulse's quarter, whatever its cycle's
    phase, from the newest evidence gathered by then, and store the readings."""
    rules = load_config(catalog=catalog, home=settings.resolved_home).pulse
    quarter = settings.calendar.containing(as_of)
    initiatives = in_flight_initiatives(engine=engine, up_to=quarter)
    evidence_cycle = store.newest_fetched_cycle(engine=engine, up_to=quarter)
    readings: dict[str, ProjectReading] = {}
    units: dict[str, UnitEvidence] = {}
    if initiatives and evidence_cycle is not None:
        evidence = assemble_evidence(
            engine=engine, cycle_id=evidence_cycle, calendar=settings.calendar
        )
        wanted = {p for i in initiatives for p in i.linked_projects}
        readings = {
            str(row["project_id"]): read_project(row, as_of=as_of, rules=rules)
            for row in project_rows(evidence, wanted)
        }
        history = store.metric_history(
            engine=engine,
            cycle_id=evidence_cycle,
            rubric_version=rubric.version,
            cycles=rubric.history_cycles,
        )
        units = measure_units(evidence, as_of=as_of, rubric=rubric, history=history)
    baselines = {
        cycle_id: store.scores_of(engine=engine, cycle_id=cycle_id)
        for cycle_id in {baseline_of(i) for i in initiatives}
    }
    pulses = []
    for initiative in initiatives:
        now = {
            unit: score_cell(unit, initiative.capability, initiative.dimension, measured, rubric)
            for unit, measured in units.items()
        }
        cell = read_cell(
            initiative, baselines[baseline_of(initiative)], now, evidence_cycle=evidence_cycle
        )
        projects = judge_projects(initiative, readings)
        pulses.append(judge_initiative(initiative, projects, cell, as_of=as_of))
    store.save_pulses(engine=engine, as_of=as_of, pulses=pulses)
    return Pulse(as_of, evidence_cycle, tuple(zip(initiatives, pulses, strict=True)))
