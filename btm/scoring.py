"""Metrics + rubric -> maturity levels, with the trace of every rule.

The rubric is data (`btm/data/rubric.yaml`). Levels are staged: a unit earns a level when
every rule of that level and of all lower levels passes. A rule whose metric has no value
for the unit is unknown, and unknown never raises a level; when none of a capability x
dimension's level-2 rules is known, its level is unknown (None), never invented.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from btm.catalog import DATA_DIR, Catalog, load_catalog, read_yaml
from btm.errors import ConfigurationError
from btm.metrics import METRICS

RUBRIC_FILE = DATA_DIR / "rubric.yaml"
LEVELS = (2, 3, 4, 5)
Outcome = Literal["pass", "fail", "unknown"]

OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
_RULE = re.compile(r"^\s*(\w+)\s*(>=|<=|>|<)\s*(\S.*?)\s*$")


@dataclass(frozen=True)
class Rule:
    id: str
    capability: str
    dimension: str
    level: int
    metric: str
    operator: str
    threshold: float

    @property
    def text(self) -> str:
        return f"{self.metric} {self.operator} {self.threshold:g}"


@dataclass(frozen=True)
class PlannedMetric:
    name: str
    kind: str
    description: str


@dataclass(frozen=True)
class Rubric:
    version: str
    rollup: str
    rules: tuple[Rule, ...]
    planned: dict[str, PlannedMetric]

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
        }


@dataclass(frozen=True)
class CellScore:
    unit: str
    capability: str
    dimension: str
    level: int | None
    outcomes: tuple[RuleOutcome, ...]

    def trace(self) -> list[dict[str, Any]]:
        return [o.to_json() for o in self.outcomes]


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


def _cell_rules(
    path: Path, capability: str, dimension: str, spec: dict[Any, Any]
) -> Iterator[Rule]:
    where = f"cells.{capability}.{dimension}"

    def rule(level: int, metric: str, op: str, threshold: float) -> Rule:
        rule_id = f"{capability}.{dimension}.L{level}.{metric}"
        return Rule(rule_id, capability, dimension, level, metric, op, threshold)

    for key, value in spec.items():
        if key == "ladder":
            metric, op, thresholds = _parse_rule(path, where, value)
            if not isinstance(thresholds, list) or len(thresholds) != len(LEVELS):
                raise ConfigurationError(
                    f"{path}: {where}: a ladder needs four thresholds, for levels 2 to 5"
                )
            for level, threshold in zip(LEVELS, thresholds, strict=True):
                yield rule(level, metric, op, threshold)
        elif key in LEVELS:
            for text in value:
                metric, op, threshold = _parse_rule(path, f"{where}.{key}", text)
                yield rule(int(key), metric, op, threshold)
        else:
            raise ConfigurationError(
                f"{path}: {where}: unknown key {key!r}; use 'ladder' or a level 2 to 5"
            )


def build_rubric(path: Path, raw: Any, catalog: Catalog) -> Rubric:
    try:
        planned = {
            name: PlannedMetric(name, spec["kind"], spec["description"])
            for name, spec in (raw.get("planned_metrics") or {}).items()
        }
        cells = raw["cells"]
        rules = [
            rule
            for capability, dimensions in cells.items()
            for dimension, spec in dimensions.items()
            for rule in _cell_rules(path, capability, dimension, spec)
        ]
        rubric = Rubric(str(raw["version"]), str(raw["rollup"]), tuple(rules), planned)
    except (KeyError, TypeError, AttributeError) as exc:
        raise ConfigurationError(f"{path}: malformed rubric ({exc})") from exc
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
        if rule.metric not in METRICS and rule.metric not in planned:
            raise ConfigurationError(
                f"{path}: rule {rule.id} uses unknown metric {rule.metric!r}; "
                "use a metric from btm/metrics.py or declare it under planned_metrics"
            )
    return rubric


@cache
def load_rubric(path: Path = RUBRIC_FILE) -> Rubric:
    return build_rubric(path, read_yaml(path), load_catalog())


def evaluate(rule: Rule, value: float | None, rubric: Rubric) -> RuleOutcome:
    if rule.metric in rubric.planned:
        kind = rubric.planned[rule.metric].kind
        return RuleOutcome(rule, None, "unknown", f"needs '{kind}' evidence, not gathered yet")
    if value is None or math.isnan(value):
        kind = METRICS[rule.metric].kind
        return RuleOutcome(rule, None, "unknown", f"no valid '{kind}' evidence for this metric")
    passed = OPERATORS[rule.operator](value, rule.threshold)
    return RuleOutcome(rule, value, "pass" if passed else "fail", "")


def staged_level(outcomes_by_level: dict[int, list[RuleOutcome]]) -> int | None:
    """The highest level whose rules, and all lower levels' rules, pass."""
    if all(o.outcome == "unknown" for o in outcomes_by_level[LEVELS[0]]):
        return None
    level = 1
    for candidate in LEVELS:
        outcomes = outcomes_by_level[candidate]
        if not outcomes or any(o.outcome != "pass" for o in outcomes):
            break
        level = candidate
    return level


def score_unit(unit: str, metrics: pd.Series, rubric: Rubric, catalog: Catalog) -> list[CellScore]:
    scores = []
    for capability in catalog.capability_ids:
        for dimension in catalog.dimension_ids:
            by_level = {
                level: [evaluate(r, _value(metrics, r.metric), rubric) for r in rules]
                for level, rules in rubric.cell(capability, dimension).items()
            }
            outcomes = tuple(o for level in LEVELS for o in by_level[level])
            scores.append(CellScore(unit, capability, dimension, staged_level(by_level), outcomes))
    return scores


def _value(metrics: pd.Series, name: str) -> float | None:
    value = metrics.get(name)
    return None if value is None or pd.isna(value) else float(value)


def score_units(metrics: pd.DataFrame, *, rubric: Rubric, catalog: Catalog) -> list[CellScore]:
    """Score every unit (a row of the metrics table) on every capability x dimension."""
    return [
        score
        for unit, row in metrics.iterrows()
        for score in score_unit(str(unit), row, rubric, catalog)
    ]
