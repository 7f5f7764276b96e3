"""The pipeline's arrows in the order flows/quarterly_cycle.py runs them, without Prefect,
so tests can drive a whole cycle in a second."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from btm import cycle, improvement, store
from btm.catalog import load_catalog
from btm.errors import BtmError
from btm.evidence import gather
from btm.evidence.sources import Source, default_sources
from btm.scoring import Rubric, load_rubric
from btm.settings import Settings

CATALOG = load_catalog()
RUBRIC = load_rubric()


def run_cycle(
    cycle_id: str,
    inbox: Path | None,
    engine: sa.Engine,
    settings: Settings,
    *,
    sources: list[Source] | None = None,
    force: bool = False,
    rubric: Rubric = RUBRIC,
) -> cycle.DeliveryReport:
    if sources is None:
        assert inbox is not None
        sources = default_sources(inbox)
    with store.session_scope(engine) as session:
        store.open_cycle(session=session, cycle_id=cycle_id, as_of=cycle.cycle_as_of(cycle_id))
    templating = cycle.templating(cycle_id, settings)
    fetched = []
    for source in sources:
        try:
            fetched.append(
                gather.fetch_source(source, templating=templating, archive_dir=settings.archive_dir)
            )
        except BtmError as exc:
            gather.record_failure(engine=engine, cycle_id=cycle_id, source=source, error=str(exc))
    results = [
        result
        for outcome in gather.in_validation_order(fetched)
        for result in gather.accept_fetch(
            outcome,
            cycle_id=cycle_id,
            as_of=cycle.cycle_as_of(cycle_id),
            engine=engine,
            quarantine_dir=settings.quarantine_dir,
            force=force,
        )
    ]
    fresh = {r.batch.id: r.frame for r in results if r.frame is not None and r.batch.id}
    plan = gather.evidence_plan(engine=engine, cycle_id=cycle_id)
    if force or not cycle.scores_are_current(
        engine=engine, cycle_id=cycle_id, plan=plan, rubric=rubric
    ):
        evidence = cycle.assemble_evidence(engine=engine, cycle_id=cycle_id, plan=plan, fresh=fresh)
        scores = cycle.score_cycle(evidence, rubric=rubric, catalog=CATALOG)
        targets = cycle.scoring_targets(
            engine=engine, cycle_id=cycle_id, rubric=rubric, settings=settings
        )
        cycle.save_scores(scores, engine=engine, evidence=evidence, rubric=rubric, targets=targets)
    improvement.after_assessment(
        engine=engine, cycle_id=cycle_id, catalog=CATALOG, settings=settings, actor="tests"
    )
    reports = cycle.render_audience_reports(
        engine=engine, cycle_id=cycle_id, catalog=CATALOG, rubric=rubric, settings=settings
    )
    return cycle.deliver_cycle_reports(reports, engine=engine, cycle_id=cycle_id, settings=settings)
