"""The `quarterly-cycle` flow: one BTM reassessment, from evidence files to the emailed
trend report. It reads as the job's table of contents; the work is in `btm/`."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from btm import cycle, store
from btm.catalog import load_catalog
from btm.evidence.files import ArchivedFile
from btm.reporting import RenderedReport
from btm.scoring import load_rubric
from btm.settings import Settings


def _engine(settings: Settings) -> sa.Engine:
    return store.engine_for(settings.effective_database_url)


@task(retries=2, retry_delay_seconds=5, cache_policy=NO_CACHE)
def gather(inbox: Path, settings: Settings) -> list[ArchivedFile]:
    files = cycle.gather_files(inbox, archive_dir=settings.archive_dir)
    get_run_logger().info("gathered %d evidence files from %s", len(files), inbox)
    return files


@task(task_run_name="validate-{archived.source}", cache_policy=NO_CACHE)
def validate_and_store(
    archived: ArchivedFile, cycle_id: str, settings: Settings
) -> cycle.BatchResult:
    result = cycle.accept_batch(
        archived,
        cycle_id=cycle_id,
        engine=_engine(settings),
        quarantine_dir=settings.quarantine_dir,
    )
    logger = get_run_logger()
    if result.reused:
        logger.info(
            "%s unchanged (sha256 %s): already %s",
            archived.source,
            archived.sha256[:12],
            result.batch.status,
        )
    elif result.batch.status == "quarantined":
        logger.warning(
            "%s quarantined: %s", archived.original.name, "; ".join(result.batch.problems[:3])
        )
    else:
        logger.info("%s accepted: %d rows", archived.source, result.batch.rows)
    return result


@task(cache_policy=NO_CACHE)
def assemble(
    cycle_id: str, fresh: dict[int, pd.DataFrame], settings: Settings
) -> cycle.CycleEvidence:
    evidence = cycle.assemble_evidence(engine=_engine(settings), cycle_id=cycle_id, fresh=fresh)
    for note in evidence.plan.stale:
        get_run_logger().warning(
            "%s: scoring on stale evidence from %s", note.source, note.from_cycle
        )
    return evidence


@task(cache_policy=NO_CACHE)
def score(evidence: cycle.CycleEvidence, settings: Settings) -> int:
    rubric = load_rubric()
    scores = cycle.score_cycle(evidence, rubric=rubric, catalog=load_catalog())
    return cycle.save_scores(scores, engine=_engine(settings), evidence=evidence, rubric=rubric)


@task(cache_policy=NO_CACHE)
def render(cycle_id: str, settings: Settings) -> RenderedReport:
    return cycle.render_cycle_report(
        engine=_engine(settings), cycle_id=cycle_id, catalog=load_catalog(), rubric=load_rubric()
    )


@task(retries=3, retry_delay_seconds=[10, 60, 300], cache_policy=NO_CACHE)
def deliver(rendered: RenderedReport, cycle_id: str, settings: Settings) -> cycle.DeliveryReport:
    outcome = cycle.deliver_cycle_report(
        rendered, engine=_engine(settings), cycle_id=cycle_id, settings=settings
    )
    if outcome.skipped:
        get_run_logger().info("already delivered to %s; not sent again", ", ".join(outcome.skipped))
    return outcome


@flow(name="quarterly-cycle", log_prints=True)
def quarterly_cycle(cycle_id: str | None = None, inbox: str | None = None) -> dict[str, Any]:
    """Reassess BTM maturity for a quarter.

    cycle_id: the quarter to assess, `YYYY-Qn`; by default the last quarter that ended.
    inbox: the folder of the quarter's evidence exports; by default `BTM_HOME/inbox/<cycle_id>`.
    """
    settings = Settings()
    cycle_id = cycle_id or cycle.cycle_for(date.today())
    folder = Path(inbox) if inbox else settings.inbox_dir / cycle_id
    with store.session_scope(_engine(settings)) as session:
        store.open_cycle(session=session, cycle_id=cycle_id, as_of=cycle.cycle_as_of(cycle_id))

    files = gather(folder, settings)
    batches = [validate_and_store(f, cycle_id, settings) for f in files]
    fresh = {b.batch.id: b.frame for b in batches if b.frame is not None and b.batch.id is not None}
    evidence = assemble(cycle_id, fresh, settings)
    scored = score(evidence, settings)
    rendered = render(cycle_id, settings)
    delivered = deliver(rendered, cycle_id, settings)
    return {
        "cycle": cycle_id,
        "scores": scored,
        "quarantined": [n.file_name for n in evidence.plan.quarantined],
        "report": str(delivered.report_path),
        "delivery": delivered.location,
    }
