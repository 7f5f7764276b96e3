"""A cycle's self-assessment campaign: one questionnaire per respondent, emailed once.

`open_campaign` opens the cycle's campaign (or finds it open), builds each respondent's
questionnaire under `BTM_HOME/survey/<cycle>/` and emails it as an attachment through the
delivery ledger, under the audience `survey-invitation`: one invitation per respondent
per cycle, however often it runs. A respondent added to `respondents.yaml` later is
invited on the next run; one already invited keeps the questionnaire sent, as sent.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from btm import store
from btm.errors import ConfigurationError
from btm.survey.responses import INVITATION, campaign_status

if TYPE_CHECKING:
    from collections.abc import Callable

    from btm.delivery import Letter, SmtpConfig
    from btm.pipeline import Setup
    from btm.survey.bank import QuestionBank
    from btm.survey.respondents import Respondent
    from btm.survey.workbook import Marker

DEFAULT_OPEN_DAYS = 21  # a campaign opened without --closes closes three weeks later
INVITATION_TEMPLATES = ("survey_invitation.html.j2", "survey_invitation.txt.j2")


def survey_folder(home: Path, cycle_id: str) -> Path:
    """Where a cycle's questionnaires are kept."""
    from btm.survey.returns import SURVEY_FOLDER

    return home / SURVEY_FOLDER / cycle_id


@dataclass(frozen=True)
class Opened:
    """What opening a campaign did."""

    campaign_id: str
    cycle_id: str
    closes_on: date
    folder: Path
    invited: tuple[str, ...]  # emailed now
    already: tuple[str, ...]  # invited by an earlier run: not emailed again
    failed: tuple[str, ...]  # "address: why"
    channel: str  # smtp, outbox, or none when nobody was emailed

    def to_json(self) -> dict[str, object]:
        return {
            "campaign": self.campaign_id,
            "cycle": self.cycle_id,
            "closes_on": self.closes_on.isoformat(),
            "folder": str(self.folder),
            "invited": list(self.invited),
            "already_invited": list(self.already),
            "failed": list(self.failed),
            "channel": self.channel,
        }


@dataclass(frozen=True)
class Invitation:
    """What an invitation (or a reminder) says, for its templates."""

    subject: str
    pmo: str
    name: str
    unit: str
    role: str
    cycle_id: str
    campaign_id: str
    closes_on_text: str
    workbook: str
    questions: int
    reminder: bool = False


def open_campaign(
    run: Setup,
    cycle_id: str,
    *,
    closes_on: date | None = None,
    today: date | None = None,
    smtp: Callable[[], SmtpConfig | None] | None = None,
) -> Opened:
    """Open the cycle's campaign (or extend the open one to `closes_on`), build the
    questionnaire of every respondent not yet invited and email each one not yet sent."""
    from btm.delivery import send_letters
    from btm.pipeline import open_cycle
    from btm.survey.bank import load_bank
    from btm.survey.respondents import RESPONDENTS_FILE, load_respondents

    today = today or date.today()
    run.calendar.parse(cycle_id)
    bank = load_bank(run.home)
    respondents = load_respondents(run.home / RESPONDENTS_FILE)
    earlier = store.survey_campaign(engine=run.engine, cycle_id=cycle_id)
    closes = closes_on or (earlier.closes_on if earlier else today + timedelta(DEFAULT_OPEN_DAYS))
    if closes < today:
        raise ConfigurationError(
            f"--closes {closes.isoformat()} is in the past; give a closing date from "
            f"{today.isoformat()} on"
        )
    open_cycle(run, cycle_id)
    campaign = store.open_survey_campaign(
        engine=run.engine,
        campaign=store.SurveyCampaign(
            id=f"{cycle_id}-{secrets.token_hex(3)}",
            cycle_id=cycle_id,
            closes_on=closes,
            bank_version=bank.version,
        ),
    )
    folder = survey_folder(run.home, cycle_id)
    invited = store.survey_invitees(engine=run.engine, campaign_id=campaign.id)
    letters = []
    for respondent in respondents:
        invitee = invited.get(respondent.id) or _invite(
            run, campaign, respondent, bank=bank, folder=folder
        )
        letters.append(_letter(run, campaign, invitee, bank=bank, reminder=False))
    sending = send_letters(
        letters,
        engine=run.engine,
        cycle_id=cycle_id,
        audience=INVITATION,
        settings=run.settings,
        smtp=smtp,
    )
    return Opened(
        campaign_id=campaign.id,
        cycle_id=cycle_id,
        closes_on=campaign.closes_on,
        folder=folder,
        invited=sending.sent,
        already=sending.skipped,
        failed=sending.failed,
        channel=sending.channel,
    )


def marker_of(campaign: store.SurveyCampaign, invitee: store.SurveyInvitee) -> Marker:
    """What ties the invitee's questionnaire to the campaign."""
    from btm.survey.workbook import Marker

    return Marker(
        campaign_id=campaign.id,
        cycle_id=campaign.cycle_id,
        respondent_id=invitee.respondent_id,
        unit=invitee.unit,
        role=invitee.role,
        name=invitee.name,
        email=invitee.email,
        closes_on=campaign.closes_on,
    )


