"""`btm demo`, twice, through the real flow on Prefect's test server."""

import re
from datetime import date, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import select
from typer.testing import CliRunner

from btm import store
from btm.catalog import load_catalog
from btm.cli import app
from btm.demo.campaign import DEMO_CAMPAIGN_CYCLE, RETURNED
from btm.demo.sample import BAD_SAMPLE, DEMO_CYCLES
from btm.improvement.phases import PHASES
from btm.reporting.audiences import load_audiences
from btm.settings import Settings
from btm.survey.campaign import survey_folder
from btm.survey.respondents import RESPONDENTS_FILE, load_respondents
from btm.survey.responses import INVITATION, campaign_status
from tests.btm.demo.test_demo_scores import assert_same_scores, demo_scores, golden_scores
from tests.pipeline import JANUARY

pytestmark = pytest.mark.prefect


def _state(engine: sa.Engine) -> tuple[list[str], list[tuple], int, int, list[tuple]]:
    with store.session_scope(engine) as session:
        cycles = list(session.exec(select(store.Cycle.id).order_by(store.Cycle.id)))
        scores = [
            (s.cycle_id, s.unit, s.capability, s.dimension, s.level)
            for c in cycles
            for s in store.get_scores(session=session, cycle_id=c)
        ]
        deliveries = session.exec(select(sa.func.count()).select_from(store.Delivery)).one()
        batches = session.exec(select(sa.func.count()).select_from(store.EvidenceBatch)).one()
        phases = [
            (c.cycle_id, c.phase, c.actor)
            for cycle_id in cycles
            for c in store.phase_history(session=session, cycle_id=cycle_id)
        ]
    return cycles, scores, deliveries, batches, phases


def _campaign(engine: sa.Engine) -> tuple[str, date, datetime] | None:
    found = store.survey_campaign(engine=engine, cycle_id=DEMO_CAMPAIGN_CYCLE)
    return None if found is None else (found.id, found.closes_on, found.opened_at)


def test_demo_twice_leaves_the_same_cycles_scores_and_emails(
    prefect_server: None, btm_home: Path
) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["demo"])
    assert first.exit_code == 0, first.output
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    outbox = sorted(settings.outbox_dir.glob("*.eml"))
    before = _state(engine)
    emails = {p.name: p.read_bytes() for p in outbox}
    assert_same_scores(demo_scores(engine), golden_scores())  # as main scored them
    returned = survey_folder(settings.home, DEMO_CAMPAIGN_CYCLE) / RETURNED
    answers = {p.name: p.read_bytes() for p in returned.iterdir()}
    campaign = _campaign(engine)
    assert campaign is not None

    second = runner.invoke(app, ["demo"])

    assert second.exit_code == 0, second.output
    assert "already delivered" in second.output
    assert "evidence unchanged, scores kept" in second.output
    assert _state(engine) == before
    assert {p.name: p.read_bytes() for p in settings.outbox_dir.glob("*.eml")} == emails
    # one campaign, its invitations sent once, the answers as the first run gave them
    assert "invitations sent before, the returns already in place" in second.output
    assert _campaign(engine) == campaign
    assert {p.name: p.read_bytes() for p in returned.iterdir()} == answers

    cycles, scores, deliveries, _, phases = before
    assert cycles == list(DEMO_CYCLES)
    assert len(scores) == len(DEMO_CYCLES) * 5 * 17 * 4
    # every audience of btm/data/demo-audiences.yaml, one email per recipient
    audiences = load_audiences(settings, load_catalog())
    recipients = [(a.id, r) for a in audiences for r in a.recipients]
    assert {a.kind for a in audiences} == {"pmo", "executive", "area_owner", "business_unit"}
    # and one invitation per respondent of the sample enterprise, in the outbox too
    respondents = load_respondents(settings.home / RESPONDENTS_FILE)
    invitations = list(settings.outbox_dir.glob(f"{DEMO_CAMPAIGN_CYCLE}-{INVITATION}-*.eml"))
    assert len(invitations) == len(respondents) == 16
    assert deliveries == len(DEMO_CYCLES) * len(recipients) + len(respondents) == len(outbox)
    # 11 of the 16 answered before the cycle was gathered: their answers count
    status = campaign_status(engine, DEMO_CAMPAIGN_CYCLE)
    assert status.open and (len(status.invitees), len(status.outstanding)) == (16, 5)
    assert "self-assessment 2026-Q3: 11 of 16 answered (69%)" in first.output
    assert "btm survey status" in first.output
    assert (settings.reports_dir / "index.html").exists()

    last_email = settings.outbox_dir / f"{DEMO_CYCLES[-1]}-stakeholders-pmo-example-org.eml"
    message = message_from_bytes(last_email.read_bytes(), policy=policy.default)
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == [
        "text/plain",
        "multipart/related",
    ]
    assert len(last_email.read_bytes()) < 300_000

    # every cycle but the last walked assess, design, the PMO's gate, execute, improve and
    # closed; the last waits in design for the PMO, which no scheduled run passes
    walked = {c: [(phase, actor) for cycle, phase, actor in phases if cycle == c] for c in cycles}
    for cycle_id in DEMO_CYCLES[:-1]:
        assert [phase for phase, _ in walked[cycle_id]] == list(PHASES)
        assert dict(walked[cycle_id])["execute"] == "demo PMO"
        assert "(quarterly-cycle)" in dict(walked[cycle_id])["improve"]
    assert [phase for phase, _ in walked[DEMO_CYCLES[-1]]] == ["assess", "design"]
    report = (settings.reports_dir / DEMO_CYCLES[-1] / "stakeholders.html").read_text()
    assert "Improvement initiatives" in report and f"Executed since {DEMO_CYCLES[-2]}" in report
    assert re.search(r"<td[^>]*>\d+ %</td>", report), "an initiative's progress is shown"
    assert "waiting for the PMO&#39;s approval" in report or "waiting for the PMO's" in report

    bad_cycle, bad_file = BAD_SAMPLE
    assert (settings.quarantine_dir / bad_cycle / "project-exports" / bad_file).exists()
    bad_report = (settings.reports_dir / bad_cycle / "stakeholders.html").read_text()
    assert bad_file in bad_report


