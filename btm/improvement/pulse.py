"""Execute: the monthly pulse, each approved initiative read from its linked projects'
latest accepted evidence.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from btm import store
from btm.catalog import Catalog
from btm.evidence.gather import evidence_plan
from btm.improvement.config import PulseRules, load_config
from btm.settings import Settings
from btm.vocabulary import Phase, PulseState

if TYPE_CHECKING:
    import pandas as pd

PULSE_STATES = tuple(PulseState)  # worst first


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


def judge_initiative(
    initiative: store.Initiative, readings: Mapping[str, ProjectReading], *, as_of: date
) -> store.InitiativePulse:
    """An initiative's state from its linked projects: the worst of theirs."""
    linked = initiative.linked_projects
    found = [readings[p] for p in linked if p in readings]
    missing = [p for p in linked if p not in readings]
    findings = []
    if not linked:
        state = PulseState.NO_EVIDENCE
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
    return store.InitiativePulse(
        initiative_id=initiative.id,
        as_of=as_of,
        state=state,
        progress=round(sum(known) / len(known), 1) if known else None,
        findings=findings,
        projects=[r.to_json() for r in found],
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


def run_pulse(*, engine: sa.Engine, as_of: date, settings: Settings, catalog: Catalog) -> Pulse:
    """Read every approved initiative of the executing cycles and store the readings."""
    rules = load_config(catalog=catalog, home=settings.resolved_home).pulse
    executing = [
        c for c, p in store.cycle_phases(engine=engine).items() if p.phase == Phase.EXECUTE
    ]
    initiatives = [
        i
        for cycle_id in executing
        for i in store.backlog_of(engine=engine, cycle_id=cycle_id)
        if i.status == "approved"
    ]
    evidence_cycle, rows = latest_projects(engine=engine, up_to=settings.calendar.containing(as_of))
    wanted = {p for i in initiatives for p in i.linked_projects}
    readings = {
        str(row["project_id"]): read_project(row, as_of=as_of, rules=rules)
        for row in rows[rows["project_id"].isin(wanted)].to_dict("records")
    }
    pulses = [judge_initiative(i, readings, as_of=as_of) for i in initiatives]
    store.save_pulses(engine=engine, as_of=as_of, pulses=pulses)
    return Pulse(as_of, evidence_cycle, tuple(zip(initiatives, pulses, strict=True)))
