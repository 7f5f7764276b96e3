"""The report's self-assessment section, for the PMO and the area owners: how many of each
unit's invitees answered the scored cycle's campaign, and per cell how far what the unit
says of itself lies from what its systems show.

What the systems show is the level on system evidence as scoring recorded it: the survey
entry of a score's trace keeps what the unit says and the divergence from the system
level (says - system level). Without that entry, a level of basis system or blended is
the systems' own, since the survey never moves it; a level the survey alone gave, or no
level, has none, and such a cell is left out rather than given an invented one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from btm import store
from btm.catalog import Catalog

if TYPE_CHECKING:
    from btm.survey.responses import CampaignStatus

SHOWN_TO = ("pmo", "area_owner")  # the audience kinds whose report has the section
DIVERGENCES_SHOWN = 15  # the cells listed, the widest gap first; the rest are counted
NO_CAMPAIGN_TEXT = "No self-assessment campaign for this cycle."


@dataclass(frozen=True)
class CellOpinion:
    """What a unit's survey says of a cell, and the level its systems show (None when no
    system evidence judged the cell)."""

    says: int
    systems: int | None


@dataclass(frozen=True)
class RateLine:
    """One unit's response rate: its invitees who answered, of those invited."""

    unit: str
    answered: int
    invited: int
    rate_text: str  # "50 %"


@dataclass(frozen=True)
class DivergenceLine:
    """One unit x capability x dimension where the unit's survey and its systems both give
    a level."""

    unit: str
    capability_id: str
    capability_name: str
    dimension: str  # the dimension's name
    says: int
    systems: int
    gap: int  # says - systems
    gap_text: str  # "+2", "-1", "0"


@dataclass(frozen=True)
class SelfAssessment:
    """The section as the templates show it, every number already counted and worded."""

    campaign_text: str  # the campaign and whether it is open, or that there is none
    answered_text: str  # "2 of 3 invitees answered (67 %).", or "" without a campaign
    rates: tuple[RateLine, ...]  # per unit, in name order; none without a campaign
    divergences: tuple[DivergenceLine, ...]  # the cells that disagree, the widest first
    more_text: str  # "and 4 more cells where they disagree.", or ""
    agreement_text: str  # how many of the cells compared agree within one level


def cell_opinion(score: store.Score) -> CellOpinion | None:
    """What the unit's survey says of the scored cell beside the level its systems show;
    None when the survey says nothing of it."""
    entry = next((e for e in score.trace if e.get("rule") == "survey"), None)
    if entry is not None and entry.get("says") is not None:
        says = int(entry["says"])
        if entry.get("alone"):
            return CellOpinion(says, None)
        if entry.get("divergence") is not None:
            return CellOpinion(says, says - int(entry["divergence"]))
    elif score.says is not None:
        says = score.says
    else:
        return None
    on_systems = store.basis_of(score).on_evidence and score.level is not None
    return CellOpinion(says, score.level if on_systems else None)


def _percent(answered: int, invited: int) -> str:
    return f"{answered / invited * 100:.0f} %" if invited else "–"


def rate_lines(campaign: CampaignStatus | None) -> tuple[RateLine, ...]:
    """Each unit's response rate to the campaign, over all of the unit's roles."""
    if campaign is None:
        return ()
    return tuple(
        RateLine(r.unit, r.answered, r.invited, _percent(r.answered, r.invited))
        for r in campaign.rates
        if r.role is None
    )


def campaign_text(campaign: CampaignStatus | None) -> str:
    """The campaign and whether it is still open, or that the cycle has none."""
    if campaign is None:
        return NO_CAMPAIGN_TEXT
    day = campaign.closes_on.isoformat()
    when = f"is open until {day}" if campaign.open else f"closed on {day}"
    return f"Campaign {campaign.campaign_id} {when}."


def answered_text(campaign: CampaignStatus | None) -> str:
    """How many of the campaign's invitees answered, of all units."""
    if campaign is None:
        return ""
    invited = len(campaign.invitees)
    if not invited:
        return "Nobody was invited."
    answered = invited - len(campaign.outstanding)
    return f"{answered} of {invited} invitees answered ({_percent(answered, invited)})."


def compared_cells(
    scores: Sequence[store.Score], catalog: Catalog, *, area: str | None = None
) -> tuple[DivergenceLine, ...]:
    """Every cell (of `area`, else of all areas) where the unit's survey and its systems
    both give a level, the widest gap first, then by unit and in catalogue order."""
    order = {
        key: n
        for n, key in enumerate(
            (c, d) for c in catalog.capability_ids for d in catalog.dimension_ids
        )
    }
    dimension_names = {d.id: d.name for d in catalog.dimensions}
    lines = []
    for score in scores:
        capability = catalog.capability(score.capability)
        if area is not None and capability.area != area:
            continue
        opinion = cell_opinion(score)
        if opinion is None or opinion.systems is None:
            continue  # no opinion, or no system level to set it beside
        gap = opinion.says - opinion.systems
        line = DivergenceLine(
            unit=score.unit,
            capability_id=capability.id,
            capability_name=capability.name,
            dimension=dimension_names[score.dimension],
            says=opinion.says,
            systems=opinion.systems,
            gap=gap,
            gap_text=f"{gap:+d}" if gap else "0",
        )
        lines.append((-abs(gap), line.unit, order[(score.capability, score.dimension)], line))
    return tuple(line for *_, line in sorted(lines, key=lambda item: item[:3]))


def _cells(n: int) -> str:
    return "cell" if n == 1 else "cells"


def self_assessment_section(
    scores: Sequence[store.Score],
    catalog: Catalog,
    campaign: CampaignStatus | None,
    *,
    area: str | None = None,
    shown: int = DIVERGENCES_SHOWN,
) -> SelfAssessment:
    """The section of one report: the campaign's response rate per unit, and the cells
    (of `area`, else of all areas) where the unit says another level than its systems
    show, at most `shown` of them, with how many agree within one level."""
    compared = compared_cells(scores, catalog, area=area)
    disagree = [line for line in compared if line.gap]
    hidden = len(disagree) - shown
    within_one = sum(1 for line in compared if abs(line.gap) <= 1)
    same = len(compared) - len(disagree)
    if compared:
        n = len(compared)
        agreement = (
            f"{n} {_cells(n)} {'has' if n == 1 else 'have'} both a survey level and a level "
            f"on system evidence: {within_one} within one level of each other, {same} the same."
        )
    else:
        agreement = "No cell has both a survey level and a level on system evidence."
    return SelfAssessment(
        campaign_text=campaign_text(campaign),
        answered_text=answered_text(campaign),
        rates=rate_lines(campaign),
        divergences=tuple(disagree[:shown]),
        more_text=f"And {hidden} more {_cells(hidden)} where they disagree." if hidden > 0 else "",
        agreement_text=agreement,
    )
