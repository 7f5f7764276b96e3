"""Who has answered a cycle's self-assessment campaign: each invitee, whether the
invitation went out, how many questions their return that counts answered, how often they
returned it, the response rates per unit and role, and the returns quarantined and why.
Read by `btm survey status`, the reminders and the reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from btm import store
from btm.errors import ConfigurationError
from btm.evidence.gather import evidence_plan
from btm.evidence.sources import SURVEY_RETURNS
from btm.survey.returns import respondent_key

INVITATION = "survey-invitation"  # the ledger's audience of the invitations


@dataclass(frozen=True)
class InviteeStatus:
    respondent_id: str
    unit: str
    role: str
    name: str
    email: str
    invited: bool  # the invitation was sent (the ledger has it)
    answered: int  # questions answered in the return that counts (0: none returned)
    returns: int  # returns received; more than one: the latest replaced the others


@dataclass(frozen=True)
class Rate:
    """Response rate of one unit (and one role, or all of a unit's roles when None)."""

    unit: str
    role: str | None
    invited: int
    answered: int

    @property
    def rate(self) -> float:
        return self.answered / self.invited if self.invited else 0.0


@dataclass(frozen=True)
class CampaignStatus:
    campaign_id: str
    cycle_id: str
    closes_on: date
    open: bool
    invitees: tuple[InviteeStatus, ...]
    quarantined: tuple[tuple[str, str], ...]  # (returned file, why)

    @property
    def outstanding(self) -> tuple[InviteeStatus, ...]:
        return tuple(i for i in self.invitees if not i.answered)

    @property
    def rates(self) -> tuple[Rate, ...]:
        """Per unit, then per unit and role, in name order."""
        keys = sorted(
            {(i.unit, None) for i in self.invitees} | {(i.unit, i.role) for i in self.invitees},
            key=lambda k: (k[0], k[1] or ""),
        )
        return tuple(
            Rate(
                unit,
                role,
                sum(1 for i in self.invitees if i.unit == unit and role in (None, i.role)),
                sum(
                    1
                    for i in self.invitees
                    if i.unit == unit and role in (None, i.role) and i.answered
                ),
            )
            for unit, role in keys
        )

    def to_json(self) -> dict[str, object]:
        return {
            "campaign": self.campaign_id,
            "cycle": self.cycle_id,
            "closes_on": self.closes_on.isoformat(),
            "open": self.open,
            "invited": len(self.invitees),
            "answered": sum(1 for i in self.invitees if i.answered),
            "rates": [
                {
                    "unit": r.unit,
                    "role": r.role,
                    "invited": r.invited,
                    "answered": r.answered,
                    "rate": round(r.rate, 4),
                }
                for r in self.rates
            ],
            "outstanding": [
                {
                    "name": i.name,
                    "email": i.email,
                    "unit": i.unit,
                    "role": i.role,
                    "invited": i.invited,
                }
                for i in self.outstanding
            ],
            "returned_more_than_once": [
                {"email": i.email, "returns": i.returns} for i in self.invitees if i.returns > 1
            ],
            "quarantined": [{"file": f, "why": why} for f, why in self.quarantined],
        }


def campaign_status(
    engine: sa.Engine, cycle_id: str | None = None, *, today: date | None = None
) -> CampaignStatus:
    """Who was invited to the cycle's campaign (default: the latest campaign), who has
    answered (their return counts in the cycle's evidence), and which returns were
    quarantined and why."""
    campaign = (
        store.survey_campaign(engine=engine, cycle_id=cycle_id)
        if cycle_id
        else store.latest_survey_campaign(engine=engine)
    )
    if campaign is None:
        where = f"cycle {cycle_id}" if cycle_id else "this home"
        raise ConfigurationError(
            f"no self-assessment campaign in {where}; open one with `btm survey open`"
        )
    plan = evidence_plan(engine=engine, cycle_id=campaign.cycle_id)
    survey = [b.id for b in plan.batches if b.kind == "survey" and b.id is not None]
    rows = store.load_rows(engine=engine, kind="survey", batch_ids=survey)
    answered: dict[str, int] = {}
    if "respondent" in rows:  # answers returned in questionnaires name who gave them
        counted = rows.dropna(subset=["score"]).groupby("respondent").size()
        answered = {str(key): int(n) for key, n in counted.items()}
    returns = store.returns_by_part(
        engine=engine, cycle_id=campaign.cycle_id, source=SURVEY_RETURNS
    )
    ledger = store.ledger_of(engine=engine, cycle_id=campaign.cycle_id, audience=INVITATION)
    invitees = []
    for invitee in store.survey_invitees(engine=engine, campaign_id=campaign.id).values():
        key = respondent_key(campaign.id, invitee.respondent_id)
        sent = ledger.get(invitee.email)
        invitees.append(
            InviteeStatus(
                respondent_id=invitee.respondent_id,
                unit=invitee.unit,
                role=invitee.role,
                name=invitee.name,
                email=invitee.email,
                invited=sent is not None and sent.state == store.DeliveryState.SENT,
                answered=int(answered.get(key, 0)),
                returns=returns.get(Path(invitee.workbook).name, 0),
            )
        )
    quarantined = tuple(
        (note.file_name, "; ".join(note.problems))
        for note in plan.quarantined
        if note.source.startswith(f"{SURVEY_RETURNS}/")
    )
    day = today or date.today()
    return CampaignStatus(
        campaign_id=campaign.id,
        cycle_id=campaign.cycle_id,
        closes_on=campaign.closes_on,
        open=campaign.closes_on >= day,
        invitees=tuple(sorted(invitees, key=lambda i: (i.unit, i.role, i.name))),
        quarantined=quarantined,
    )
