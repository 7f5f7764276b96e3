"""The scoring engine: each rule's outcome on a unit's metrics, the staged level of each
cell on system evidence, the survey beside it, the level's basis and confidence, and what
the next level needs.

Evidence beats opinion, and missing evidence never beats evidence: a level is earned on
system evidence alone; stale evidence still judges its rule (marked stale, with less
confidence); a metric measured on too little of its population is unknown; a cell whose
rubric condition does not hold is not applicable. The survey decides a level only where no
system evidence judged the cell, and then never above the rubric's cap.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from btm.catalog import Catalog
from btm.metrics import METRICS, MetricTable
from btm.scoring.rubric import (
    KNOWN,
    Condition,
    Outcome,
    Rubric,
    Rule,
    format_value,
    metric_label,
)
from btm.scoring.survey import Answers, SurveyOpinion, says
from btm.vocabulary import Basis

if TYPE_CHECKING:
    import pandas as pd

# Per metric, its values in the earlier cycles, oldest first (None where unknown then).
History = Mapping[str, Sequence[float | None]]


@dataclass(frozen=True)
class RuleOutcome:
    rule: Rule
    value: float | None
    outcome: Outcome
    reason: str
    coverage: float | None = None
    n: float | None = None
    stale: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.id,
            "level": self.rule.level,
            "metric": self.rule.metric,
            "operator": self.rule.operator,
            "threshold": self.rule.threshold,
            "trend": self.rule.trend,
            "value": self.value,
            "coverage": self.coverage,
            "n": self.n,
            "stale": self.stale,
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
    basis: Basis = Basis.SYSTEM
    confidence: float | None = None
    survey: SurveyOpinion | None = None
    stale: bool = False  # a rule behind the level was judged on stale evidence
    reason: str = ""  # why the cell is not applicable or unknown

    @property
    def says(self) -> int | None:
        """What the unit's survey says of the cell, when it answered."""
        return None if self.survey is None else self.survey.says

    def trace(self) -> list[dict[str, Any]]:
        entries = [o.to_json() for o in self.outcomes]
        if self.reason:
            entries.append({"rule": "cell", "basis": self.basis, "reason": self.reason})
        return [*entries, self.survey.to_json()] if self.survey else entries


@dataclass(frozen=True)
class UnitEvidence:
    """What scoring knows of one unit: its metrics (with the rows each was measured on and
    the share of its population that is), the age of each evidence kind behind them (days
    before the cycle's as-of date), its recent survey answers per cell, and the metrics'
    values in earlier cycles."""

    metrics: pd.Series
    ages: Mapping[str, int] = field(default_factory=dict)
    survey: Mapping[tuple[str, str], Answers] = field(default_factory=dict)
    history: History = field(default_factory=dict)
    sizes: pd.Series | None = None
    coverage: pd.Series | None = None


def _value(metrics: pd.Series | None, name: str) -> float | None:
    import pandas as pd

    if metrics is None:
        return None
    value = metrics.get(name)
    return None if value is None or pd.isna(value) else float(value)


def _kind(metric: str, rubric: Rubric) -> str:
    if metric in rubric.planned:
        return rubric.planned[metric].kind
    return METRICS[metric].kind


def _unknown_reason(metric: str, evidence: UnitEvidence, rubric: Rubric) -> str:
    kind = _kind(metric, rubric)
    if metric in rubric.planned:
        return f"needs '{kind}' evidence, not gathered yet"
    coverage = _value(evidence.coverage, metric)
    needed = METRICS[metric].min_coverage
    if coverage is not None and coverage < needed:
        measured = _value(evidence.sizes, metric) or 0
        return (
            f"measured on {coverage * 100:.0f} % of its population ({measured:g} rows); "
            f"needs {needed * 100:.0f} % to be known"
        )
    links = METRICS[metric].links
    if links:
        return f"no valid '{kind}' evidence, or none of the {' or '.join(links)} it links to"
    return f"no valid '{kind}' evidence for this metric"


