"""The self-assessment survey as a second opinion: the medians of its recent answers per
unit and cell, how far an opinion may count, and how much a level can be trusted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

from btm.vocabulary import UNIT

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class SurveyPolicy:
    """How self-assessment answers count: aged like any evidence, discounted, and capped
    so that opinion alone never reaches a level that asks for recorded practice."""

    weight: float
    min_answers: int
    rule: str
    lowest: int  # the catalogue's level range: a survey level stays within it
    highest: int
    max_age_days: int = 200  # answers older than this are left out
    cap_level: int = 1  # the highest level the survey alone can give

    def level(self, median: float) -> int:
        """1 + (median - 1) x weight, rounded down, and never above the cap."""
        level = math.floor(self.lowest + (median - self.lowest) * self.weight + 1e-9)
        return max(self.lowest, min(self.cap_level, self.highest, level))


@dataclass(frozen=True)
class ConfidencePolicy:
    """How much a level can be trusted, 0 to 1, from the coverage, sample size and age of
    the evidence behind it, and the survey beside it."""

    full_sample: int  # rows measured for full confidence in a share
    stale_factor: float  # what stale evidence keeps of its confidence
    low_below: float  # confidence under this is marked as low in every report
    agreement: float  # added when the survey agrees with the system level within one
    divergence: float  # taken off when it diverges by two levels or more
    survey: float  # the confidence of an opinion alone
    rule: str

    def of_rule(self, coverage: float | None, n: float | None, stale: bool) -> float:
        covered = 1.0 if coverage is None or math.isnan(coverage) else min(coverage, 1.0)
        sample = 1.0 if n is None or math.isnan(n) else min(1.0, math.sqrt(n / self.full_sample))
        return covered * sample * (self.stale_factor if stale else 1.0)

    def with_opinion(self, confidence: float, divergence: int) -> float:
        if abs(divergence) <= 1:
            return min(1.0, confidence + self.agreement)
        return max(0.0, confidence - self.divergence)

    def is_low(self, confidence: float | None) -> bool:
        return confidence is not None and confidence < self.low_below


def says(median: float) -> int:
    """What a unit says of itself: its median answer, rounded half up."""
    return int(Decimal(str(median)).quantize(Decimal(1), ROUND_HALF_UP))


@dataclass(frozen=True)
class Answers:
    """A unit's recent answers on one cell."""

    median: float
    count: int
    age_days: int  # the oldest answer counted, days before the cycle's as-of date


@dataclass(frozen=True)
class SurveyOpinion:
    """The survey beside a cell's level: what the unit says, and the level it gives where
    no system evidence judged the cell."""

    median: float
    answers: int
    age_days: int
    weight: float
    says: int
    level: int  # discounted and capped
    alone: bool  # True when it decides the level: no system evidence judged the cell
    system_level: int | None

    @property
    def divergence(self) -> int | None:
        """What the unit says minus what its systems show; None without a system level."""
        return None if self.system_level is None else self.says - self.system_level

    @property
    def text(self) -> str:
        if self.system_level is None:
            return (
                f"the unit says {self.says}; no system evidence judged it, so the survey "
                f"gives level {self.level} ({self.answers} answers, median {self.median:g}, "
                f"weight {self.weight:g}, capped)"
            )
        return (
            f"the unit says {self.says}, its systems show {self.system_level} "
            f"({self.answers} answers, median {self.median:g}, the oldest {self.age_days} days)"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": "survey",
            "level": self.level,
            "metric": "survey_median",
            "value": self.median,
            "answers": self.answers,
            "age_days": self.age_days,
            "says": self.says,
            "divergence": self.divergence,
            "alone": self.alone,
            "outcome": "pass" if self.alone else "beside",
            "reason": self.text,
        }


SurveyAnswers = dict[str, dict[tuple[str, str], Answers]]


def survey_answers(
    frame: pd.DataFrame | None,
    *,
    as_of: date,
    max_age_days: int,
    batch_ages: Mapping[int, int] | None = None,
) -> SurveyAnswers:
    """Per unit, per (capability, dimension): the median of the answers at most
    `max_age_days` old (an answer's age is its date's, or else its batch's), their count
    and the oldest one's age."""
    import pandas as pd

    if frame is None or frame.empty:
        return {}
    answered = frame.dropna(subset=[UNIT, "capability", "dimension", "score"])
    batch_age = answered["batch_id"].map(dict(batch_ages or {})) if "batch_id" in answered else None
    if "answered_on" in answered:
        dated = pd.to_datetime(answered["answered_on"], errors="coerce")
    else:
        dated = pd.Series(pd.NaT, index=answered.index)
    age = (pd.Timestamp(as_of) - dated).dt.days
    fallback = batch_age if batch_age is not None else pd.Series(0, index=answered.index)
    age = age.fillna(fallback.fillna(0)).astype(int)
    recent = answered.assign(_age=age)[age <= max_age_days]
    grouped = recent.groupby([UNIT, "capability", "dimension"]).agg(
        median=("score", "median"), size=("score", "size"), age=("_age", "max")
    )
    result: SurveyAnswers = {}
    for (unit, capability, dimension), median, size, oldest in zip(
        grouped.index, grouped["median"], grouped["size"], grouped["age"], strict=True
    ):
        result.setdefault(str(unit), {})[(str(capability), str(dimension))] = Answers(
            float(median), int(size), int(oldest)
        )
    return result
