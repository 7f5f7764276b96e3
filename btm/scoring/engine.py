"""The scoring engine: each rule's outcome on a unit's metrics, the staged level of each
cell, the survey where systems say nothing, and what the next level needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from btm.catalog import Catalog
from btm.metrics import METRICS
from btm.scoring.rubric import (
    KNOWN,
    Basis,
    Outcome,
    Rubric,
    Rule,
    format_value,
    metric_label,
)
from btm.scoring.survey import SurveyBasis


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    value: float | None
    outcome: Outcome
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "level": self.rule.level,
            "metric": self.rule.metric,
            "operator": self.rule.operator,
            "threshold": self.rule.threshold,
            "value": self.value,
            "outcome": self.outcome,
            "reason": self.reason,
            "description": self.rule.description,
            "improve": self.rule.improve,
        }


@dataclass(frozen=True)
class CellScore:
    unit: str
    capability: str
    dimension: str
    level: int | None
    outcomes: tuple[RuleOutcome, ...]
    survey: SurveyBasis | None = None

    @property
    def basis(self) -> Basis:
        if self.survey is not None:
            return "survey"
        return "none" if self.level is None else "system"

    def trace(self) -> list[dict[str, Any]]:
        entries = [o.to_json() for o in self.outcomes]
        return [*entries, self.survey.to_json()] if self.survey else entries


@dataclass(frozen=True)
class UnitEvidence:
    """What scoring knows of one unit: its metrics, the age of each evidence kind behind
    them (days before the cycle's as-of date), and its survey answers per cell."""

    metrics: pd.Series
    ages: Mapping[str, int] = field(default_factory=dict)
    survey: Mapping[tuple[str, str], tuple[float, int]] = field(default_factory=dict)


def _value(metrics: pd.Series, name: str) -> float | None:
    value = metrics.get(name)
    return None if value is None or pd.isna(value) else float(value)


def _kind(metric: str, rubric: Rubric) -> str:
    if metric in rubric.planned:
        return rubric.planned[metric].kind
    return METRICS[metric].kind


def _unknown_reason(metric: str, rubric: Rubric) -> str:
    kind = _kind(metric, rubric)
    if metric in rubric.planned:
        return f"needs '{kind}' evidence, not gathered yet"
    return f"no valid '{kind}' evidence for this metric"


def evaluate(rule: Rule, evidence: UnitEvidence, rubric: Rubric) -> RuleOutcome:
    """One rule for one unit: pass, fail, skip, unknown or stale, with the reason."""
    if rule.applies is not None:
        condition = rule.applies
        applies_value = _value(evidence.metrics, condition.metric)
        if applies_value is None:
            return RuleOutcome(
                rule, None, Outcome.UNKNOWN, _unknown_reason(condition.metric, rubric)
            )
        if not condition.holds(applies_value):
            return RuleOutcome(
                rule,
                None,
                Outcome.SKIP,
                f"not applicable: {metric_label(condition.metric)} is {applies_value:g}, "
                f"applies when {condition.text}",
            )
    if rule.metric in rubric.planned:
        return RuleOutcome(rule, None, Outcome.UNKNOWN, _unknown_reason(rule.metric, rubric))
    value = _value(evidence.metrics, rule.metric)
    if value is None:
        return RuleOutcome(rule, None, Outcome.UNKNOWN, _unknown_reason(rule.metric, rubric))
    kind = _kind(rule.metric, rubric)
    age = evidence.ages.get(kind, 0)
    if age > rule.max_age_days:
        return RuleOutcome(
            rule,
            value,
            Outcome.STALE,
            f"the '{kind}' evidence is {age} days old; this rule allows {rule.max_age_days}",
        )
    return RuleOutcome(rule, value, Outcome.PASS if rule.holds(value) else Outcome.FAIL, "")


def staged_level(outcomes_by_level: dict[int, list[RuleOutcome]]) -> int | None:
    """The highest level whose applicable rules, and all lower levels', pass; None when
    no level-2 rule is judged (a rule that does not apply awards nothing: it only stops
    blocking the levels above a judged one)."""
    levels = sorted(outcomes_by_level)
    if not any(o.outcome in KNOWN for o in outcomes_by_level[levels[0]]):
        return None
    level = levels[0] - 1
    for candidate in levels:
        outcomes = outcomes_by_level[candidate]
        if not outcomes or any(o.outcome not in (Outcome.PASS, Outcome.SKIP) for o in outcomes):
            break
        level = candidate
    return level


def score_cell(
    unit: str, capability: str, dimension: str, evidence: UnitEvidence, rubric: Rubric
) -> CellScore:
    by_level = {
        level: [evaluate(rule, evidence, rubric) for rule in rules]
        for level, rules in rubric.cell(capability, dimension).items()
    }
    outcomes = tuple(o for level in rubric.levels for o in by_level[level])
    level = staged_level(by_level)
    survey = None
    answers = evidence.survey.get((capability, dimension))
    if level is None and answers is not None and answers[1] >= rubric.survey.min_answers:
        median, count = answers
        survey = SurveyBasis(median, count, rubric.survey.weight, rubric.survey.level(median))
        level = survey.level
    return CellScore(unit, capability, dimension, level, outcomes, survey)


def score_unit(
    unit: str, metrics: pd.Series | UnitEvidence, rubric: Rubric, catalog: Catalog
) -> list[CellScore]:
    evidence = metrics if isinstance(metrics, UnitEvidence) else UnitEvidence(metrics)
    return [
        score_cell(unit, capability, dimension, evidence, rubric)
        for capability in catalog.capability_ids
        for dimension in catalog.dimension_ids
    ]


def score_units(
    metrics: pd.DataFrame,
    *,
    rubric: Rubric,
    catalog: Catalog,
    ages: Mapping[str, Mapping[str, int]] | None = None,
    survey: Mapping[str, Mapping[tuple[str, str], tuple[float, int]]] | None = None,
) -> list[CellScore]:
    """Score every unit (a row of the metrics table) on every capability x dimension."""
    ages, survey = ages or {}, survey or {}
    return [
        score
        for unit, row in metrics.iterrows()
        for score in score_unit(
            str(unit),
            UnitEvidence(row, ages.get(str(unit), {}), survey.get(str(unit), {})),
            rubric,
            catalog,
        )
    ]


@dataclass(frozen=True)
class Guidance:
    """A rule of the next level that does not pass yet, and what it would take."""

    rule: str
    level: int
    text: str
    improve: str


def next_level_guidance(trace: list[dict[str, Any]], level: int | None) -> list[Guidance]:
    """From a stored trace: the next level's rules that do not pass, each with the
    current value and the threshold ("business case coverage 63 %, needs 80 %")."""
    target = (level or 1) + 1  # level 1 when unknown: the next is the first rules' level
    guidance = []
    for entry in trace:
        if entry.get("level") != target or entry.get("outcome") in (
            Outcome.PASS,
            Outcome.SKIP,
            None,
        ):
            continue
        if entry.get("rule") == "survey":
            continue
        metric, value = entry["metric"], entry.get("value")
        needs = f"needs {entry['operator']} {format_value(metric, entry['threshold'])}"
        if value is None:
            text = f"{metric_label(metric)} unknown ({entry['reason']}), {needs}"
        elif entry["outcome"] == Outcome.STALE:
            text = f"{metric_label(metric)} {format_value(metric, value)} but stale, {needs}"
        else:
            text = f"{metric_label(metric)} {format_value(metric, value)}, {needs}"
        guidance.append(Guidance(entry["rule"], target, text, entry.get("improve", "")))
    return guidance
