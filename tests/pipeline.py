"""A whole cycle through `btm.pipeline.run_cycle`, in the order flows/quarterly_cycle.py
runs its tasks, without Prefect, so tests can drive a cycle in a second."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from btm.catalog import Catalog, load_catalog
from btm.delivery import DeliveryReport
from btm.evidence.sources import Source, default_sources
from btm.fiscal import FiscalCalendar
from btm.pipeline import Rescore, Setup, rescore
from btm.pipeline import run_cycle as run_pipeline
from btm.scoring.rubric import Rubric, load_rubric
from btm.settings import Settings

CATALOG = load_catalog()
RUBRIC = load_rubric()
JANUARY = FiscalCalendar()  # the tests' calendar unless one sets BTM_FISCAL_YEAR_START_MONTH
cycle_as_of = JANUARY.as_of


def run_cycle(
    cycle_id: str,
    inbox: Path | None,
    engine: sa.Engine,
    settings: Settings,
    *,
    sources: list[Source] | None = None,
    force: bool = False,
    rubric: Rubric = RUBRIC,
) -> DeliveryReport:
    if sources is None:
        assert inbox is not None
        sources = default_sources(inbox)
    run = Setup(settings, engine=engine, rubric=rubric)
    return run_pipeline(run, cycle_id, sources, actor="tests", force=force).delivered


def rescore_cycle(
    *,
    engine: sa.Engine,
    cycle_id: str,
    rubric: Rubric,
    catalog: Catalog,
    settings: Settings,
    force: bool = False,
) -> Rescore:
    assert catalog == settings.catalog  # the setup takes the catalogue from the settings
    return rescore(Setup(settings, engine=engine, rubric=rubric), cycle_id, force=force)
