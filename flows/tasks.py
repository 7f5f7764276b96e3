"""Tasks more than one flow runs: the run's setup, and gathering every source's evidence
(fetched concurrently, each with its own retries and timeout, then validated and stored)."""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
from prefect import get_run_logger, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE
from prefect.futures import PrefectFuture
from prefect.runtime import flow_run

from btm import pipeline
from btm.delivery import DeliveryReport
from btm.evidence.gather import BatchResult, FetchOutcome
from btm.evidence.sources import Source
from btm.settings import load_settings
from btm.vocabulary import BatchStatus
from flows import artifacts
from flows.credentials import load_secret_block, load_smtp_block


def flow_setup() -> pipeline.Setup:
    """A flow run's door: its settings read once, with Prefect's blocks as secret readers."""
    return pipeline.Setup(
        load_settings(), read_secret_block=load_secret_block, read_smtp_block=load_smtp_block
    )


def run_actor() -> str:
    """Who moves a cycle when a flow does: the flow run, by name."""
    return f"flow run {flow_run.name} ({flow_run.flow_name})"


@task(cache_policy=NO_CACHE)
async def fetch(
    run: pipeline.Setup, source: Source, cycle_id: str, full: bool = False
) -> FetchOutcome:
    # Async so that the source's timeout really stops the wait: the blocking connector
    # runs in a thread that a timed-out task abandons (Prefect cannot interrupt a
    # blocking call in a worker thread). The threads of one run share each host's bound
    # on requests in flight (btm.evidence.http).
    fetched = await anyio.to_thread.run_sync(
        partial(pipeline.fetch, run, source, cycle_id, full=full), abandon_on_cancel=True
    )
    increment = fetched.increment
    since = f" since {increment.since:%Y-%m-%d %H:%M} UTC" if increment.since else ""
    get_run_logger().info(
        "%s: %d payload(s) in %.0f ms (%s fetch%s)",
        source.name,
        len(fetched.payloads),
        fetched.latency_ms,
        increment.mode,
        since,
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
    run: pipeline.Setup, fetched: FetchOutcome, cycle_id: str, force: bool
) -> list[BatchResult]:
    results = pipeline.accept(run, fetched, cycle_id, force=force)
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
        elif batch.status == BatchStatus.QUARANTINED:
            logger.warning("%s quarantined: %s", where, "; ".join(batch.problems[:3]))
        else:
            logger.info("%s accepted: %d rows", where, batch.rows)
    return results


def gather_evidence(
    run: pipeline.Setup, cycle_id: str, sources: list[Source], *, force: bool = False
) -> list[BatchResult]:
    """Fetch every source concurrently, each as its own task (every API source in full
    when `force`), then validate and store what came back; a source that failed is
    recorded and its evidence goes stale."""
    pipeline.open_cycle(run, cycle_id, actor=run_actor())
    futures = [(s, _fetch_with_options(s).submit(run, s, cycle_id, force)) for s in sources]
    fetched = _gathered(run, futures, cycle_id)
    results = [
        r
        for f in pipeline.validation_order(run, fetched)
        for r in validate_and_store(run, f, cycle_id, force)
    ]
    artifacts.publish_rule_failures(results, cycle_id=cycle_id)
    return results


def _gathered(
    run: pipeline.Setup,
    futures: list[tuple[Source, PrefectFuture[FetchOutcome]]],
    cycle_id: str,
) -> list[FetchOutcome]:
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
        pipeline.record_fetch_failure(run, source, cycle_id, message)
    return fetched


def report_delivery(outcome: DeliveryReport) -> None:
    """The delivery in the run's log and as an artifact: who was sent the report, who had
    it already, who may have two copies (a resend after an attempt with no recorded
    outcome, with the same Message-ID) and who could not be served."""
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
    if outcome.possibly_twice:
        logger.warning(
            "may have two copies (sent again after an attempt with no recorded outcome, "
            "with the same Message-ID): %s",
            ", ".join(outcome.possibly_twice),
        )
    if outcome.dry_run:
        logger.info("dry run: reports rendered into %s, nothing sent", outcome.index_path.parent)
    lines = [
        f"## Delivery of cycle {outcome.cycle_id}",
        "",
        "| audience | sent | already delivered | may have two copies | failed |",
        "|---|---|---|---|---|",
        *(
            f"| {d.audience} | {', '.join(d.sent) or '–'} | {', '.join(d.skipped) or '–'} | "
            f"{', '.join(d.resent) or '–'} | {'; '.join(d.failed) or '–'} |"
            for d in outcome.audiences
        ),
    ]
    create_markdown_artifact(
        "\n".join(lines),
        key=artifacts.artifact_key("delivery", outcome.cycle_id),
        description=f"BTM cycle {outcome.cycle_id}: {len(outcome.possibly_twice)} recipient(s) "
        "may have two copies",
    )
