"""The weekly survey reminders as the ops team runs them: a flow run on Prefect's test
server, and `btm survey remind`, which starts one."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btm import pipeline
from btm.cli import app
from btm.settings import Settings
from btm.survey.campaign import open_campaign
from flows.survey_reminders import survey_reminders
from tests.btm.survey.test_campaign import PEOPLE, write_respondents

pytestmark = pytest.mark.prefect


def test_the_reminders_flow_reminds_the_outstanding_once_a_week(
    prefect_server: None, btm_home: Path
) -> None:
    btm_home.mkdir(parents=True, exist_ok=True)
    write_respondents(btm_home, PEOPLE)
    monday = date.today() + timedelta(days=7 - date.today().weekday())
    open_campaign(pipeline.setup(Settings()), "2026-Q3", closes_on=monday + timedelta(days=3))

    state = survey_reminders(as_of=monday.isoformat(), return_state=True)

    assert state.is_completed()
    (campaign,) = state.result()["campaigns"]
    assert sorted(campaign["reminded"]) == sorted(p[3] for p in PEOPLE)
    assert campaign["outstanding"] == 3
    reminders = sorted((btm_home / "outbox").glob("2026-Q3-survey-reminder-*.eml"))
    assert len(reminders) == 3

    again = CliRunner().invoke(app, ["survey", "remind", "--as-of", monday.isoformat()])
    assert again.exit_code == 0, again.output
    assert "reminded 0, 3 earlier this week" in again.output
    assert len(sorted((btm_home / "outbox").glob("2026-Q3-survey-reminder-*.eml"))) == 3

    closed = CliRunner().invoke(
        app, ["survey", "remind", "--as-of", (monday + timedelta(days=4)).isoformat()]
    )
    assert closed.exit_code == 0 and "no campaign is open; nothing to remind" in closed.output