def test_demo_gathers_every_kind_through_files_and_sql(
    prefect_server: None, btm_home: Path
) -> None:
    result = CliRunner().invoke(app, ["demo"])
    assert result.exit_code == 0, result.output
    engine = store.engine_for(Settings().effective_database_url)
    with store.session_scope(engine) as session:
        batches = list(session.exec(select(store.EvidenceBatch)))
        notes = store.all_fetches(session=session)
    connectors = {(b.kind, b.connector) for b in batches}
    assert ("applications", "sql") in connectors and ("risks", "files") in connectors
    assert {b.kind for b in batches} == {
        "investments",
        "projects",
        "applications",
        "decisions",
        "risks",
        "survey",
        "objectives",
        "budgets",
        "resources",
        "vendors",
    }
    assert {b.status for b in batches if b.kind != "projects"} == {"accepted"}
    assert all(n.ok for n in notes)


def test_the_demo_moves_a_level_for_a_reason_explain_states(
    prefect_server: None, btm_home: Path
) -> None:
    from btm.catalog import load_catalog
    from btm.explain import explain
    from btm.scoring.rubric import load_rubric

    assert CliRunner().invoke(app, ["demo"]).exit_code == 0
    engine = store.engine_for(Settings().effective_database_url)
    first, last = DEMO_CYCLES[0], DEMO_CYCLES[-1]
    with store.session_scope(engine) as session:
        levels = {
            c: {
                (s.unit, s.capability, s.dimension): s.level
                for s in store.get_scores(session=session, cycle_id=c)
            }
            for c in (first, last)
        }
        known = [s.level for s in store.get_scores(session=session, cycle_id=last)]
    assert sum(level is not None for level in known) >= 0.9 * len(known)

    common: dict[str, Any] = {"engine": engine, "catalog": load_catalog(), "rubric": load_rubric()}
    common["calendar"] = JANUARY
    unit, capability, dimension = "Commercial Banking", "GO-1", "process"
    before, after = (
        levels[first][(unit, capability, dimension)],
        levels[last][(unit, capability, dimension)],
    )
    assert before is not None and after is not None and after > before
    (old,) = explain(
        **common, cycle_id=first, capability=capability, unit=unit, dimension=dimension
    )
    (new,) = explain(**common, cycle_id=last, capability=capability, unit=unit, dimension=dimension)
    # the rule of the level gained failed then and passes now, with the values to show it
    gained = {r.rule: r for r in new.rules if r.level == after}
    for rule in old.rules:
        if rule.rule in gained:
            assert rule.outcome == "fail" and gained[rule.rule].outcome == "pass"
            assert rule.value != gained[rule.rule].value
    report = (Settings().reports_dir / last / "stakeholders.html").read_text()
    assert capability in report
