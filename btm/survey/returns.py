"""Returned questionnaires as `survey` evidence: one row per answered question.

A returned workbook is a payload like any other: archived before it is read, read here
(every tampered cell refused by `read_questionnaire`, naming it), then judged by the
survey suite, whose rule on `respondent` accepts only the invitations of the cycle's open
campaign (`INVITATIONS`, filled by `btm.evidence.gather`). The row ids are the campaign,
the respondent and the cell, so that a second return of one respondent replaces the
first instead of counting twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from btm.evidence.files import ParsedEvidence

# What the survey suite's respondent rule checks against: not an evidence kind, but the
# campaign/respondent ids of the invitations of the cycle's campaign while it is open.
INVITATIONS = "survey_invitations"
RETURNS_PATTERN = "questionnaire-*.xlsx"
SURVEY_FOLDER = "survey"  # BTM_HOME/survey/<cycle>/: the questionnaires sent, and returned/


def respondent_key(campaign_id: str, respondent_id: str) -> str:
    """How a returned answer names who gave it: campaign/respondent."""
    return f"{campaign_id}/{respondent_id}"


def is_returned_questionnaire(path: Path) -> bool:
    """Whether a payload is one of the campaign's questionnaires (cheap; never raises)."""
    from btm.survey.workbook import is_questionnaire

    return path.suffix.lower() == ".xlsx" and is_questionnaire(path)


def parsed_questionnaire(path: Path, *, name: str) -> ParsedEvidence:
    """A returned questionnaire's answers as typed survey rows, each numbered by the
    spreadsheet row it was answered on; a tampered workbook is refused naming the cell."""
    import pandas as pd
    from openpyxl.utils.cell import coordinate_from_string

    from btm.evidence.files import ROW_COLUMN, coerce
    from btm.evidence.kinds import kind_named
    from btm.survey.workbook import read_questionnaire

    returned = read_questionnaire(path, name=name)
    marker = returned.marker
    who = respondent_key(marker.campaign_id, marker.respondent_id)
    rows = [
        {
            "response_id": f"{who}/{a.capability}/{a.dimension}",
            "respondent_role": marker.role,
            "business_unit": marker.unit,
            "capability": a.capability,
            "dimension": a.dimension,
            "score": str(a.score),
            "comment": a.comment,
            "answered_on": None,  # the workbook does not say; the batch's age stands in
            "respondent": who,
        }
        for a in returned.answered
    ]
    numbers = [coordinate_from_string(a.cell.rpartition("!")[2])[1] for a in returned.answered]
    frame = pd.DataFrame(rows, columns=list(kind_named("survey").field_names), dtype="str")
    frame.index = pd.Index(numbers, name=ROW_COLUMN)
    return coerce(frame, kind_named("survey"))