def _invite(
    run: Setup,
    campaign: store.SurveyCampaign,
    respondent: Respondent,
    *,
    bank: QuestionBank,
    folder: Path,
) -> store.SurveyInvitee:
    """Build the respondent's questionnaire and record them as invited, as they are now."""
    from btm.survey.workbook import questionnaire_name, write_questionnaire

    invitee = store.SurveyInvitee(
        campaign_id=campaign.id,
        respondent_id=respondent.id,
        unit=respondent.unit,
        role=respondent.role,
        name=respondent.name,
        email=respondent.email,
        workbook="",
    )
    marker = marker_of(campaign, invitee)
    path = folder / questionnaire_name(marker)
    write_questionnaire(path, marker=marker, questions=bank.for_role(respondent.role))
    invitee.workbook = str(path.relative_to(run.home))
    return store.add_survey_invitee(engine=run.engine, invitee=invitee)


def _letter(
    run: Setup,
    campaign: store.SurveyCampaign,
    invitee: store.SurveyInvitee,
    *,
    bank: QuestionBank,
    reminder: bool,
) -> Letter:
    """The invitee's email, their questionnaire attached."""
    from btm.delivery import XLSX_TYPE, Attachment, Letter
    from btm.reporting.render import render_templates

    path = run.home / invitee.workbook
    try:
        workbook = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(
            f"{path}: the questionnaire sent to {invitee.email} cannot be read "
            f"({exc.strerror}); restore it from the outbox or a backup"
        ) from None
    closes = f"{campaign.closes_on:%A %d %B %Y}"
    first = "Reminder: your" if reminder else "Your"
    view = Invitation(
        subject=f"{first} BTM self-assessment for {invitee.unit}, cycle {campaign.cycle_id} "
        f"(closes {campaign.closes_on.isoformat()})",
        pmo=run.settings.pmo,
        name=invitee.name,
        unit=invitee.unit,
        role=invitee.role,
        cycle_id=campaign.cycle_id,
        campaign_id=campaign.id,
        closes_on_text=closes,
        workbook=path.name,
        questions=len(bank.for_role(invitee.role)),
        reminder=reminder,
    )
    html, text = INVITATION_TEMPLATES
    rendered = render_templates(
        html, text, subject=view.subject, report=None, view=view, templates=run.templates
    )
    return Letter(invitee.email, rendered, (Attachment(path.name, workbook, *XLSX_TYPE),))


# reminders --------------------------------------------------------------------------------


def reminder_audience(day: date) -> str:
    """The ledger's audience of one week's reminders: at most one each a week."""
    year, week, _ = day.isocalendar()
    return f"survey-reminder-{year}-W{week:02d}"


@dataclass(frozen=True)
class Reminded:
    campaign_id: str
    cycle_id: str
    week: str
    sent: tuple[str, ...]
    skipped: tuple[str, ...]  # reminded this week already
    failed: tuple[str, ...]
    answered: int
    outstanding: int

    def to_json(self) -> dict[str, object]:
        return {
            "campaign": self.campaign_id,
            "cycle": self.cycle_id,
            "week": self.week,
            "reminded": list(self.sent),
            "reminded_earlier_this_week": list(self.skipped),
            "failed": list(self.failed),
            "answered": self.answered,
            "outstanding": self.outstanding,
        }


def send_reminders(
    run: Setup,
    *,
    today: date | None = None,
    smtp: Callable[[], SmtpConfig | None] | None = None,
) -> list[Reminded]:
    """Remind, in every campaign open today, each invitee who has not answered: at most
    once a week each (the ledger keeps the week), never after the closing date."""
    from btm.delivery import send_letters
    from btm.survey.bank import load_bank

    day = today or date.today()
    bank = load_bank(run.home)
    reminded = []
    for campaign in store.open_survey_campaigns(engine=run.engine, on=day):
        status = campaign_status(run.engine, campaign.cycle_id, today=day)
        invitees = store.survey_invitees(engine=run.engine, campaign_id=campaign.id)
        letters = [
            _letter(run, campaign, invitees[i.respondent_id], bank=bank, reminder=True)
            for i in status.outstanding
            if i.invited
        ]
        audience = reminder_audience(day)
        sending = send_letters(
            letters,
            engine=run.engine,
            cycle_id=campaign.cycle_id,
            audience=audience,
            settings=run.settings,
            smtp=smtp,
        )
        reminded.append(
            Reminded(
                campaign_id=campaign.id,
                cycle_id=campaign.cycle_id,
                week=audience.removeprefix("survey-reminder-"),
                sent=sending.sent,
                skipped=sending.skipped,
                failed=sending.failed,
                answered=len(status.invitees) - len(status.outstanding),
                outstanding=len(status.outstanding),
            )
        )
    return reminded
