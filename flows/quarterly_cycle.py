"""The `quarterly-cycle` flow: one BTM reassessment, from the evidence sources to the
emailed trend report. It reads as the job's table of contents; each task wraps one arrow
of `btm.pipeline`, where the work is."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from btm import pipeline
from btm.delivery import DeliveryReport
from btm.errors import DeliveryError
from btm.evidence.gather import EvidencePlan, configured_sources
from btm.evidence.sources import Source
from btm.improvement.progress import Progress
from btm.reporting.compose import AudienceReport
from flows import artifacts
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops
from flows.tasks import flow_setup, gather_evidence, report_delivery, run_actor


@task(cache_policy=NO_CACHE)
def plan_evidence(run: pipeline.Setup, cycle_id: str) -> EvidencePlan:
    plan = pipeline.plan(run, cycle_id)
    for note in plan.stale:
        get_run_logger().warning(
            "%s: scoring on stale evidence from %s (%s)", note.source, note.from_cycle, note.reason
        )
    return plan


@task(cache_policy=NO_CACHE)
def score(
    run: pipeline.Setup, cycle_id: str, plan: EvidencePlan, fresh: dict[int, pd.DataFrame]
) -> int:
    return pipeline.score(run, cycle_id, planned=plan, fresh=fresh)


@task(cache_policy=NO_CACHE)
def move_phases(run: pipeline.Setup, cycle_id: str) -> Progress:
    """The scored cycle goes to design with its proposed backlog; a cycle that was
    executing is improved and closed. The PMO's approval gate is never passed here."""
    progress = pipeline.move_phases(run, cycle_id, actor=run_actor())
    logger = get_run_logger()
    for line in progress.moved_lines():
        logger.info("%s", line)
    for line in progress.waiting_lines(run.settings):
        logger.warning("%s", line)
    return progress


@task(cache_policy=NO_CACHE)
def render(run: pipeline.Setup, cycle_id: str) -> list[AudienceReport]:
    reports = pipeline.render(run, cycle_id)
    context = reports[0].view.report
    artifacts.publish_run_summary(context)
    if context.improvement is not None:
        artifacts.publish_initiatives(context.improvement, cycle_id=cycle_id)
    return reports


@task(cache_policy=NO_CACHE)
def deliver(
    run: pipeline.Setup, reports: list[AudienceReport], cycle_id: str, dry_run: bool
) -> DeliveryReport:
    """Each audience's email to each recipient not yet in the ledger. Each send retries
    transient SMTP failures with backoff; a recipient still failing fails the task after
    every other recipient was served, and the flow's hook tells ops. A re-run sends only
    to those the ledger does not have."""
    outcome = pipeline.deliver(run, reports, cycle_id, dry_run=dry_run)
    report_delivery(outcome)
    if outcome.failed:
        raise DeliveryError("could not deliver: " + "; ".join(outcome.failed))
    return outcome


@flow(name="quarterly-cycle", log_prints=True, on_failure=[notify_ops], on_crashed=[notify_ops])
def quarterly_cycle(
    cycle_id: str | None = None,
    inbox: str | None = None,
    sources_file: str | None = None,
    force: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Reassess BTM maturity for a quarter.

    cycle_id: the quarter to assess, `YYYY-Qn`; by default the last quarter that ended.
    inbox: the drop folder used when there is no sources file; by default
        `BTM_HOME/inbox/<cycle_id>`.
    sources_file: the sources file; by default `BTM_HOME/sources.yaml` when it exists.
    force: validate unchanged batches again and rescore even when nothing changed.
    dry_run: render every audience's report into BTM_HOME/reports but send nothing.
    """
    run = flow_setup()
    cycle_id = cycle_id or run.calendar.ended_before(date.today())
    sources = configured_sources(
        sources_file=Path(sources_file) if sources_file else None,
        home=run.home,
        inbox=Path(inbox) if inbox else run.settings.inbox_dir / cycle_id,
    )
    with one_run_per_organisation(run.settings):
        return _reassess(run, cycle_id, sources, force=force, dry_run=dry_run)


def _reassess(
    run: pipeline.Setup, cycle_id: str, sources: list[Source], *, force: bool, dry_run: bool
) -> dict[str, Any]:
    results = gather_evidence(run, cycle_id, sources, force=force)
    plan = plan_evidence(run, cycle_id)
    scored = None
    if pipeline.needs_scoring(run, cycle_id, plan, force=force):
        scored = score(run, cycle_id, plan, pipeline.fresh_frames(results))
    else:
        get_run_logger().info("evidence unchanged since the last scoring: scores kept")
    progress = move_phases(run, cycle_id)
    delivered = deliver(run, render(run, cycle_id), cycle_id, dry_run)
    return pipeline.CycleRun(cycle_id, scored, plan, delivered, progress).to_json(run.settings)
