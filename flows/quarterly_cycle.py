"""The `quarterly-cycle` flow: one BTM reassessment, from the evidence sources to the
emailed trend report. It reads as the job's table of contents; the work is in `btm/`."""

from __future__ import annotations

from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import anyio
import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from btm import cycle, improvement, store
from btm.catalog import load_catalog
from btm.errors import DeliveryError
from btm.evidence import gather
from btm.evidence.sources import Source, Templating
from btm.scoring import load_rubric
from btm.settings import Settings
from flows import artifacts
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops


def _engine(settings: Settings) -> sa.Engine:
    return store.engine_for(settings.effective_database_url)


@task(cache_policy=NO_CACHE)
async def fetch(source: Source, templating: Templating, settings: Settings) -> gather.FetchOutcome:
    # Async so that the source's timeout really stops the wait: the blocking connector
    # runs in a thread that a timed-out task abandons (Prefect cannot interrupt a
    # blocking call in a worker thread).
    fetched = await anyio.to_thread.run_sync(
        partial(
            gather.fetch_source, source, templating=templating, archive_dir=settings.archive_dir
        ),
        abandon_on_cancel=True,
    )
    get_run_logger().info(
        "%s: %d payload(s) in %.0f ms", source.name, len(fetched.payloads), fetched.latency_ms
    )
    return fetched


def _fetch_with_options(source: Source) -> Any:
    """The fetch task with the source's own retries, backoff and timeout."""
    return fetch.with_options(
        task_run_name=f"fetch-{source.name}",
        retries=source.retries,
        retry_delay_seconds=source.retry_delay_seconds,
        timeout_seconds=source.timeout_seconds,
    )


@task(task_run_name="validate-{fetched.source.name}", cache_policy=NO_CACHE)
def validate_and_store(
    fetched: gather.FetchOutcome, cycle_id: str, settings: Settings, force: bool
) -> list[gather.BatchResult]:
    results = gather.accept_fetch(
        fetched,
        cycle_id=cycle_id,
        as_of=cycle.cycle_as_of(cycle_id),
        engine=_engine(settings),
        quarantine_dir=settings.quarantine_dir,
        force=force,
    )
    for result in results:
        if not result.reused:
            artifacts.publish_validation(result, cycle_id=cycle_id)
    logger = get_run_logger()
    if not results:
        logger.info("%s: nothing to gather (no payload)", fetched.source.name)
    for result in results:
        batch = result.batch
        where = f"{batch.source}/{batch.part}"
        if result.reused:
            logger.info("%s unchanged (sha256 %s): %s", where, batch.sha256[:12], batch.status)
        elif batch.status == "quarantined":
            logger.warning("%s quarantined: %s", where, "; ".join(batch.problems[:3]))
        else:
            logger.info("%s accepted: %d rows", where, batch.rows)
    return results


@task(cache_policy=NO_CACHE)
def plan_evidence(cycle_id: str, settings: Settings) -> gather.EvidencePlan:
    plan = gather.evidence_plan(engine=_engine(settings), cycle_id=cycle_id)
    for note in plan.stale:
        get_run_logger().warning(
            "%s: scoring on stale evidence from %s (%s)", note.source, note.from_cycle, note.reason
        )
    return plan


@task(cache_policy=NO_CACHE)
def assemble(
    cycle_id: str, plan: gather.EvidencePlan, fresh: dict[int, pd.DataFrame], settings: Settings
) -> cycle.CycleEvidence:
    return cycle.assemble_evidence(
        engine=_engine(settings), cycle_id=cycle_id, plan=plan, fresh=fresh
    )


@task(cache_policy=NO_CACHE)
def score(evidence: cycle.CycleEvidence, settings: Settings) -> int:
    rubric, engine = load_rubric(), _engine(settings)
    scores = cycle.score_cycle(evidence, rubric=rubric, catalog=load_catalog())
    targets = cycle.scoring_targets(
        engine=engine, cycle_id=evidence.cycle_id, rubric=rubric, settings=settings
    )
    return cycle.save_scores(
        scores, engine=engine, evidence=evidence, rubric=rubric, targets=targets
    )


@task(cache_policy=NO_CACHE)
def move_phases(cycle_id: str, settings: Settings) -> improvement.Progress:
    """The scored cycle goes to design with its proposed backlog; a cycle that was
    executing is improved and closed. The PMO's approval gate is never passed here."""
    progress = improvement.after_assessment(
        engine=_engine(settings),
        cycle_id=cycle_id,
        catalog=load_catalog(),
        settings=settings,
        actor=run_actor(),
    )
    logger = get_run_logger()
    for line in progress.moved_lines():
        logger.info("%s", line)
    for line in progress.waiting_lines(settings):
        logger.warning("%s", line)
    return progress


@task(cache_policy=NO_CACHE)
def render(cycle_id: str, settings: Settings) -> list[cycle.AudienceReport]:
    reports = cycle.render_audience_reports(
        engine=_engine(settings),
        cycle_id=cycle_id,
        catalog=load_catalog(),
        rubric=load_rubric(),
        settings=settings,
    )
    context = reports[0].view.report
    artifacts.publish_run_summary(context)
    if context.improvement is not None:
        artifacts.publish_initiatives(context.improvement, cycle_id=cycle_id)
    return reports


