"""The demo's 1,360 scores and their traces are what main scored before the layout
change (issue 12): `tests/data/demo-scores.json` holds them, and the sample enterprise is
run here through the pipeline core, the demo's PMO review between its cycles. The flow
test of `btm demo` compares its own run with the same file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import select

from btm import pipeline, store
from btm.demo.sample import DEMO_CYCLES, generate_sample_evidence
from btm.demo.walkthrough import DEMO_SOURCES, pmo_review
from btm.evidence.sources import load_sources
from btm.settings import Settings

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "demo-scores.json"


def demo_scores(engine: sa.Engine) -> list[list[Any]]:
    """Every stored score as the golden file writes it, in its order."""
    with store.session_scope(engine) as session:
        cycles = sorted(c.id for c in session.exec(select(store.Cycle)))
        scores = [
            s
            for c in cycles
            for version in store.rubric_versions(session=session, cycle_id=c)
            for s in store.get_scores(session=session, cycle_id=c, rubric_version=version)
        ]
    rows = []
    for s in scores:
        basis = json.dumps([s.trace, s.evidence_hashes], sort_keys=True)
        digest = hashlib.sha256(basis.encode()).hexdigest()[:16]
        rows.append(
            [
                s.cycle_id,
                s.rubric_version,
                s.unit,
                s.capability,
                s.dimension,
                s.level,
                s.target_level,
                s.gap,
                digest,
            ]
        )
    return sorted(rows, key=lambda r: tuple(str(v) for v in r[:5]))


def golden_scores() -> list[list[Any]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["scores"]


def assert_same_scores(found: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(found) == len(expected) == 1360
    differ = [(e, f) for e, f in zip(expected, found, strict=True) if e != f]
    assert differ == [], f"{len(differ)} scores differ from main's, first: {differ[:3]}"


def test_the_demo_scores_exactly_as_main_did(btm_home: Path) -> None:
    run = pipeline.setup(Settings())
    generate_sample_evidence(run.settings.inbox_dir, cycles=DEMO_CYCLES, calendar=run.calendar)
    sources = load_sources(DEMO_SOURCES)
    for n, cycle_id in enumerate(DEMO_CYCLES):
        pipeline.run_cycle(run, cycle_id, sources, actor="demo test")
        if n < len(DEMO_CYCLES) - 1:
            pmo_review(run, cycle_id)

    assert_same_scores(demo_scores(run.engine), golden_scores())
