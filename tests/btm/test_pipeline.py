"""The whole pipeline, driven through btm/ without Prefect."""

import dataclasses
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import store
from btm.errors import BtmError, ConfigurationError
from btm.evidence.gather import evidence_plan
from btm.pipeline import scores_are_current
from btm.scoring.rubric import load_rubric
from btm.settings import Settings
from tests.conftest import KeepingHandler, body_text
from tests.factories import write_quarter
from tests.pipeline import CATALOG, JANUARY, RUBRIC, cycle_as_of, rescore_cycle, run_cycle


@pytest.fixture
def settings(btm_home: Path) -> Settings:
    return Settings()


def scores_snapshot(engine: sa.Engine, cycle_id: str) -> list[tuple]:
    with store.session_scope(engine) as session:
        return [
            (s.unit, s.capability, s.dimension, s.level, s.trace, s.evidence_hashes)
            for s in store.get_scores(session=session, cycle_id=cycle_id)
        ]


def test_two_cycles_score_report_and_deliver(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.55)
    write_quarter(tmp_path / "q2", case_share=0.85, bad_projects=True)

    first = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    q1_before = scores_snapshot(engine, "2026-Q1")
    second = run_cycle("2026-Q2", tmp_path / "q2", engine, settings)

    # every unit x 17 capabilities x 4 dimensions, with unknown kept unknown
    q2 = scores_snapshot(engine, "2026-Q2")
    assert len(q2) == 2 * 17 * 4
    levels = {(u, c, d): lv for u, c, d, lv, *_ in q2}
    # 85 % business cases, each stating its benefit: level 3; no closed investment yet
    # shows whether the benefits come, so level 4 is unknown and not earned
    assert levels[("Retail", "MTI-1", "process")] == 3
    assert levels[("Retail", "SP-3", "process")] is None  # no vendor evidence exists
    assert {(u, c, d): lv for u, c, d, lv, *_ in q1_before}[("Retail", "MTI-1", "process")] == 2

    # the bad batch is quarantined with its reasons; Wealth scores on its Q1 projects
    plan = evidence_plan(engine=engine, cycle_id="2026-Q2")
    (note,) = plan.quarantined
    assert note.source == "projects/projects-wealth.csv"
    assert any("column budget" in p and "row" in p for p in note.problems)
    (stale,) = plan.stale
    assert (stale.source, stale.from_cycle) == ("projects/projects-wealth.csv", "2026-Q1")
    quarantined = settings.quarantine_dir / "2026-Q2" / "projects"
    assert (quarantined / "projects-wealth.csv").exists()
    assert "column budget" in (quarantined / "projects-wealth.csv.problems.txt").read_text()
    wealth_hashes = next(h for u, *_, h in q2 if u == "Wealth")
    assert note.sha256 not in wealth_hashes
    assert levels[("Wealth", "MTI-4", "process")] is not None

    # the earlier cycle is untouched by the later one
    assert scores_snapshot(engine, "2026-Q1") == q1_before

    # the report names the quarantined file; the email is multipart/alternative
    html = second.report_path.read_text()
    assert "projects-wealth.csv" in html and "2026-Q2" in html
    assert "Evidence sources" in html and "its new batch was quarantined" in html
    assert first.audiences[0].channel == second.audiences[0].channel == "outbox"
    assert second.location is not None
    message = message_from_bytes(Path(second.location).read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == [
        "text/plain",
        "multipart/related",  # the HTML and its charts
    ]


def test_rerunning_a_cycle_changes_nothing_and_sends_nothing(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.6)
    first = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    snapshot = scores_snapshot(engine, "2026-Q1")
    assert first.location is not None
    eml = Path(first.location).read_bytes()

    again = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)

    assert scores_snapshot(engine, "2026-Q1") == snapshot
    (audience,) = again.audiences
    assert audience.sent == () and audience.skipped == tuple(settings.report_to)
    assert Path(first.location).read_bytes() == eml
    assert len(evidence_plan(engine=engine, cycle_id="2026-Q1").batches) == 4
    with store.session_scope(engine) as session:
        assert len(store.get_deliveries(session=session, cycle_id="2026-Q1")) == len(
            settings.report_to
        )
        batch_count = (
            session.connection()
            .execute(sa.select(sa.func.count()).select_from(store.EvidenceBatch))
            .one()
        )
    assert batch_count[0] == 4


