"""Reminders go only to those outstanding, at most once a week each, and stop at the
closing date; `btm survey status` shows response rates per unit and role and who is
outstanding. Mail goes through a real SMTP server on loopback."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from btm import pipeline
from btm.cli import app
from btm.evidence.sources import survey_returns
from btm.pipeline import Setup
from btm.settings import Settings
from btm.survey.campaign import open_campaign, send_reminders
from btm.survey.responses import campaign_status
from btm.survey.workbook import ANSWER_COLUMN, FIRST_QUESTION_ROW
from tests.btm.survey.test_campaign import PEOPLE, parsed, write_respondents
from tests.conftest import KeepingHandler

CYCLE = "2026-Q3"
MONDAY = date.today() + timedelta(days=7 - date.today().weekday())  # next week's Monday
CLOSES = MONDAY + timedelta(days=10)  # Thursday of the week after


def answer(run: Setup, email: str) -> None:
    """The respondent fills in the first question and drops the workbook back."""
    (sent,) = (run.home / "survey" / CYCLE).glob(f"*{email.replace('@', '-')}*.xlsx")
    workbook = openpyxl.load_workbook(sent)
    workbook["Questionnaire"][f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW}"] = 3
    returned = sent.parent / "returned"
    returned.mkdir(exist_ok=True)
    workbook.save(returned / sent.name)
    pipeline.gather(run, CYCLE, [survey_returns()])


@pytest.fixture
def run(tmp_path: Path, smtp_settings: KeepingHandler) -> Setup:
    write_respondents(tmp_path, PEOPLE)
    run = pipeline.setup(Settings(home=tmp_path))
    opened = open_campaign(run, CYCLE, closes_on=CLOSES, today=date.today())
    assert len(opened.invited) == 3 == len(smtp_settings.envelopes)
    return run


def reminded_to(handler: KeepingHandler, since: int) -> list[str]:
    recipients = []
    for envelope in handler.envelopes[since:]:
        message = parsed(envelope.original_content or b"")
        assert str(message["Subject"]).startswith("Reminder: your BTM self-assessment")
        assert list(message.iter_attachments()), "the questionnaire travels with it again"
        recipients += envelope.rcpt_tos
    return sorted(recipients)


def test_reminders_go_to_those_outstanding_once_a_week_until_the_campaign_closes(
    run: Setup, smtp_settings: KeepingHandler
) -> None:
    answer(run, "ana.lima@example.com")
    (first,) = send_reminders(run, today=MONDAY)
    assert sorted(first.sent) == ["bo.chen@example.com", "cy.diaz@example.com"]
    assert (first.answered, first.outstanding) == (1, 2)
    assert reminded_to(smtp_settings, 3) == ["bo.chen@example.com", "cy.diaz@example.com"]

    (same_week,) = send_reminders(run, today=MONDAY + timedelta(days=1))
    assert same_week.sent == () and sorted(same_week.skipped) == sorted(first.sent)
    assert len(smtp_settings.envelopes) == 5  # nobody twice in one week

    answer(run, "bo.chen@example.com")
    (next_week,) = send_reminders(run, today=MONDAY + timedelta(days=7))
    assert next_week.sent == ("cy.diaz@example.com",)
    assert reminded_to(smtp_settings, 5) == ["cy.diaz@example.com"]

    assert send_reminders(run, today=CLOSES + timedelta(days=1)) == []  # closed: no more
    assert len(smtp_settings.envelopes) == 6


def test_status_shows_rates_per_unit_and_role_and_who_is_outstanding(run: Setup) -> None:
    answer(run, "bo.chen@example.com")
    status = campaign_status(run.engine, CYCLE, today=MONDAY)
    assert status.open
    rates = {(r.unit, r.role): (r.answered, r.invited) for r in status.rates}
    assert rates == {
        ("Retail Banking", None): (1, 2),
        ("Retail Banking", "executive"): (1, 1),
        ("Retail Banking", "pmo"): (0, 1),
        ("Wealth", None): (0, 1),
        ("Wealth", "technology"): (0, 1),
    }
    assert [i.email for i in status.outstanding] == ["ana.lima@example.com", "cy.diaz@example.com"]
    assert campaign_status(run.engine, CYCLE, today=CLOSES + timedelta(days=1)).open is False


def test_the_status_command_prints_rates_and_json(
    run: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_HOME", str(run.home))
    answer(run, "cy.diaz@example.com")
    runner = CliRunner()
    shown = runner.invoke(app, ["survey", "status"])
    assert shown.exit_code == 0, shown.output
    assert "Response rates" in shown.output and "Outstanding" in shown.output
    assert "bo.chen@example.com" in shown.output
    data = json.loads(runner.invoke(app, ["survey", "status", "--json"]).stdout)
    assert (data["invited"], data["answered"]) == (3, 1)
    wealth = next(r for r in data["rates"] if r["unit"] == "Wealth" and r["role"] is None)
    assert wealth["rate"] == 1.0
    assert {o["email"] for o in data["outstanding"]} == {
        "ana.lima@example.com",
        "bo.chen@example.com",
    }
    none = runner.invoke(app, ["survey", "status", "--cycle", "2026-Q1"])
    assert none.exit_code == 1 and "no self-assessment campaign in cycle 2026-Q1" in none.output
