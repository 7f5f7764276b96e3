"""The demo's 1,360 scores, their basis, confidence and traces are what rubric 2027.1
scored when it was introduced (issue 13), with the last cycle's self-assessment campaign
answered (issue 16): `tests/data/demo-scores.json` holds them, and the sample enterprise is
run here through the pipeline core, the demo's campaign before its cycle and the PMO's
review between cycles. The flow test of `btm demo` compares its own run with the same file.

A change that moves the demo's scores on purpose (a new rubric version, new sample
evidence) rewrites the file with `python -m tests.btm.demo.test_demo_scores`, and says so.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import pipeline, store
from btm.demo.campaign import DEMO_CAMPAIGN_CYCLE, install_demo_respondents, run_demo_campaign
from btm.demo.sample import DEMO_CYCLES, generate_sample_evidence
from btm.demo.walkthrough import DEMO_SOURCES, pmo_review
from btm.evidence.gather import configured_sources
from btm.evidence.sources import SURVEY_RETURNS
from btm.settings import Settings
from btm.vocabulary import Basis, Outcome

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "demo-scores.json"
ABOUT = (
    "The demo's 1,360 scores under rubric 2027.1, as issue 13 introduced it, with the "
    "self-assessment campaign of its last cycle answered (issue 16): cycle, rubric version, "
    "unit, capability, dimension, level, target level, gap, basis, confidence, and the first "
    "16 hex digits of the sha256 of the trace and evidence hashes (but those of returned "
    "questionnaires) as canonical JSON. tests/btm/demo/test_demo_scores.py compares every "
    "run of the demo with it; "
    "`python -m tests.btm.demo.test_demo_scores` rewrites it after a deliberate change."
)


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
        # A returned questionnaire names its campaign, whose id and closing date each home
        # draws anew: its hash is left out, and the trace's survey entry (how many answers,
        # their median) pins what it said.
        returned = set(
            session.exec(
                select(store.EvidenceBatch.sha256).where(
                    store.EvidenceBatch.source == SURVEY_RETURNS
                )
            )
        )
    rows = []
    for s in scores:
        hashes = [h for h in s.evidence_hashes if h not in returned]
        basis = json.dumps([s.trace, hashes], sort_keys=True)
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
                s.basis,
                s.confidence,
                digest,
            ]
        )
    return sorted(rows, key=lambda r: tuple(str(v) for v in r[:5]))


def golden_scores() -> list[list[Any]]:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))["scores"]


def assert_same_scores(found: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(found) == len(expected) == 1360
    differ = [(e, f) for e, f in zip(expected, found, strict=True) if e != f]
    assert differ == [], f"{len(differ)} scores differ from the golden file's: {differ[:3]}"


def run_demo(home: Path) -> sa.Engine:
    """The demo's cycles through the pipeline core, in the BTM_HOME the settings name."""
    run = pipeline.setup(Settings(home=home))
    generate_sample_evidence(run.settings.inbox_dir, cycles=DEMO_CYCLES, calendar=run.calendar)
    install_demo_respondents(run)
    for n, cycle_id in enumerate(DEMO_CYCLES):
        if cycle_id == DEMO_CAMPAIGN_CYCLE:
            run_demo_campaign(run, cycle_id)
        inbox = run.settings.inbox_dir / cycle_id
        sources = configured_sources(sources_file=DEMO_SOURCES, home=run.home, inbox=inbox)
        pipeline.run_cycle(run, cycle_id, sources, actor="demo test")
        if n < len(DEMO_CYCLES) - 1:
            pmo_review(run, cycle_id)
    return run.engine


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    home = tmp_path_factory.mktemp("demo") / "btm-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BTM_HOME", str(home))
        for name in ("BTM_DATABASE_URL", "BTM_SMTP_HOST", "BTM_REPORT_TO"):
            patch.delenv(name, raising=False)
        yield run_demo(home)


def test_the_demo_scores_exactly_as_the_golden_file_says(demo: sa.Engine) -> None:
    assert_same_scores(demo_scores(demo), golden_scores())


def test_every_cell_of_the_last_cycle_is_judged_on_system_evidence(demo: sa.Engine) -> None:
    scores = store.scores_of(engine=demo, cycle_id=DEMO_CYCLES[-1])
    assert len(scores) == 5 * 68
    for score in scores:
        judged = [
            e
            for e in score.trace
            if e.get("level") == 2 and e.get("outcome") in (Outcome.PASS, Outcome.FAIL)
        ]
        assert judged, (score.unit, score.capability, score.dimension)
    bases = Counter(store.basis_of(s) for s in scores)
    on_evidence = sum(n for basis, n in bases.items() if basis.on_evidence)
    assert on_evidence / len(scores) >= 0.9, bases
    assert bases[Basis.SURVEY] == 0


def test_the_demo_climbs_to_level_5_only_on_stored_history(demo: sa.Engine) -> None:
    first = store.scores_of(engine=demo, cycle_id=DEMO_CYCLES[0])
    second = store.scores_of(engine=demo, cycle_id=DEMO_CYCLES[1])
    last = store.scores_of(engine=demo, cycle_id=DEMO_CYCLES[-1])
    assert not [s for s in (*first, *second) if s.level == 5]  # two earlier cycles needed
    tops = [s for s in last if s.level == 5]
    assert tops
    for score in tops:
        (trend,) = [e for e in score.trace if e["level"] == 5]
        assert trend["trend"] and trend["outcome"] == "pass"
        assert trend["reason"].startswith("over the cycles: ")


def write_golden() -> None:
    with tempfile.TemporaryDirectory() as folder:
        home = Path(folder) / "btm-home"
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("BTM_HOME", str(home))
            rows = demo_scores(run_demo(home))
    lines = ",\n".join(json.dumps(row, ensure_ascii=False) for row in rows)
    GOLDEN.write_text(
        json.dumps({"about": ABOUT})[:-1] + ',\n"scores":[\n' + lines + "\n]}\n", encoding="utf-8"
    )


if __name__ == "__main__":
    write_golden()
    sys.stdout.write(f"wrote {GOLDEN}\n")