def test_cycle_ids_and_dates() -> None:
    assert cycle_as_of("2026-Q1") == date(2026, 3, 31)
    assert cycle_as_of("2025-Q4") == date(2025, 12, 31)
    assert JANUARY.ended_before(date(2026, 4, 1)) == "2026-Q1"
    assert JANUARY.ended_before(date(2026, 1, 1)) == "2025-Q4"
    with pytest.raises(ConfigurationError, match="YYYY-Qn"):
        JANUARY.parse("2026Q1")


def test_with_smtp_configured_the_report_is_sent_once_per_recipient(
    engine: sa.Engine,
    btm_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_settings: KeepingHandler,
) -> None:
    handler = smtp_settings
    monkeypatch.setenv("BTM_REPORT_TO", "pmo@example.org, cio@example.org")
    settings = Settings()
    write_quarter(tmp_path / "q1", case_share=0.6)

    sent = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    again = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)

    assert sent.audiences[0].channel == "smtp" and again.audiences[0].sent == ()
    # one message per recipient, each addressed to that recipient only
    assert sorted(e.rcpt_tos[0] for e in handler.envelopes) == [
        "cio@example.org",
        "pmo@example.org",
    ]
    assert all(len(e.rcpt_tos) == 1 for e in handler.envelopes)
    content = handler.envelopes[0].original_content
    assert content is not None
    received = message_from_bytes(content, policy=policy.default)
    text = body_text(received, "plain")
    html = body_text(received, "html")
    assert "2026-Q1" in text and "2026-Q1" in html
    assert not list(settings.outbox_dir.glob("*.eml"))
    with store.session_scope(engine) as session:
        ledger = store.get_deliveries(session=session, cycle_id="2026-Q1")
    assert sorted((d.recipient, d.channel) for d in ledger) == [
        ("cio@example.org", "smtp"),
        ("pmo@example.org", "smtp"),
    ]


def _evidence_snapshot(engine: sa.Engine, archive: Path) -> tuple[list, dict, dict]:
    with store.session_scope(engine) as session:
        batches: list[tuple[Any, ...]] = [
            (b.id, b.source, b.part, b.sha256, b.status, b.rows, b.problems, b.validation)
            for b in session.exec(select(store.EvidenceBatch))
            if b.status == "accepted"
        ]
    rows = {
        kind: store.load_rows(engine=engine, kind=kind, batch_ids=[b[0] for b in batches])
        .to_csv(index=False)
        .encode()
        for kind in ("investments", "projects")
    }
    files = {p.name: p.read_bytes() for p in archive.rglob("*") if p.is_file()}
    return batches, rows, files


