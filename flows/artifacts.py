"""Prefect artifacts: what the ops team sees of a run without opening a report."""

from __future__ import annotations

import re
from collections.abc import Sequence

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from btm.evidence.gather import BatchResult
from btm.improvement.pulse import Pulse
from btm.improvement.section import Improvement
from btm.reporting.context import ReportContext
from btm.vocabulary import BatchStatus, PulseState


def artifact_key(*parts: str) -> str:
    """Prefect keys allow lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def validation_markdown(result: BatchResult, *, cycle_id: str) -> str:
    batch = result.batch
    verdict = "accepted" if batch.status == BatchStatus.ACCEPTED else "**quarantined**"
    validation = batch.validation or {}
    lines = [
        f"### {batch.source}/{batch.part}: {verdict}",
        "",
        f"Cycle {cycle_id}; {batch.rows} rows; sha256 `{batch.sha256[:12]}`; "
        f"{validation.get('errors', 0)} error(s), {validation.get('warnings', 0)} warning(s).",
    ]
    if batch.problems:
        lines += ["", *(f"- {p}" for p in batch.problems)]
    if batch.status != BatchStatus.ACCEPTED:
        lines += ["", "The source's last accepted evidence stays in force, marked stale."]
    return "\n".join(lines)


def validation_table(result: BatchResult) -> list[dict[str, object]]:
    """One row per failed rule, or one line saying the batch passed every rule."""
    validation = result.batch.validation or {}
    if "unreadable" in validation:
        return [{"rule": "read", "severity": "critical", "problem": validation["unreadable"]}]
    rows: list[dict[str, object]] = [
        {
            "rule": f["rule"],
            "column": f["column"] or "",
            "severity": f["severity"],
            "rows failing": f["count"],
            "sample rows": ", ".join(str(r) for r in f["rows"]),
            "sample ids": ", ".join(f["ids"]),
            "fix": f["fix"],
        }
        for f in validation.get("failures", [])
    ]
    return rows or [{"rule": "all rules", "severity": "", "rows failing": 0, "fix": "none needed"}]


def publish_validation(result: BatchResult, *, cycle_id: str) -> None:
    """A table of the batch's failed rules and a markdown summary, per validated batch."""
    batch = result.batch
    key = artifact_key("validation", batch.source, batch.part)
    summary = validation_markdown(result, cycle_id=cycle_id)
    create_table_artifact(validation_table(result), key=key, description=summary)
    create_markdown_artifact(summary, key=f"{key}-summary", description=f"{cycle_id} validation")


def rule_failures(results: Sequence[BatchResult]) -> list[dict[str, object]]:
    """Every failed rule of the batches validated in this run, one row each."""
    rows: list[dict[str, object]] = [
        {"batch": f"{r.batch.source}/{r.batch.part}", "status": r.batch.status, **row}
        for r in results
        if not r.reused and r.batch.validation
        for row in validation_table(r)
        if row.get("rows failing") != 0
    ]
    return rows or [{"batch": "all", "status": "accepted", "rule": "every rule passed"}]


def publish_rule_failures(results: Sequence[BatchResult], *, cycle_id: str) -> None:
    """The run's failed rules in one table, beside each batch's own."""
    checked = [r for r in results if not r.reused]
    quarantined = sum(r.batch.status == BatchStatus.QUARANTINED for r in checked)
    create_table_artifact(
        rule_failures(results),
        key=artifact_key("rule-failures", cycle_id),
        description=(
            f"{cycle_id}: {len(checked)} batches validated in this run, {quarantined} "
            f"quarantined; {len(results) - len(checked)} unchanged, not validated again"
        ),
    )


