"""A campaign emails each respondent one questionnaire per cycle, however often it runs:
through a real SMTP server on loopback, or into the outbox without one."""

from __future__ import annotations

import io
import json
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import openpyxl
import pytest
from typer.testing import CliRunner

from btm import pipeline, store
from btm.cli import app
from btm.settings import Settings
from btm.survey.campaign import open_campaign
from btm.survey.responses import INVITATION
from btm.survey.workbook import read_questionnaire
from tests.conftest import KeepingHandler

CYCLE = "2026-Q3"
TODAY = date(2026, 9, 1)
CLOSES = date(2026, 9, 20)
PEOPLE = [
    ("Retail Banking", "pmo", "Ana Lima", "ana.lima@example.com"),
    ("Retail Banking", "executive", "Bo Chen", "bo.chen@example.com"),
    ("Wealth", "technology", "Cy Diaz", "cy.diaz@example.com"),
]


def write_respondents(home: Path, people: list[tuple[str, str, str, str]]) -> None:
    lines = ["respondents:"]
    lines += [
        f"  - {{unit: {unit}, role: {role}, name: {name}, email: {email}}}"
        for unit, role, name, email in people
    ]
    (home / "respondents.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def workbook_of(message: EmailMessage) -> tuple[str, bytes]:
    (attachment,) = list(message.iter_attachments())
    content = attachment.get_content()
    assert isinstance(content, bytes)
    return str(attachment.get_filename()), content


def test_each_respondent_is_invited_once_per_cycle_however_often_it_runs(
    tmp_path: Path, smtp_settings: KeepingHandler
) -> None:
    write_respondents(tmp_path, PEOPLE)
    run = pipeline.setup(Settings(home=tmp_path))
    first = open_campaign(run, CYCLE, closes_on=CLOSES, today=TODAY)
    assert sorted(first.invited) == sorted(p[3] for p in PEOPLE)
    assert first.channel == "smtp" and not first.failed and not first.already
    assert len(smtp_settings.envelopes) == 3

    again = open_campaign(run, CYCLE, today=TODAY)
    assert again.campaign_id == first.campaign_id and again.closes_on == CLOSES
    assert again.invited == () and sorted(again.already) == sorted(p[3] for p in PEOPLE)
    assert len(smtp_settings.envelopes) == 3  # nobody is sent a second invitation

    joining = ("Wealth", "business", "Di Evans", "di.evans@example.com")
    write_respondents(tmp_path, [*PEOPLE, joining])
    later = open_campaign(run, CYCLE, today=TODAY)
    assert later.invited == ("di.evans@example.com",)
    assert len(smtp_settings.envelopes) == 4
    ledger = store.ledger_of(engine=run.engine, cycle_id=CYCLE, audience=INVITATION)
    assert set(ledger) == {p[3] for p in [*PEOPLE, joining]}

    # every message carries its own respondent's questionnaire, traced to the campaign
    for envelope in smtp_settings.envelopes:
        message = parsed(envelope.original_content or b"")
        (recipient,) = envelope.rcpt_tos
        assert "self-assessment" in str(message["Subject"])
        name, content = workbook_of(message)
        assert name.endswith(".xlsx")
        saved = tmp_path / "returned" / name
        saved.parent.mkdir(exist_ok=True)
        saved.write_bytes(content)
        returned = read_questionnaire(saved, name=name)
        assert returned.marker.campaign_id == first.campaign_id
        assert returned.marker.email == recipient
        assert returned.marker.closes_on == CLOSES
        assert returned.answers and not returned.answered  # every question, none answered
        workbook = openpyxl.load_workbook(io.BytesIO(content))
        assert workbook.active is not None and workbook.active.protection.sheet


def test_without_smtp_the_invitations_are_kept_in_the_outbox(tmp_path: Path) -> None:
    write_respondents(tmp_path, PEOPLE[:1])
    run = pipeline.setup(Settings(home=tmp_path))
    opened = open_campaign(run, CYCLE, closes_on=CLOSES, today=TODAY)
    assert opened.channel == "outbox"
    (kept,) = run.settings.outbox_dir.glob(f"{CYCLE}-{INVITATION}-*.eml")
    name, _ = workbook_of(parsed(kept.read_bytes()))
    assert (opened.folder / name).is_file()  # the same workbook is kept under survey/


def test_a_closing_date_in_the_past_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    write_respondents(tmp_path, PEOPLE[:1])
    run = pipeline.setup(Settings(home=tmp_path))
    with pytest.raises(Exception, match=r"--closes 2026-08-01 is in the past"):
        open_campaign(run, CYCLE, closes_on=date(2026, 8, 1), today=TODAY)
    assert store.survey_campaign(engine=run.engine, cycle_id=CYCLE) is None


def test_the_command_opens_the_campaign_and_says_what_it_sent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_HOME", str(tmp_path))
    write_respondents(tmp_path, PEOPLE)
    runner = CliRunner()
    result = runner.invoke(
        app, ["survey", "open", "--cycle", CYCLE, "--closes", "2099-01-31", "--json"]
    )
    assert result.exit_code == 0, result.output
    opened = json.loads(result.stdout)
    assert len(opened["invited"]) == 3 and opened["channel"] == "outbox"
    assert opened["closes_on"] == "2099-01-31"

    bad = runner.invoke(app, ["survey", "open", "--cycle", CYCLE, "--closes", "31/01/2099"])
    assert bad.exit_code == 1
    assert "--closes '31/01/2099' is not a date; write it YYYY-MM-DD" in bad.output
    assert "Traceback" not in bad.output

    (tmp_path / "respondents.yaml").unlink()
    missing = runner.invoke(app, ["survey", "open", "--cycle", CYCLE])
    assert missing.exit_code == 1 and "respondents.yaml" in missing.output
    assert "Traceback" not in missing.output
