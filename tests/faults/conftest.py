"""What the fault tests share: a BTM_HOME whose cycle was run and delivered once."""

from __future__ import annotations

from pathlib import Path

import pytest

from btm import pipeline
from btm.demo.sample import generate_sample_evidence
from btm.demo.walkthrough import DEMO_SOURCES, install_demo_audiences
from btm.evidence.sources import load_sources
from btm.settings import Settings

CYCLE = "2026-Q3"


@pytest.fixture
def delivered_home(btm_home: Path) -> Path:
    """A BTM_HOME whose cycle was run and delivered once, as after the demo, built
    through the pipeline core (no Prefect) in a few seconds."""
    run = pipeline.setup(Settings(home=btm_home))
    generate_sample_evidence(run.settings.inbox_dir, cycles=(CYCLE,), calendar=run.calendar)
    install_demo_audiences(run)
    pipeline.run_cycle(run, CYCLE, load_sources(DEMO_SOURCES), actor="fault test")
    run.engine.dispose()
    return btm_home