def run_summary_markdown(report: ReportContext) -> str:
    """The run's outcome at a glance: levels and their changes, movers, and the evidence
    that was quarantined, stale or unreachable."""
    enterprise = report.enterprise
    lines = [
        f"## BTM cycle {report.cycle_id}: enterprise level {enterprise.level_text}"
        f"{enterprise.marks} ({enterprise.change.text} since {report.previous_cycle_text})",
        "",
        f"Rubric {report.rubric_version}. {report.rollup_rule}",
        "",
        "| roll-up | level | change | spread | known |",
        "|---|---|---|---|---|",
        *(
            f"| {r.label} | {r.level_text}{r.marks} | {r.change.text} | "
            f"{r.spread_text or '–'} | {r.evidence_text} |"
            for r in (enterprise, *report.areas, *report.units)
        ),
        "",
        *(f"{entry.mark} {entry.meaning}" for entry in report.marks_legend),
    ]
    movers = [*report.rises, *report.falls]
    if movers:
        lines += ["", "**Movers** (on system evidence)", ""]
        lines += [
            f"- {m.unit}, {m.capability_id} {m.capability_name}: {m.before_text} → "
            f"{m.after_text} ({m.change.text})"
            for m in movers
        ]
    if report.movers_excluded:
        lines += ["", report.movers_excluded_text]
    evidence = [
        *(f"- quarantined: {q.source} ({len(q.problems)} problems)" for q in report.quarantined),
        *(f"- stale: {s.source}, from {s.from_cycle}: {s.reason}" for s in report.stale),
        *(f"- unreachable: {n.source}: {n.error}" for n in report.sources if not n.reachable),
    ]
    lines += ["", "**Evidence**", "", *(evidence or ["- every source fresh and accepted"])]
    if report.improvement is not None:
        section = report.improvement
        lines += ["", f"**Phase**: {section.phase_text}"]
        if section.regressions:
            lines += ["", f"**Regressions** ({section.regression_count} unit levels fell)", ""]
            lines += [f"- {r}" for r in section.regressions]
    return "\n".join(lines)


def publish_run_summary(report: ReportContext) -> None:
    create_markdown_artifact(
        run_summary_markdown(report),
        key=artifact_key("cycle", report.cycle_id, "summary"),
        description=f"BTM cycle {report.cycle_id}: levels, changes and evidence",
    )


def initiative_rows(section: Improvement) -> list[dict[str, object]]:
    """The executed initiatives with their pulse and outcome, then the cycle's backlog."""
    rows: list[dict[str, object]] = [
        {
            "cycle": cycle,
            "rank": i.rank,
            "initiative": f"{i.capability_id} {i.capability_name}, {i.dimension}",
            "target": i.target_text,
            "owner": i.owner,
            "status": i.status,
            "pulse": i.state or "no pulse",
            "progress": i.progress_text,
            "outcome": i.outcome_text,
            "projects": i.projects_text,
        }
        for cycle, lines in (
            (section.executed_cycle_id or "", section.executed),
            ("this cycle", section.backlog),
        )
        for i in lines
    ]
    return rows or [{"initiative": "none: no capability is below its target"}]


def publish_initiatives(section: Improvement, *, cycle_id: str) -> None:
    create_table_artifact(
        initiative_rows(section),
        key=artifact_key("initiatives", cycle_id),
        description=f"BTM cycle {cycle_id}: {section.phase_text}",
    )


def pulse_rows(pulse: Pulse) -> list[dict[str, object]]:
    return [
        {
            "initiative": initiative.id,
            "owner": initiative.owner,
            "state": reading.state,
            "progress": "–" if reading.progress is None else f"{reading.progress:.0f} %",
            "findings": "; ".join(reading.findings),
        }
        for initiative, reading in pulse.readings
    ] or [{"initiative": "none: no initiative is in flight"}]


def publish_pulse(pulse: Pulse) -> None:
    off = pulse.count(PulseState.OFF_TRACK)
    create_table_artifact(
        pulse_rows(pulse),
        key=artifact_key("pulse", pulse.as_of.isoformat()),
        description=(
            f"Initiative pulse {pulse.as_of}: {len(pulse.readings)} initiatives, {off} off "
            f"track; cells and projects read on the evidence of "
            f"{pulse.evidence_cycle or 'no cycle'}"
        ),
    )
