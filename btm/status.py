"""What the store says now, as the `btm` command shows it: a cycle's levels with its
sources, its phases and the last failed flow run with its alert, its metrics, the fiscal
calendar, a backlog with its pulses, and the phase history. Each answer is a result type
that knows its JSON form, so the command only presents it. The metrics (and pandas) load
for `btm metrics` alone, so the other answers start without them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from btm import store
from btm.errors import BtmError
from btm.evidence.gather import assemble_evidence, source_notes
from btm.evidence.notes import SourceNote
from btm.fiscal import FiscalCalendar
from btm.improvement.phases import PhaseStatus, phase_statuses
from btm.vocabulary import Phase

if TYPE_CHECKING:
    import pandas as pd

    from btm.pipeline import Setup


def scored_cycle(run: Setup, cycle_id: str | None) -> store.Cycle:
    """The given cycle, or the latest scored one."""
    chosen = (
        store.find_cycle(engine=run.engine, cycle_id=cycle_id)
        if cycle_id
        else store.latest_scored_cycle(engine=run.engine)
    )
    if chosen is None:
        raise BtmError(
            f"no scored cycle {cycle_id or ''} in {run.settings.effective_database_url}; "
            "run `btm demo` or `btm run` first".replace("  ", " ")
        )
    return chosen


def cycle_in(run: Setup, phases: Sequence[Phase], cycle_id: str | None) -> str:
    """The given cycle, or the newest one in one of `phases`."""
    if cycle_id:
        return cycle_id
    current = store.cycle_phases(engine=run.engine)
    candidates = [c for c, p in current.items() if p.phase in phases]
    if not candidates:
        raise BtmError(
            f"no cycle is in {' or '.join(phases)}; name one with --cycle "
            "(`btm status` lists the cycles and their phases)"
        )
    return candidates[-1]


# btm status -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleStatus:
    cycle: store.Cycle
    shown_version: str  # the rubric version of the scores shown
    versions: tuple[str, ...]  # every version the cycle was scored under
    scores: tuple[store.Score, ...]
    sources: tuple[SourceNote, ...]
    phases: tuple[PhaseStatus, ...]
    last_failure: store.RunFailure | None = None

    @property
    def title(self) -> str:
        original = self.cycle.rubric_version or ""
        if self.shown_version == original:
            title = f"BTM maturity, cycle {self.cycle.id} (rubric {original})"
        else:
            title = (
                f"BTM maturity, cycle {self.cycle.id} rescored under {self.shown_version} "
                f"(original: {original})"
            )
        return title + (f", target: {self.cycle.target_state}" if self.cycle.target_state else "")

    @property
    def other_versions(self) -> list[str]:
        return [v for v in self.versions if v != self.shown_version]

    def to_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle.id,
            "as_of": self.cycle.as_of.isoformat(),
            "rubric_version": self.shown_version,
            "original_rubric_version": self.cycle.rubric_version,
            "rubric_versions": list(self.versions),
            "target_state": self.cycle.target_state,
            "scores": [
                {
                    "unit": s.unit,
                    "capability": s.capability,
                    "dimension": s.dimension,
                    "level": s.level,
                    "target_level": s.target_level,
                    "gap": s.gap,
                }
                for s in self.scores
            ],
            "sources": [n.to_json() for n in self.sources],
            "phases": [p.to_json() for p in self.phases],
            "last_failure": failure_json(self.last_failure),
        }


def failure_json(failure: store.RunFailure | None) -> dict[str, Any] | None:
    return None if failure is None else failure.model_dump(mode="json", exclude={"id"})


def last_failure(run: Setup) -> store.RunFailure | None:
    """The flow run that failed most recently, with where its ops alert went."""
    return store.last_run_failure(engine=run.engine)


def cycle_status(run: Setup, cycle_id: str | None, rubric_version: str | None) -> CycleStatus:
    """A scored cycle's levels (its original set, or the one rescored under
    `rubric_version`), its sources' provenance and every cycle's phase."""
    cycle = scored_cycle(run, cycle_id)
    versions = store.rubric_versions_of(engine=run.engine, cycle_id=cycle.id)
    if rubric_version is not None and rubric_version not in versions:
        raise BtmError(
            f"cycle {cycle.id} has no scores under rubric {rubric_version}; it was scored "
            f"under {', '.join(versions) or 'none'}: pass one of those to --rubric, or run "
            f"`btm rescore --cycle {cycle.id}` to score it under the current rubric"
        )
    shown = rubric_version or cycle.rubric_version or ""
    scores = store.scores_of(engine=run.engine, cycle_id=cycle.id, rubric_version=shown)
    return CycleStatus(
        cycle=cycle,
        shown_version=shown,
        versions=tuple(versions),
        scores=tuple(scores),
        sources=tuple(source_notes(engine=run.engine, now=store.utcnow())),
        phases=tuple(phase_statuses(engine=run.engine, settings=run.settings)),
        last_failure=last_failure(run),
    )


# btm metrics ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CycleMetrics:
    cycle_id: str
    table: pd.DataFrame  # one row per unit and one for the enterprise, one column per metric

    def to_json(self) -> dict[str, Any]:
        import pandas as pd

        from btm.metrics import METRICS

        return {
            "cycle": self.cycle_id,
            "metrics": {
                name: {
                    "kind": METRICS[name].kind,
                    "unit": METRICS[name].unit,
                    "description": METRICS[name].description,
                    "values": {
                        str(u): (None if pd.isna(v) else float(v))
                        for u, v in self.table[name].items()
                    },
                }
                for name in METRICS
            },
        }


def cycle_metrics(run: Setup, cycle_id: str | None) -> CycleMetrics:
    """Every metric per business unit and for the enterprise, from a cycle's evidence."""
    from btm.metrics import ENTERPRISE, compute_metrics, enterprise_metrics

    chosen = scored_cycle(run, cycle_id)
    evidence = assemble_evidence(engine=run.engine, cycle_id=chosen.id, calendar=run.calendar)
    policy = run.rubric.metric_policy
    table = compute_metrics(evidence.frames, as_of=evidence.as_of, policy=policy).values
    table.loc[ENTERPRISE] = enterprise_metrics(evidence.frames, as_of=evidence.as_of, policy=policy)
    return CycleMetrics(chosen.id, table)


