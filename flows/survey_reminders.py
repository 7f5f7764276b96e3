"""The `survey-reminders` flow: once a week, while a self-assessment campaign is open,
remind each invitee who has not answered (at most once a week each), and stop at the
campaign's closing date."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from btm.pipeline import Setup
from btm.survey.campaign import Reminded, send_reminders
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops
from flows.tasks import flow_setup


@task(cache_policy=NO_CACHE)
def remind(run: Setup, today: date) -> list[Reminded]:
    return send_reminders(run, today=today)


@flow(name="survey-reminders", log_prints=True, on_failure=[notify_ops], on_crashed=[notify_ops])
def survey_reminders(as_of: str | None = None) -> dict[str, Any]:
    """Remind the respondents of every open campaign who have not answered.

    as_of: the day of the reminders, ISO `YYYY-MM-DD`; by default today. A campaign whose
        closing date is before it sends none.
    """
    run = flow_setup()
    day = date.fromisoformat(as_of) if as_of else date.today()
    with one_run_per_organisation(run.settings):
        reminded = remind(run, day)
    logger = get_run_logger()
    if not reminded:
        logger.info("no campaign is open on %s: nothing to remind", day.isoformat())
    for campaign in reminded:
        logger.info(
            "%s (%s): %d answered, %d outstanding; reminded %d, %d earlier this week",
            campaign.campaign_id,
            campaign.cycle_id,
            campaign.answered,
            campaign.outstanding,
            len(campaign.sent),
            len(campaign.skipped),
        )
        for failure in campaign.failed:
            logger.error("reminder not sent: %s", failure)
    return {"as_of": day.isoformat(), "campaigns": [c.to_json() for c in reminded]}