@task(cache_policy=NO_CACHE)
def deliver(
    reports: list[cycle.AudienceReport], cycle_id: str, settings: Settings, dry_run: bool
) -> cycle.DeliveryReport:
    """Each audience's email to each recipient not yet in the ledger. Each send retries
    transient SMTP failures with backoff; a recipient still failing fails the task after
    every other recipient was served, and the flow's hook tells ops. A re-run sends only
    to those the ledger does not have."""
    outcome = cycle.deliver_cycle_reports(
        reports, engine=_engine(settings), cycle_id=cycle_id, settings=settings, dry_run=dry_run
    )
    logger = get_run_logger()
    for audience in outcome.audiences:
        if audience.sent:
            logger.info("%s: sent to %s", audience.audience, ", ".join(audience.sent))
        if audience.skipped:
            logger.info(
                "%s: already delivered to %s; not sent again",
                audience.audience,
                ", ".join(audience.skipped),
            )
    if dry_run:
        logger.info("dry run: reports rendered into %s, nothing sent", outcome.index_path.parent)
    if outcome.failed:
        raise DeliveryError("could not deliver: " + "; ".join(outcome.failed))
    return outcome


def run_actor() -> str:
    """Who moves a cycle when a flow does: the flow run, by name."""
    return f"flow run {flow_run.name} ({flow_run.flow_name})"


def gather_evidence(
    cycle_id: str, sources: list[Source], settings: Settings, *, force: bool = False
) -> list[gather.BatchResult]:
    """Fetch every source concurrently, each as its own task, then validate and store
    what came back; a source that failed is recorded and its evidence goes stale."""
    with store.session_scope(_engine(settings)) as session:
        store.open_cycle(
            session=session,
            cycle_id=cycle_id,
            as_of=cycle.cycle_as_of(cycle_id),
            actor=run_actor(),
        )
    templating = cycle.templating(cycle_id, settings)
    futures = [(s, _fetch_with_options(s).submit(s, templating, settings)) for s in sources]
    fetched = _gathered(futures, cycle_id, settings)
    results = [
        r
        for f in gather.in_validation_order(fetched)
        for r in validate_and_store(f, cycle_id, settings, force)
    ]
    artifacts.publish_rule_failures(results, cycle_id=cycle_id)
    return results


def _gathered(
    futures: list[tuple[Source, PrefectFuture[gather.FetchOutcome]]],
    cycle_id: str,
    settings: Settings,
) -> list[gather.FetchOutcome]:
    """The fetches that succeeded; a source that failed every retry is recorded and
    logged, and the cycle goes on with its last accepted evidence."""
    fetched = []
    for source, future in futures:
        future.wait()
        state = future.state
        if state.is_completed():
            fetched.append(future.result())
            continue
        error = state.result(raise_on_failure=False)
        message = str(error) if isinstance(error, BaseException) else state.message or "failed"
        get_run_logger().error(
            "source %s could not be fetched (%s); its last accepted evidence is used, marked stale",
            source.name,
            message,
        )
        gather.record_failure(
            engine=_engine(settings), cycle_id=cycle_id, source=source, error=message
        )
    return fetched


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
    settings = Settings()
    cycle_id = cycle_id or cycle.cycle_for(date.today())
    sources = gather.configured_sources(
        sources_file=Path(sources_file) if sources_file else None,
        home=settings.resolved_home,
        inbox=Path(inbox) if inbox else settings.inbox_dir / cycle_id,
    )
    with one_run_per_organisation(settings):
        return _reassess(cycle_id, sources, settings, force=force, dry_run=dry_run)


def _reassess(
    cycle_id: str, sources: list[Source], settings: Settings, *, force: bool, dry_run: bool
) -> dict[str, Any]:
    engine = _engine(settings)
    batches = gather_evidence(cycle_id, sources, settings, force=force)
    fresh = {b.batch.id: b.frame for b in batches if b.frame is not None and b.batch.id is not None}
    plan = plan_evidence(cycle_id, settings)
    if not force and cycle.scores_are_current(
        engine=engine, cycle_id=cycle_id, plan=plan, rubric=load_rubric()
    ):
        get_run_logger().info("evidence unchanged since the last scoring: scores kept")
        scored = None
    else:
        scored = score(assemble(cycle_id, plan, fresh, settings), settings)
    progress = move_phases(cycle_id, settings)
    reports = render(cycle_id, settings)
    delivered = deliver(reports, cycle_id, settings, dry_run)
    return {
        "cycle": cycle_id,
        "scores": scored,
        "rescored": scored is not None,
        "quarantined": [n.source for n in plan.quarantined],
        "stale": [n.source for n in plan.stale],
        "report": str(delivered.report_path),
        "reports": str(delivered.index_path),
        "delivery": delivered.location,
        "sent": {d.audience: list(d.sent) for d in delivered.audiences},
        "phases": progress.lines(settings),
    }