def _trend(rule: Rule, value: float, evidence: UnitEvidence, cycles: int) -> tuple[Outcome, str]:
    earlier = [v for v in list(evidence.history.get(rule.metric, ()))[-cycles:] if v is not None]
    if len(earlier) < cycles:
        return Outcome.UNKNOWN, (
            f"needs this metric in the {cycles} cycles before; {len(earlier)} stored"
        )
    values = [*earlier, value]
    shown = ", ".join(format_value(rule.metric, v) for v in values)
    if rule.improved(values):
        return Outcome.PASS, f"over the cycles: {shown}"
    return Outcome.FAIL, f"over the cycles: {shown}; neither held nor improved"


def evaluate(rule: Rule, evidence: UnitEvidence, rubric: Rubric) -> RuleOutcome:
    """One rule for one unit: pass, fail or unknown, with the reason, the coverage and
    sample behind the value, and whether the evidence is stale."""
    if rule.metric in rubric.planned:
        return RuleOutcome(
            rule, None, Outcome.UNKNOWN, _unknown_reason(rule.metric, evidence, rubric)
        )
    coverage = _value(evidence.coverage, rule.metric)
    n = _value(evidence.sizes, rule.metric)
    value = _value(evidence.metrics, rule.metric)
    if value is None:
        reason = _unknown_reason(rule.metric, evidence, rubric)
        return RuleOutcome(rule, None, Outcome.UNKNOWN, reason, coverage, n)
    kind = _kind(rule.metric, rubric)
    age = evidence.ages.get(kind, 0)
    stale = age > rule.max_age_days
    note = (
        f"judged on '{kind}' evidence {age} days old; this rule allows {rule.max_age_days}"
        if stale
        else ""
    )
    if rule.trend:
        outcome, reason = _trend(rule, value, evidence, rubric.history_cycles)
        reason = "; ".join(part for part in (reason, note) if part)
        return RuleOutcome(rule, value, outcome, reason, coverage, n, stale)
    outcome = Outcome.PASS if rule.holds(value) else Outcome.FAIL
    return RuleOutcome(rule, value, outcome, note, coverage, n, stale)


def staged_level(outcomes_by_level: dict[int, list[RuleOutcome]]) -> int | None:
    """The highest level whose rules, and all lower levels', pass; None when no level-2
    rule is judged. An unknown rule blocks its level as a failed one does: missing
    evidence never earns a level."""
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


def _behind(by_level: dict[int, list[RuleOutcome]], level: int) -> list[RuleOutcome]:
    """The judged rules a level rests on: its own and its lower levels', and the next
    level's that held it back."""
    return [
        o
        for candidate, outcomes in by_level.items()
        if candidate <= level + 1
        for o in outcomes
        if o.outcome in KNOWN
    ]


def _applicability(
    condition: Condition, evidence: UnitEvidence, rubric: Rubric
) -> tuple[Basis, str] | None:
    value = _value(evidence.metrics, condition.metric)
    if value is None:
        reason = _unknown_reason(condition.metric, evidence, rubric)
        return Basis.UNKNOWN, f"cannot tell whether it applies: {reason}"
    if not condition.holds(value):
        return Basis.NOT_APPLICABLE, (
            f"not applicable: {metric_label(condition.metric)} is {value:g}, "
            f"applies when {condition.text}"
        )
    return None


