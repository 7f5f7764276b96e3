"""Metrics + rubric -> maturity levels, with the trace of every rule and the next step.

The rubric is data (`btm/data/rubric.yaml`, versioned). Each rule of a capability x
dimension belongs to a level 2-5 and has an id, a plain description, a metric, an
operator and threshold, an optional applicability condition, a maximum evidence age, its
rationale and a sentence on how to improve. Levels are staged: a unit earns a level when
every applicable rule of that level and of all lower levels passes. A rule's outcome is
one of five:

- pass / fail: the metric's value against the threshold;
- skip: the rule does not apply to this unit (its condition is false), with the reason;
- unknown: no valid evidence for the metric;
- stale: the evidence behind the metric is older than the rule allows.

Unknown and stale never raise a level. When no level-2 rule of a cell is known, the cell
falls back on the unit's self-assessment survey, discounted by the rubric's survey weight
(system evidence always wins); with no survey either, the level is unknown (None), never
invented.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from btm.catalog import DATA_DIR, Catalog, load_catalog, read_yaml
from btm.errors import ConfigurationError
from btm.metrics import METRICS

RUBRIC_FILE = DATA_DIR / "rubric.yaml"
LEVELS = (2, 3, 4, 5)
Outcome = Literal["pass", "fail", "skip", "unknown", "stale"]
Basis = Literal["system", "survey", "none"]
KNOWN: frozenset[str] = frozenset({"pass", "fail"})

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_RULE = re.compile(r"^\s*(\w+)\s*(>=|<=|>|<)\s*(\S.*?)\s*$")
CELL_KEYS = frozenset({"ladder", "applies", "max_age_days", "rationale", "improve", *LEVELS})


def format_value(metric: str, value: float) -> str:
    """A metric's value as a person reads it: shares as percentages."""
    unit = METRICS[metric].unit if metric in METRICS else "share"
    if unit == "share":
        return f"{value * 100:.0f} %"
    return f"{value:g}"


def metric_label(metric: str) -> str:
    return metric.replace("_", " ")


@dataclass(frozen=True)
class Condition:
    """`metric op threshold`, e.g. the applicability `investment_count >= 3`."""

    metric: str
    operator: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        return OPERATORS[self.operator](value, self.threshold)


