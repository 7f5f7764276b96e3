"""The self-assessment survey as a second opinion: the medians of its answers per unit
and cell, and how many of them a level needs and how much they count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from btm.metrics import UNIT
from btm.vocabulary import Outcome


@dataclass(frozen=True)
class SurveyPolicy:
    """How self-assessment answers count where systems have no data."""

    weight: float
    min_answers: int
    rule: str
    lowest: int  # the catalogue's level range: a survey level stays within it
    highest: int

    def level(self, median: float) -> int:
        """1 + (median - 1) x weight, rounded down: a self-assessment is discounted."""
        level = math.floor(self.lowest + (median - self.lowest) * self.weight + 1e-9)
        return max(self.lowest, min(self.highest, level))


@dataclass(frozen=True)
class SurveyBasis:
    median: float
    answers: int
    weight: float
    level: int

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": "survey",
            "level": self.level,
            "metric": "survey_median",
            "value": self.median,
            "outcome": Outcome.PASS,
            "reason": (
                f"no system evidence: {self.answers} survey answers, median {self.median:g}, "
                f"counted at weight {self.weight:g}"
            ),
        }


SurveyAnswers = dict[str, dict[tuple[str, str], tuple[float, int]]]


def survey_answers(frame: pd.DataFrame | None) -> SurveyAnswers:
    """Per unit, per (capability, dimension): the median self-assessed score and the
    number of answers."""
    if frame is None or frame.empty:
        return {}
    answered = frame.dropna(subset=[UNIT, "capability", "dimension", "score"])
    grouped = answered.groupby([UNIT, "capability", "dimension"])["score"].agg(["median", "size"])
    result: SurveyAnswers = {}
    for (unit, capability, dimension), median, size in zip(
        grouped.index, grouped["median"], grouped["size"], strict=True
    ):
        result.setdefault(str(unit), {})[(str(capability), str(dimension))] = (
            float(median),
            int(size),
        )
    return result