def score_cell(
    unit: str, capability: str, dimension: str, evidence: UnitEvidence, rubric: Rubric
) -> CellScore:
    cell = rubric.cell(capability, dimension)
    condition = next((r.applies for rules in cell.values() for r in rules if r.applies), None)
    if condition is not None:
        inapplicable = _applicability(condition, evidence, rubric)
        if inapplicable is not None:
            basis, reason = inapplicable
            return CellScore(unit, capability, dimension, None, (), basis, reason=reason)
    by_level = {
        level: [evaluate(rule, evidence, rubric) for rule in rules] for level, rules in cell.items()
    }
    outcomes = tuple(o for level in rubric.levels for o in by_level[level])
    level = staged_level(by_level)
    answers = evidence.survey.get((capability, dimension))
    policy, trust = rubric.survey, rubric.confidence
    opinion = None
    if answers is not None and answers.count >= policy.min_answers:
        opinion = SurveyOpinion(
            answers.median,
            answers.count,
            answers.age_days,
            policy.weight,
            says(answers.median),
            policy.level(answers.median),
            alone=level is None,
            system_level=level,
        )
    if level is None:
        if opinion is None:
            return CellScore(
                unit,
                capability,
                dimension,
                None,
                outcomes,
                Basis.UNKNOWN,
                reason="no level-2 rule could be judged on system evidence, and too few "
                "recent survey answers",
            )
        return CellScore(
            unit,
            capability,
            dimension,
            opinion.level,
            outcomes,
            Basis.SURVEY,
            confidence=trust.survey,
            survey=opinion,
        )
    behind = _behind(by_level, level)
    confidence = min(trust.of_rule(o.coverage, o.n, o.stale) for o in behind)
    basis = Basis.SYSTEM
    if opinion is not None:
        basis = Basis.BLENDED
        confidence = trust.with_opinion(confidence, opinion.says - level)
    return CellScore(
        unit,
        capability,
        dimension,
        level,
        outcomes,
        basis,
        confidence=round(confidence, 2),
        survey=opinion,
        stale=any(o.stale for o in behind),
    )


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
    metrics: MetricTable,
    *,
    rubric: Rubric,
    catalog: Catalog,
    ages: Mapping[str, Mapping[str, int]] | None = None,
    survey: Mapping[str, Mapping[tuple[str, str], Answers]] | None = None,
    history: Mapping[str, History] | None = None,
) -> list[CellScore]:
    """Score every unit (a row of the metrics table) on every capability x dimension."""
    scores = []
    for unit, evidence in units_evidence(metrics, ages=ages, survey=survey, history=history):
        scores += score_unit(unit, evidence, rubric, catalog)
    return scores


def units_evidence(
    metrics: MetricTable,
    *,
    ages: Mapping[str, Mapping[str, int]] | None = None,
    survey: Mapping[str, Mapping[tuple[str, str], Answers]] | None = None,
    history: Mapping[str, History] | None = None,
) -> list[tuple[str, UnitEvidence]]:
    """What scoring knows of each unit (a row of the metrics table)."""
    ages, survey, history = ages or {}, survey or {}, history or {}
    found = []
    for unit in metrics.values.index:
        values, sizes, coverage = metrics.row(unit)
        name = str(unit)
        found.append(
            (
                name,
                UnitEvidence(
                    values,
                    ages.get(name, {}),
                    survey.get(name, {}),
                    history.get(name, {}),
                    sizes,
                    coverage,
                ),
            )
        )
    return found


@dataclass(frozen=True)
class Guidance:
    """A rule of the next level that does not pass yet, and what it would take."""

    rule: str
    level: int
    text: str
    improve: str


def needs_text(metric: str, operator: str, threshold: float, *, trend: Any) -> str:
    """What a rule asks, in `btm explain`'s words: "needs >= 85 %"."""
    band = format_value(metric, threshold)
    if trend:
        return f"needs to hold {operator} {band} or improve"
    return f"needs {operator} {band}"


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
        if entry.get("rule") in ("survey", "cell"):
            continue
        metric, value = entry["metric"], entry.get("value")
        needs = needs_text(metric, entry["operator"], entry["threshold"], trend=entry.get("trend"))
        if value is None or (isinstance(value, float) and math.isnan(value)):
            text = f"{metric_label(metric)} unknown ({entry['reason']}), {needs}"
        elif entry["outcome"] == Outcome.STALE or entry.get("stale"):
            text = f"{metric_label(metric)} {format_value(metric, value)} but stale, {needs}"
        elif entry.get("trend") and entry["outcome"] == Outcome.UNKNOWN:
            text = f"{metric_label(metric)} {format_value(metric, value)}, {entry['reason']}"
        else:
            text = f"{metric_label(metric)} {format_value(metric, value)}, {needs}"
        guidance.append(Guidance(entry["rule"], target, text, entry.get("improve", "")))
    return guidance
