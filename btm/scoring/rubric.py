"""The rubric: rules per capability x dimension and level over named metrics, read from
`rubric.yaml` and checked against the catalogue and the metrics.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from btm.catalog import DATA_DIR, Catalog, load_catalog, read_yaml
from btm.errors import ConfigurationError
from btm.metrics import METRICS, MetricPolicy
from btm.resources import reread_when_changed
from btm.scoring.survey import ConfidencePolicy, SurveyPolicy
from btm.vocabulary import Outcome

RUBRIC_FILE = DATA_DIR / "rubric.yaml"


KNOWN: frozenset[Outcome] = frozenset({Outcome.PASS, Outcome.FAIL})


OPERATORS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


_RULE = re.compile(r"^\s*(\w+)\s*(>=|<=|>|<)\s*(\S.*?)\s*$")
# Level 5's rule on history: "metric held >= 0.85 or improved".
_TREND = re.compile(r"^\s*(\w+)\s+held\s*(>=|<=|>|<)\s*(\S+)\s+or\s+improved\s*$")


CELL_SETTINGS = frozenset({"ladder", "applies", "max_age_days", "rationale", "improve"})


_WORDS = {2: "two", 3: "three", 4: "four", 5: "five", 6: "six"}


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
    # A rule on history: the metric held the band (operator threshold) in this cycle and the
    # earlier ones, or improved over them (higher is better for >=, lower for <=).
    trend: bool = False

    @property
    def text(self) -> str:
        if self.trend:
            return f"{self.metric} held {self.operator} {self.threshold:g} or improved"
        return f"{self.metric} {self.operator} {self.threshold:g}"

    def holds(self, value: float) -> bool:
        return OPERATORS[self.operator](value, self.threshold)

    def improved(self, values: list[float]) -> bool:
        """True when every value held the band, or each moved the better way (or stayed)
        and the last is better than the first."""
        if all(self.holds(v) for v in values):
            return True
        better = operator.ge if self.operator in (">=", ">") else operator.le
        steps = itertools.pairwise(values)
        return all(better(b, a) for a, b in steps) and values[-1] != values[0]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "capability": self.capability,
            "dimension": self.dimension,
            "level": self.level,
            "metric": self.metric,
            "operator": self.operator,
            "threshold": self.threshold,
            "trend": self.trend,
            "applies": self.applies.text if self.applies else None,
            "max_age_days": self.max_age_days,
            "description": self.description,
            "rationale": self.rationale,
            "improve": self.improve,
        }


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
    survey: SurveyPolicy
    max_age_days: int
    levels: tuple[int, ...]  # the levels rules are written for: the catalogue's above the first
    metric_policy: MetricPolicy
    confidence: ConfidencePolicy
    history_cycles: int  # the earlier cycles a trend rule reads
    rationales: dict[tuple[str, str], str]  # each cell's rationale, as written
    bands: str = ""  # where the thresholds come from

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "rules": [r.to_json() for r in self.rules]}

    def cell(self, capability: str, dimension: str) -> dict[int, list[Rule]]:
        """The rules of one capability x dimension, by level (2 to 5)."""
        return self._cells.get((capability, dimension)) or {level: [] for level in self.levels}

    @cached_property
    def _cells(self) -> dict[tuple[str, str], dict[int, list[Rule]]]:
        cells: dict[tuple[str, str], dict[int, list[Rule]]] = {}
        for rule in self.rules:
            key = (rule.capability, rule.dimension)
            cells.setdefault(key, {level: [] for level in self.levels})[rule.level].append(rule)
        return cells


def _parse_rule(path: Path, where: str, text: str) -> tuple[str, str, Any]:
    match = _RULE.match(str(text))
    if not match:
        raise ConfigurationError(
            f"{path}: {where}: cannot read rule {text!r}; write 'metric >= threshold', or "
            "'metric held >= threshold or improved' for a rule on history"
        )
    metric, op, threshold = match.groups()
    return metric, op, _number(path, where, threshold)


def _number(path: Path, where: str, threshold: str) -> Any:
    try:
        return yaml_number(threshold)
    except ValueError as exc:
        raise ConfigurationError(
            f"{path}: {where}: threshold {threshold!r} is not a number"
        ) from exc


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
    shown = format_value(metric, threshold) if definition else f"{threshold:g}"
    return f"{what}: {_WORDS_OF[op]} {shown}"


_WORDS_OF = {">=": "at least", ">": "more than", "<=": "at most", "<": "less than"}


def _describe_trend(
    metric: str, op: str, threshold: float, planned: Mapping[str, PlannedMetric], cycles: int
) -> str:
    what = _what(metric, planned)
    shown = format_value(metric, threshold)
    return (
        f"{what}: held {_WORDS_OF[op]} {shown}, or improved, over this cycle and the "
        f"{cycles} before"
    )


def _improve_trend(
    metric: str, op: str, threshold: float, planned: Mapping[str, PlannedMetric]
) -> str:
    what = _what(metric, planned)
    return (
        f"Keep the {what[0].lower()}{what[1:]} at {format_value(metric, threshold)} or "
        "better, or improving, cycle after cycle."
    )


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
    history_cycles: int,
) -> Iterator[Rule]:
    where = f"cells.{capability}.{dimension}"
    levels = catalog.level_numbers[1:]  # level 1 is where every capability starts
    unknown = set(spec) - CELL_SETTINGS - set(levels)
    if unknown:
        raise ConfigurationError(
            f"{path}: {where}: unknown key {sorted(map(str, unknown))[0]!r}; use ladder, a "
            f"level {levels[0]} to {levels[-1]}, applies, max_age_days, rationale or improve"
        )
    applies = None
    if "applies" in spec:
        metric, op, threshold = _parse_rule(path, f"{where}.applies", spec["applies"])
        applies = Condition(metric, op, float(threshold))
    age = int(spec.get("max_age_days", max_age_days))

    def rule(level: int, metric: str, op: str, threshold: float, trend: bool = False) -> Rule:
        describe = (
            _describe_trend(metric, op, threshold, planned, history_cycles)
            if trend
            else _describe(metric, op, threshold, planned)
        )
        return Rule(
            id=f"{capability}.{dimension}.L{level}.{metric}",
            capability=capability,
            dimension=dimension,
            level=level,
            metric=metric,
            operator=op,
            threshold=threshold,
            description=describe,
            rationale=_rationale(catalog, capability, level, spec.get("rationale")),
            improve=str(
                spec.get("improve")
                or (_improve_trend if trend else _improve)(metric, op, threshold, planned)
            ),
            max_age_days=age,
            applies=applies,
            trend=trend,
        )

    if "ladder" in spec:
        metric, op, thresholds = _parse_rule(path, where, spec["ladder"])
        if not isinstance(thresholds, list) or len(thresholds) != len(levels):
            raise ConfigurationError(
                f"{path}: {where}: a ladder needs {_WORDS.get(len(levels), len(levels))} "
                f"thresholds, for levels {levels[0]} to {levels[-1]}"
            )
        for level, threshold in zip(levels, thresholds, strict=True):
            yield rule(level, metric, op, threshold)
    for level in levels:
        for text in spec.get(level, []):
            trend = _TREND.match(str(text))
            if trend:
                metric, op, threshold = trend.groups()
                yield rule(level, metric, op, _number(path, f"{where}.{level}", threshold), True)
                continue
            metric, op, threshold = _parse_rule(path, f"{where}.{level}", text)
            yield rule(level, metric, op, threshold)


def build_rubric(path: Path, raw: Any, catalog: Catalog) -> Rubric:
    try:
        planned = {
            name: PlannedMetric(name, spec["kind"], spec["description"])
            for name, spec in (raw.get("planned_metrics") or {}).items()
        }
        max_age = int(raw["max_evidence_age_days"])
        survey_spec = raw["survey"]
        survey = SurveyPolicy(
            weight=float(survey_spec["weight"]),
            min_answers=int(survey_spec["min_answers"]),
            rule=str(survey_spec["rule"]),
            lowest=catalog.lowest_level,
            highest=catalog.highest_level,
            max_age_days=int(survey_spec["max_age_days"]),
            cap_level=int(survey_spec["cap_level"]),
        )
        confidence_spec = raw["confidence"]
        confidence = ConfidencePolicy(
            full_sample=int(confidence_spec["full_sample"]),
            stale_factor=float(confidence_spec["stale_factor"]),
            low_below=float(confidence_spec["low_below"]),
            agreement=float(confidence_spec["agreement"]),
            divergence=float(confidence_spec["divergence"]),
            survey=float(confidence_spec["survey"]),
            rule=str(confidence_spec["rule"]),
        )
        history_cycles = int(raw["history_cycles"])
        policy = raw["metric_policy"]
        metric_policy = MetricPolicy(
            fresh_days=int(policy["fresh_days"]),
            review_days=int(policy["review_days"]),
            serious_risk_severities=tuple(str(s) for s in policy["serious_risk_severities"]),
            application_review_days=int(policy["application_review_days"]),
            vendor_review_days=int(policy["vendor_review_days"]),
            good_vendor_score=float(policy["good_vendor_score"]),
            tolerance=float(policy["tolerance"]),
        )
        rationales = {
            (capability, dimension): str(spec.get("rationale") or "")
            for capability, dimensions in raw["cells"].items()
            for dimension, spec in dimensions.items()
        }
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
                history_cycles=history_cycles,
            )
        ]
        rubric = Rubric(
            str(raw["version"]),
            str(raw["rollup"]),
            tuple(rules),
            planned,
            survey,
            max_age,
            catalog.level_numbers[1:],
            metric_policy,
            confidence,
            history_cycles,
            rationales,
            str(raw.get("bands") or ""),
        )
    except KeyError as exc:
        raise ConfigurationError(
            f"{path}: malformed rubric: {exc} is missing; every setting the rubric's "
            "scoring uses is written in the file (see btm/data/rubric.yaml)"
        ) from exc
    except (TypeError, AttributeError, ValueError) as exc:
        raise ConfigurationError(f"{path}: malformed rubric ({exc})") from exc
    if not 0 < survey.weight <= 1:
        raise ConfigurationError(f"{path}: survey.weight must be above 0 and at most 1")
    if not catalog.lowest_level <= survey.cap_level <= catalog.highest_level:
        raise ConfigurationError(
            f"{path}: survey.cap_level must be a level of the catalogue, "
            f"{catalog.lowest_level} to {catalog.highest_level}"
        )
    if history_cycles < 1:
        raise ConfigurationError(f"{path}: history_cycles must be at least 1")
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
                    "use a metric from btm/metrics/ or declare it under planned_metrics"
                )


def load_rubric(path: Path = RUBRIC_FILE, catalog: Catalog | None = None) -> Rubric:
    """The rubric in `path` (the shipped one, or the PMO's `BTM_HOME/rubric.yaml`), checked
    against `catalog` (default: the shipped catalogue)."""
    return _load(path, catalog or load_catalog())


@reread_when_changed
def _load(path: Path, catalog: Catalog) -> Rubric:
    return build_rubric(path, read_yaml(path), catalog)