# btm calendar ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Quarter:
    cycle: str
    months: str
    start: date
    as_of: date
    assessed_on: date

    def to_json(self) -> dict[str, str]:
        return {
            "cycle": self.cycle,
            "months": self.months,
            "start": self.start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "assessed_on": self.assessed_on.isoformat(),
        }


@dataclass(frozen=True)
class CalendarView:
    first_month: int
    in_progress: str
    quarters: tuple[Quarter, ...]
    cron: str

    def to_json(self) -> dict[str, Any]:
        return {
            "fiscal_year_start_month": self.first_month,
            "in_progress": self.in_progress,
            "quarters": [q.to_json() for q in self.quarters],
            "quarterly_cron": self.cron,
        }


def calendar_view(calendar: FiscalCalendar, today: date) -> CalendarView:
    """The quarter before today's, today's and the two after, with the cron line."""
    now = calendar.containing(today)
    after = calendar.next(now)
    shown = [calendar.previous(now), now, after, calendar.next(after)]
    return CalendarView(
        calendar.first_month,
        now,
        tuple(
            Quarter(
                q,
                calendar.months(q),
                calendar.start(q),
                calendar.as_of(q),
                calendar.start(calendar.next(q)),
            )
            for q in shown
        ),
        calendar.cron(),
    )


# btm initiatives list, btm cycle history ----------------------------------------------------


@dataclass(frozen=True)
class Backlog:
    cycle_id: str
    initiatives: tuple[store.Initiative, ...]
    pulses: dict[str, store.InitiativePulse]

    def to_json(self) -> list[dict[str, Any]]:
        return [
            {
                **i.model_dump(mode="json", exclude={"created_at", "updated_at"}),
                "pulse": self.pulses[i.id].model_dump(mode="json") if i.id in self.pulses else None,
            }
            for i in self.initiatives
        ]


def backlog(run: Setup, cycle_id: str) -> Backlog:
    """A cycle's initiatives, ranked, each with its latest pulse."""
    initiatives = store.backlog_of(engine=run.engine, cycle_id=cycle_id)
    pulses = store.pulses_of(engine=run.engine, initiative_ids=[i.id for i in initiatives])
    return Backlog(cycle_id, tuple(initiatives), pulses)


@dataclass(frozen=True)
class PhaseHistory:
    changes: tuple[store.PhaseChange, ...]
    decisions: tuple[store.InitiativeDecision, ...] = ()

    def to_json(self) -> dict[str, list[dict[str, Any]]]:
        return {
            "phases": [
                {
                    "cycle": c.cycle_id,
                    "phase": c.phase,
                    "entered_at": c.entered_at.isoformat(),
                    "actor": c.actor,
                    "reason": c.reason,
                }
                for c in self.changes
            ],
            "decisions": [
                {
                    "cycle": d.cycle_id,
                    "initiative": d.initiative_id,
                    "decision": d.decision,
                    "decided_at": d.decided_at.isoformat(),
                    "actor": d.actor,
                    "reason": d.reason,
                }
                for d in self.decisions
            ],
        }


def phase_history(run: Setup, cycle_id: str | None) -> PhaseHistory:
    """Every phase change of a cycle, or of every cycle, and every decision taken on an
    initiative in its backlog: who, when and why."""
    chosen = [cycle_id] if cycle_id else list(store.cycle_phases(engine=run.engine))
    changes = store.phase_changes(engine=run.engine, cycle_ids=chosen)
    decisions = store.decisions_of(engine=run.engine, cycle_ids=chosen)
    return PhaseHistory(tuple(changes), tuple(decisions))
