"""The `evidence-refresh` flow: gather and validate every source into the quarter in
progress, without scoring, so that bad exports are caught and fixed weeks before the
quarterly assessment, and the monthly pulse reads current project evidence."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from btm.evidence.gather import configured_sources
from btm.vocabulary import BatchStatus
from flows.artifacts import artifact_key
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops
from flows.tasks import flow_setup, gather_evidence


@flow(name="evidence-refresh", log_prints=True, on_failure=[notify_ops], on_crashed=[notify_ops])
def evidence_refresh(
    cycle_id: str | None = None, sources_file: str | None = None
) -> dict[str, Any]:
    """Gather and validate every source, without scoring.

    cycle_id: the fiscal quarter to gather into, `YYYY-Qn`; by default the quarter in
        progress today.
    sources_file: the sources file; by default `BTM_HOME/sources.yaml` when it exists,
        else the drop folder `BTM_HOME/inbox/<cycle_id>`.
    """
    run = flow_setup()
    cycle_id = cycle_id or run.calendar.containing(date.today())
    sources = configured_sources(
        sources_file=Path(sources_file) if sources_file else None,
        home=run.home,
        inbox=run.settings.inbox_dir / cycle_id,
    )
    with one_run_per_organisation(run.settings):
        results = gather_evidence(run, cycle_id, sources)
    accepted = [r.batch for r in results if r.batch.status == BatchStatus.ACCEPTED]
    quarantined = [r.batch for r in results if r.batch.status == BatchStatus.QUARANTINED]
    new = [r.batch for r in results if not r.reused]
    lines = [
        f"## Evidence refresh {cycle_id}",
        "",
        f"{len(results)} batches from {len(sources)} sources: {len(new)} new, "
        f"{len(accepted)} accepted, {len(quarantined)} quarantined. Nothing was scored: the "
        "quarterly-cycle run scores the quarter once it ends.",
        "",
        *(f"- quarantined: {b.source}/{b.part}: {'; '.join(b.problems[:2])}" for b in quarantined),
    ]
    create_markdown_artifact(
        "\n".join(lines),
        key=artifact_key("refresh", cycle_id),
        description=f"Evidence refresh of {cycle_id}",
    )
    if quarantined:
        get_run_logger().warning(
            "%d batch(es) quarantined: fix them before the quarter ends", len(quarantined)
        )
    return {
        "cycle": cycle_id,
        "batches": len(results),
        "new": len(new),
        "quarantined": [f"{b.source}/{b.part}" for b in quarantined],
    }