@dataclass(frozen=True)
class Rule:
    id: str
    capability: str
    dimension: str
    level: int
    metric: str
    operator: str
    threshold: float
    description: str
    rationale: str
    improve: str
    max_age_days: int
    applies: Condition | None = None

    @property
    def text(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        return OPERATORS[self.operator](value, self.threshold)


@dataclass(frozen=True)
class PlannedMetric:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class SurveyPolicy:
    """How self-assessment answers count where systems have no data."""

    weight: float
    min_answers: int
    rule: str

    def level(self, median: float) -> int:
        """1 + (median - 1) x weight, rounded down: a self-assessment is discounted."""
        return max(1, min(5, math.floor(1 + (median - 1) * self.weight + 1e-9)))


@dataclass(frozen=True)
class Rubric:
    version: str
    rollup: str
    rules: tuple[Rule, ...]
    planned: dict[str, PlannedMetric]
    survey: SurveyPolicy = field(default_factory=lambda: SurveyPolicy(0.75, 2, ""))
    max_age_days: int = 200

    def cell(self, capability: str, dimension: str) -> dict[int, list[Rule]]:
        """The rules of one capability x dimension, by level (2 to 5)."""
        return self._cells.get((capability, dimension)) or {level: [] for level in LEVELS}

    @cached_property
    def _cells(self) -> dict[tuple[str, str], dict[int, list[Rule]]]:
        cells: dict[tuple[str, str], dict[int, list[Rule]]] = {}
        for rule in self.rules:
            key = (rule.capability, rule.dimension)
            cells.setdefault(key, {level: [] for level in LEVELS})[rule.level].append(rule)
        return cells


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
            "outcome": "pass",
            "reason": (
                f"no system evidence: {self.answers} survey answers, median {self.median:g}, "
                f"counted at weight {self.weight:g}"
            ),
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


# reading the rubric -------------------------------------------------------------------


def _parse_rule(path: Path, where: str, text: str) -> tuple[str, str, Any]:
    match = _RULE.match(str(text))
    if not match:
        raise ConfigurationError(
            f"{path}: {where}: cannot read rule {text!r}; write 'metric >= threshold'"
        )
    metric, op, threshold = match.groups()
    try:
        value = yaml_number(threshold)
    except ValueError as exc:
        raise ConfigurationError(
            f"{path}: {where}: threshold {threshold!r} is not a number"
        ) from exc
    return metric, op, value


def yaml_number(text: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        return [float(part) for part in text.strip("[]").split(",")]
    return float(text)


def _what(metric: str, planned: Mapping[str, PlannedMetric]) -> str:
    if metric in METRICS:
        return METRICS[metric].description.rstrip(".")
    if metric in planned:
        return planned[metric].description.rstrip(".")
    return metric_label(metric)


def _describe(metric: str, op: str, threshold: float, planned: Mapping[str, PlannedMetric]) -> str:
    definition = METRICS.get(metric)
    what = _what(metric, planned)
    words = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}[op]
    shown = format_value(metric, threshold) if definition else f"{threshold:g}"
    return f"{what}: {words} {shown}"


def _improve(metric: str, op: str, threshold: float, planned: Mapping[str, PlannedMetric]) -> str:
    definition = METRICS.get(metric)
    what = _what(metric, planned)
    shown = format_value(metric, threshold) if definition else f"{threshold:g}"
    verb = "Raise" if op in (">=", ">") else "Bring down"
    return f"{verb} the {what[0].lower()}{what[1:]} to {shown}."


def _rationale(catalog: Catalog, capability: str, level: int, text: str | None) -> str:
    named = next(lv for lv in catalog.levels if lv.level == level)
    covers = catalog.capability(capability).covers
    why = f" {text.strip()}" if text else ""
    return f"Level {level} ({named.name}): {named.text} The capability {covers}.{why}"


def _cell_rules(
    path: Path,
    capability: str,
    dimension: str,
    spec: dict[Any, Any],
    *,
    catalog: Catalog,
    max_age_days: int,
    planned: Mapping[str, PlannedMetric],
) -> Iterator[Rule]:
    where = f"cells.{capability}.{dimension}"
    unknown = set(spec) - CELL_KEYS
    if unknown:
        raise ConfigurationError(
            f"{path}: {where}: unknown key {sorted(map(str, unknown))[0]!r}; use ladder, a "
            "level 2 to 5, applies, max_age_days, rationale or improve"
        )
    applies = None
    if "applies" in spec:
        metric, op, threshold = _parse_rule(path, f"{where}.applies", spec["applies"])
        applies = Condition(metric, op, float(threshold))
    age = int(spec.get("max_age_days", max_age_days))

    def rule(level: int, metric: str, op: str, threshold: float) -> Rule:
        return Rule(
            id=f"{capability}.{dimension}.L{level}.{metric}",
            capability=capability,
            dimension=dimension,
            level=level,
            metric=metric,
            operator=op,
            threshold=threshold,
            description=_describe(metric, op, threshold, planned),
            rationale=_rationale(catalog, capability, level, spec.get("rationale")),
            improve=str(spec.get("improve") or _improve(metric, op, threshold, planned)),
            max_age_days=age,
            applies=applies,
        )

    if "ladder" in spec:
        metric, op, thresholds = _parse_rule(path, where, spec["ladder"])
        if not isinstance(thresholds, list) or len(thresholds) != len(LEVELS):
            raise ConfigurationError(
                f"{path}: {where}: a ladder needs four thresholds, for levels 2 to 5"
            )
        for level, threshold in zip(LEVELS, thresholds, strict=True):
            yield rule(level, metric, op, threshold)
    for level in LEVELS:
        for text in spec.get(level, []):
            metric, op, threshold = _parse_rule(path, f"{where}.{level}", text)
            yield rule(level, metric, op, threshold)


def build_rubric(path: Path, raw: Any, catalog: Catalog) -> Rubric:
    try:
        planned = {
            name: PlannedMetric(name, spec["kind"], spec["description"])
            for name, spec in (raw.get("planned_metrics") or {}).items()
        }
        max_age = int(raw.get("max_evidence_age_days", 200))
        survey_spec = raw.get("survey") or {}
        survey = SurveyPolicy(
            weight=float(survey_spec.get("weight", 0.75)),
            min_answers=int(survey_spec.get("min_answers", 2)),
            rule=str(survey_spec.get("rule", "")),
        )
        rules = [
            rule
            for capability, dimensions in raw["cells"].items()
            for dimension, spec in dimensions.items()
            for rule in _cell_rules(
                path,
                capability,
                dimension,
                spec,
                catalog=catalog,
                max_age_days=max_age,
                planned=planned,
            )
        ]
        rubric = Rubric(
            str(raw["version"]), str(raw["rollup"]), tuple(rules), planned, survey, max_age
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"{path}: malformed rubric ({exc})") from exc
    if not 0 < survey.weight <= 1:
        raise ConfigurationError(f"{path}: survey.weight must be above 0 and at most 1")
    _check(path, rubric, catalog)
    return rubric


def _check(path: Path, rubric: Rubric, catalog: Catalog) -> None:
    for capability in catalog.capability_ids:
        for dimension in catalog.dimension_ids:
            if not any(rubric.cell(capability, dimension)[2]):
                raise ConfigurationError(
                    f"{path}: cells.{capability}.{dimension} has no level-2 rule; "
                    "every capability x dimension needs rules for levels 2 to 5"
                )
    for rule in rubric.rules:
        if (
            rule.capability not in catalog.capability_ids
            or rule.dimension not in catalog.dimension_ids
        ):
            raise ConfigurationError(
                f"{path}: rule {rule.id} names a capability or dimension not in the catalogue"
            )
        metrics = [rule.metric, *([rule.applies.metric] if rule.applies else [])]
        for name in metrics:
            if name not in METRICS and name not in rubric.planned:
                raise ConfigurationError(
                    f"{path}: rule {rule.id} uses unknown metric {name!r}; "
                    "use a metric from btm/metrics.py or declare it under planned_metrics"
                )


@cache
def load_rubric(path: Path = RUBRIC_FILE) -> Rubric:
    return build_rubric(path, read_yaml(path), load_catalog())


# scoring ------------------------------------------------------------------------------


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
            return RuleOutcome(rule, None, "unknown", _unknown_reason(condition.metric, rubric))
        if not condition.holds(applies_value):
            return RuleOutcome(
                rule,
                None,
                "skip",
                f"not applicable: {metric_label(condition.metric)} is {applies_value:g}, "
                f"applies when {condition.text}",
            )
    if rule.metric in rubric.planned:
        return RuleOutcome(rule, None, "unknown", _unknown_reason(rule.metric, rubric))
    value = _value(evidence.metrics, rule.metric)
    if value is None:
        return RuleOutcome(rule, None, "unknown", _unknown_reason(rule.metric, rubric))
    kind = _kind(rule.metric, rubric)
    age = evidence.ages.get(kind, 0)
    if age > rule.max_age_days:
        return RuleOutcome(
            rule,
            value,
            "stale",
            f"the '{kind}' evidence is {age} days old; this rule allows {rule.max_age_days}",
        )
    return RuleOutcome(rule, value, "pass" if rule.holds(value) else "fail", "")


def staged_level(outcomes_by_level: dict[int, list[RuleOutcome]]) -> int | None:
    """The highest level whose applicable rules, and all lower levels', pass; None when
    no level-2 rule is judged (a rule that does not apply awards nothing: it only stops
    blocking the levels above a judged one)."""
    if not any(o.outcome in KNOWN for o in outcomes_by_level[LEVELS[0]]):
        return None
    level = 1
    for candidate in LEVELS:
        outcomes = outcomes_by_level[candidate]
        if not outcomes or any(o.outcome not in ("pass", "skip") for o in outcomes):
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
    outcomes = tuple(o for level in LEVELS for o in by_level[level])
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


# guidance -----------------------------------------------------------------------------


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
    target = (level or 1) + 1
    if target > LEVELS[-1]:
        return []
    guidance = []
    for entry in trace:
        if entry.get("level") != target or entry.get("outcome") in ("pass", "skip", None):
            continue
        if entry.get("rule") == "survey":
            continue
        metric, value = entry["metric"], entry.get("value")
        needs = f"needs {entry['operator']} {format_value(metric, entry['threshold'])}"
        if value is None:
            text = f"{metric_label(metric)} unknown ({entry['reason']}), {needs}"
        elif entry["outcome"] == "stale":
            text = f"{metric_label(metric)} {format_value(metric, value)} but stale, {needs}"
        else:
            text = f"{metric_label(metric)} {format_value(metric, value)}, {needs}"
        guidance.append(Guidance(entry["rule"], target, text, entry.get("improve", "")))
    return guidance
