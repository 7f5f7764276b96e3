"""Metrics on the self-assessment survey: the medians each role gives."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import UNIT, column, metric

if TYPE_CHECKING:
    import pandas as pd


def _median_of_role(frame: pd.DataFrame, role: str) -> pd.Series:
    answers = frame[column(frame, "respondent_role") == role]
    return answers.groupby(UNIT)["score"].median().astype(float)


@metric(kind="survey", unit="score")
def survey_median_executive(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's executives, over every
    capability and dimension."""
    return _median_of_role(frame, "executive")


@metric(kind="survey", unit="score")
def survey_median_business(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's business respondents."""
    return _median_of_role(frame, "business")


@metric(kind="survey", unit="score")
def survey_median_technology(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's technology respondents."""
    return _median_of_role(frame, "technology")


@metric(kind="survey", unit="score")
def survey_median_pmo(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's PMO respondents."""
    return _median_of_role(frame, "pmo")