def test_a_bad_batch_leaves_earlier_scores_and_accepted_evidence_byte_for_byte(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    drop = tmp_path / "drop"
    write_quarter(drop, case_share=0.6)
    run_cycle("2026-Q1", drop, engine, settings)
    scores_before = scores_snapshot(engine, "2026-Q1")
    batches, rows, files = _evidence_snapshot(engine, settings.archive_dir)

    write_quarter(drop, case_share=0.6, bad_projects=True)  # Wealth's projects break
    run_cycle("2026-Q1", drop, engine, settings)  # the same cycle, re-run on the bad file
    run_cycle("2026-Q2", drop, engine, settings)

    assert scores_snapshot(engine, "2026-Q1") == scores_before
    batches_after, rows_after, files_after = _evidence_snapshot(engine, settings.archive_dir)
    assert batches_after[: len(batches)] == batches and rows_after == rows
    assert all(files_after[name] == data for name, data in files.items())
    plan = evidence_plan(engine=engine, cycle_id="2026-Q1")
    assert [n.source for n in plan.quarantined] == ["projects/projects-wealth.csv"]


# targets and gaps ---------------------------------------------------------------------


def test_each_score_carries_its_target_and_gap(
    engine: sa.Engine, btm_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_TARGET_STATE", "synchronization")
    btm_home.mkdir(parents=True, exist_ok=True)
    (btm_home / "targets.yaml").write_text("units:\n  Wealth: {MTI-1: 5}\n")
    write_quarter(tmp_path / "q1", case_share=0.55)

    run_cycle("2026-Q1", tmp_path / "q1", engine, Settings())

    with store.session_scope(engine) as session:
        scores = store.get_scores(session=session, cycle_id="2026-Q1")
        scored = session.get(store.Cycle, "2026-Q1")
    assert scored is not None and scored.target_state == "synchronization"
    cells = {(s.unit, s.capability, s.dimension): s for s in scores}
    assert {s.target_level for s in scores} == {3, 4, 5}
    for s in scores:
        assert s.target_level is not None
        assert s.gap == (None if s.level is None else s.target_level - s.level)
    retail = cells[("Retail", "MTI-1", "process")]
    assert (retail.level, retail.target_level, retail.gap) == (2, 4, 2)
    assert cells[("Wealth", "MTI-1", "process")].target_level == 5  # the unit's own target
    assert cells[("Retail", "SP-3", "process")].target_level == 3  # the shipped override
    unknown = cells[("Retail", "SEA-4", "technology")]
    assert unknown.level is None and unknown.gap is None and unknown.target_level == 4


# rescoring under another rubric -------------------------------------------------------


def _original(engine: sa.Engine, cycle_id: str) -> tuple[tuple, list[tuple]]:
    """The cycle's record and its original scores, every column."""
    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, cycle_id)
        assert scored is not None
        rows = [s.model_dump() for s in store.get_scores(session=session, cycle_id=cycle_id)]
    record = (
        scored.rubric_version,
        scored.evidence_key,
        scored.target_state,
        scored.completed_at,
    )
    return record, [tuple(sorted(r.items())) for r in rows]


def test_rescoring_under_a_new_rubric_keeps_the_original_byte_for_byte(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    original = _original(engine, "2026-Q1")
    current = RUBRIC.version
    # the new rubric drops MTI-1's rules: its cells become unknown in the rescored set
    newer = dataclasses.replace(
        RUBRIC, version="2099.1", rules=tuple(r for r in RUBRIC.rules if r.capability != "MTI-1")
    )

    outcome = rescore_cycle(
        engine=engine, cycle_id="2026-Q1", rubric=newer, catalog=CATALOG, settings=settings
    )

    assert outcome.summary == f"2026-Q1 rescored under rubric 2099.1 (original: {current} kept)"
    assert outcome.scores == 2 * 17 * 4
    assert _original(engine, "2026-Q1") == original
    with store.session_scope(engine) as session:
        assert store.rubric_versions(session=session, cycle_id="2026-Q1") == [current, "2099.1"]
        rescored = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version="2099.1")
        kept = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version=current)
    assert len(rescored) == len(kept) == 2 * 17 * 4
    old = {(s.unit, s.capability, s.dimension): s for s in kept}
    new = {(s.unit, s.capability, s.dimension): s for s in rescored}
    assert old[("Retail", "MTI-1", "process")].level == 2
    assert new[("Retail", "MTI-1", "process")].level is None
    assert new[("Retail", "MTI-1", "process")].gap is None
    assert all(s.rubric_version == "2099.1" for s in rescored)
    same = [k for k in old if k[1] != "MTI-1"]
    assert all(new[k].level == old[k].level and new[k].target_level for k in same)

    # rescoring again under the same new version replaces only that set
    again = rescore_cycle(
        engine=engine, cycle_id="2026-Q1", rubric=newer, catalog=CATALOG, settings=settings
    )
    assert again.replaced and "the earlier 2099.1 set replaced" in again.summary
    assert _original(engine, "2026-Q1") == original

    # the flow still finds its original current: nothing is rescored or resent
    plan = evidence_plan(engine=engine, cycle_id="2026-Q1")
    assert scores_are_current(engine=engine, cycle_id="2026-Q1", plan=plan, rubric=RUBRIC)
    assert not scores_are_current(engine=engine, cycle_id="2026-Q1", plan=plan, rubric=newer)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    assert _original(engine, "2026-Q1") == original


