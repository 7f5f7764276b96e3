"""The whole pipeline, driven through btm/ without Prefect."""

from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from btm import cycle, store
from btm.errors import ConfigurationError
from btm.evidence.gather import evidence_plan
from btm.settings import Settings
from tests.conftest import KeepingHandler
from tests.factories import rows, write_csv
from tests.pipeline import run_cycle


def write_quarter(inbox: Path, *, case_share: float, bad_projects: bool = False) -> None:
    for unit in ("Retail", "Wealth"):
        investments = rows("investments", 20, business_unit=unit)
        for i, record in enumerate(investments):
            record["investment_id"] = f"INV-{unit}-{i}"
            record["business_case"] = "yes" if i < case_share * 20 else "no"
        write_csv(inbox / f"investments-{unit.lower()}.csv", investments)
        projects = rows("projects", 10, business_unit=unit)
        for i, record in enumerate(projects):
            record["project_id"] = f"PRJ-{unit}-{i}"
            record["investment_id"] = f"INV-{unit}-{i}"
        if bad_projects and unit == "Wealth":
            projects[3]["budget"] = "-5"
        write_csv(inbox / f"projects-{unit.lower()}.csv", projects)


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
    assert levels[("Retail", "MTI-1", "process")] == 4  # 85 % business cases
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
    assert first.channel == second.channel == "outbox"
    message = message_from_bytes(Path(second.location).read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]


def test_rerunning_a_cycle_changes_nothing_and_sends_nothing(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "q1", case_share=0.6)
    first = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    snapshot = scores_snapshot(engine, "2026-Q1")
    eml = Path(first.location).read_bytes()

    again = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)

    assert scores_snapshot(engine, "2026-Q1") == snapshot
    assert again.recipients == () and again.skipped == tuple(settings.report_to)
    assert Path(first.location).read_bytes() == eml
    assert len(evidence_plan(engine=engine, cycle_id="2026-Q1").batches) == 4
    with store.session_scope(engine) as session:
        assert len(store.get_deliveries(session=session, cycle_id="2026-Q1")) == len(
            settings.report_to
        )
        batch_count = session.exec(
            sa.select(sa.func.count()).select_from(store.EvidenceBatch)
        ).one()
    assert batch_count[0] == 4


def test_cycle_ids_and_dates() -> None:
    assert cycle.cycle_as_of("2026-Q1") == date(2026, 3, 31)
    assert cycle.cycle_as_of("2025-Q4") == date(2025, 12, 31)
    assert cycle.cycle_for(date(2026, 4, 1)) == "2026-Q1"
    assert cycle.cycle_for(date(2026, 1, 1)) == "2025-Q4"
    with pytest.raises(ConfigurationError, match="YYYY-Qn"):
        cycle.parse_cycle_id("2026Q1")


def test_with_smtp_configured_the_report_is_sent_once_per_recipient(
    engine: sa.Engine,
    btm_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, handler = smtp_server
    monkeypatch.setenv("BTM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BTM_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("BTM_SMTP_TLS", "none")
    monkeypatch.setenv("BTM_REPORT_TO", "pmo@example.org, cio@example.org")
    settings = Settings()
    write_quarter(tmp_path / "q1", case_share=0.6)

    sent = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    again = run_cycle("2026-Q1", tmp_path / "q1", engine, settings)

    assert sent.channel == "smtp" and again.recipients == ()
    (envelope,) = handler.envelopes
    assert sorted(envelope.rcpt_tos) == ["cio@example.org", "pmo@example.org"]
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    text = received.get_body(preferencelist=("plain",)).get_content()
    html = received.get_body(preferencelist=("html",)).get_content()
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
        batches = [
            (b.id, b.source, b.part, b.sha256, b.status, b.rows, b.problems, b.validation)
            for b in session.exec(sa.select(store.EvidenceBatch)).scalars()
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
