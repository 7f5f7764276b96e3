"""Prefect artifacts: what the ops team sees of a run without opening a report."""

from __future__ import annotations

import re

from prefect.artifacts import create_markdown_artifact, create_table_artifact

from btm.evidence.gather import BatchResult


def artifact_key(*parts: str) -> str:
    """Prefect keys allow lower-case letters, digits and dashes only."""
    return re.sub(r"[^a-z0-9-]+", "-", "-".join(parts).lower()).strip("-")


def validation_markdown(result: BatchResult, *, cycle_id: str) -> str:
    batch = result.batch
    verdict = "accepted" if batch.status == "accepted" else "**quarantined**"
    validation = batch.validation or {}
    lines = [
        f"### {batch.source}/{batch.part}: {verdict}",
        "",
        f"Cycle {cycle_id}; {batch.rows} rows; sha256 `{batch.sha256[:12]}`; "
        f"{validation.get('errors', 0)} error(s), {validation.get('warnings', 0)} warning(s).",
    ]
    if batch.problems:
        lines += ["", *(f"- {p}" for p in batch.problems)]
    if batch.status != "accepted":
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