def test_rescoring_under_the_original_rubric_needs_force(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    original = _original(engine, "2026-Q1")
    common: dict[str, Any] = {
        "engine": engine,
        "rubric": RUBRIC,
        "catalog": CATALOG,
        "settings": settings,
    }

    with pytest.raises(BtmError, match="pass --force to replace them"):
        rescore_cycle(**common, cycle_id="2026-Q1")
    assert _original(engine, "2026-Q1") == original
    with pytest.raises(BtmError, match="run `btm run --cycle 2026-Q2` first"):
        rescore_cycle(**common, cycle_id="2026-Q2")

    forced = rescore_cycle(**common, cycle_id="2026-Q1", force=True)

    assert forced.summary == (
        f"2026-Q1 rescored under rubric {RUBRIC.version}, replacing its original scores (--force)"
    )
    record, rows = _original(engine, "2026-Q1")
    assert record[0] == RUBRIC.version and len(rows) == len(original[1])
    with store.session_scope(engine) as session:
        assert store.rubric_versions(session=session, cycle_id="2026-Q1") == [RUBRIC.version]


def test_a_rescore_keeps_the_cycles_target_state_an_original_takes_the_settings(
    engine: sa.Engine, btm_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, Settings())  # alignment, the default
    monkeypatch.setenv("BTM_TARGET_STATE", "convergence")
    common: dict[str, Any] = {"engine": engine, "catalog": CATALOG, "settings": Settings()}
    newer = dataclasses.replace(RUBRIC, version="2099.1")

    rescore_cycle(**common, cycle_id="2026-Q1", rubric=newer)
    rescore_cycle(**common, cycle_id="2026-Q1", rubric=RUBRIC, force=True)

    with store.session_scope(engine) as session:
        rescored = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version="2099.1")
        original = store.get_scores(session=session, cycle_id="2026-Q1")
        scored = session.get(store.Cycle, "2026-Q1")
    assert {s.target_level for s in rescored} == {2, 3}  # alignment, as the original was
    assert {s.target_level for s in original} == {5}  # redone under the new setting
    assert scored is not None and scored.target_state == "convergence"


def test_a_cycle_scored_before_targets_takes_its_first_rescores_state(
    engine: sa.Engine, btm_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, Settings())
    with engine.begin() as connection:  # as revision 0004 leaves an older cycle
        connection.execute(sa.text("UPDATE cycle SET target_state = NULL"))
        connection.execute(sa.text("UPDATE score SET target_level = NULL, gap = NULL"))
    monkeypatch.setenv("BTM_TARGET_STATE", "synchronization")
    common: dict[str, Any] = {"engine": engine, "catalog": CATALOG, "settings": Settings()}

    rescore_cycle(
        **common, cycle_id="2026-Q1", rubric=dataclasses.replace(RUBRIC, version="2099.1")
    )

    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, "2026-Q1")
        original = store.get_scores(session=session, cycle_id="2026-Q1")
        rescored = store.get_scores(session=session, cycle_id="2026-Q1", rubric_version="2099.1")
    assert scored is not None and scored.target_state == "synchronization"
    assert scored.rubric_version == RUBRIC.version
    assert {s.target_level for s in original} == {None}
    assert {s.target_level for s in rescored} == {3, 4}


RUBRIC_2026_3 = Path(__file__).resolve().parents[1] / "data" / "rubric-2026.3.yaml"


def test_cycles_scored_under_2026_3_gain_a_labelled_2027_1_set_beside_the_original(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    old = load_rubric(RUBRIC_2026_3)
    for cycle, share in (("2026-Q1", 0.55), ("2026-Q2", 0.9)):
        write_quarter(tmp_path / cycle, case_share=share)
        run_cycle(cycle, tmp_path / cycle, engine, settings, rubric=old)
    originals = {c: _original(engine, c) for c in ("2026-Q1", "2026-Q2")}

    for cycle in ("2026-Q1", "2026-Q2"):
        outcome = rescore_cycle(
            engine=engine, cycle_id=cycle, rubric=RUBRIC, catalog=CATALOG, settings=settings
        )
        assert outcome.summary == f"{cycle} rescored under rubric 2027.1 (original: 2026.3 kept)"

    assert {c: _original(engine, c) for c in originals} == originals
    with store.session_scope(engine) as session:
        assert store.rubric_versions(session=session, cycle_id="2026-Q2") == ["2026.3", "2027.1"]
        before = store.get_scores(session=session, cycle_id="2026-Q2", rubric_version="2026.3")
        after = store.get_scores(session=session, cycle_id="2026-Q2", rubric_version="2027.1")
    assert len(before) == len(after) == 2 * 17 * 4
    assert all(s.rubric_version == "2026.3" for s in before)
    rescored = {(s.unit, s.capability, s.dimension): s for s in after}
    cell = rescored[("Retail", "MTI-1", "process")]
    assert (cell.level, cell.basis) == (3, "system") and cell.confidence is not None
    # the rule on history reads Q1's 2027.1 set: one earlier cycle, where it needs two
    top = next(e for e in cell.trace if e["level"] == 5)
    assert top["outcome"] == "unknown"
