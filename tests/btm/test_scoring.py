from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from btm.catalog import load_catalog
from btm.errors import ConfigurationError
from btm.metrics import METRICS
from btm.scoring import RUBRIC_FILE, build_rubric, load_rubric, score_unit

CATALOG = load_catalog()
RUBRIC = load_rubric()


def level_of(scores, capability: str, dimension: str) -> int | None:
    return next(s.level for s in scores if (s.capability, s.dimension) == (capability, dimension))


def metrics(**values: float) -> pd.Series:
    return pd.Series({name: values.get(name, float("nan")) for name in METRICS}, dtype=float)


def test_the_rubric_covers_every_capability_and_dimension_at_every_level() -> None:
    for capability in CATALOG.capability_ids:
        for dimension in CATALOG.dimension_ids:
            cell = RUBRIC.cell(capability, dimension)
            assert all(cell[level] for level in (2, 3, 4, 5)), (capability, dimension)


@pytest.mark.parametrize(("value", "level"), [(0.1, 1), (0.5, 2), (0.7, 3), (0.82, 4), (0.95, 5)])
def test_levels_are_staged_on_the_thresholds(value: float, level: int) -> None:
    scores = score_unit("A", metrics(business_case_coverage=value), RUBRIC, CATALOG)
    assert level_of(scores, "MTI-1", "process") == level


def test_a_failed_higher_rule_caps_the_level() -> None:
    # on schedule enough for 5, but cost control only good enough for 3
    scores = score_unit(
        "A", metrics(on_schedule_rate=0.95, cost_within_budget_rate=0.5), RUBRIC, CATALOG
    )
    assert level_of(scores, "MTI-4", "process") == 3


def test_no_evidence_gives_unknown_never_an_invented_level() -> None:
    scores = score_unit("A", metrics(), RUBRIC, CATALOG)
    assert {s.level for s in scores} == {None}
    planned = next(s for s in scores if (s.capability, s.dimension) == ("SP-3", "process"))
    assert planned.outcomes[0].outcome == "unknown"
    assert "vendors" in planned.outcomes[0].reason


def test_the_trace_keeps_every_rule_with_its_value() -> None:
    scores = score_unit("A", metrics(business_case_coverage=0.6), RUBRIC, CATALOG)
    cell = next(s for s in scores if (s.capability, s.dimension) == ("MTI-1", "process"))
    trace = cell.trace()
    assert [t["outcome"] for t in trace] == ["pass", "fail", "fail", "fail"]
    assert trace[2] == {
        "rule": "MTI-1.process.L4.business_case_coverage",
        "level": 4,
        "metric": "business_case_coverage",
        "operator": ">=",
        "threshold": 0.8,
        "value": 0.6,
        "outcome": "fail",
        "reason": "",
    }


def test_a_rule_naming_an_unknown_metric_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    raw["cells"]["MTI-1"]["process"] = {"ladder": "business_case_coverge >= [0.4, 0.5, 0.6, 0.7]"}
    with pytest.raises(ConfigurationError, match="unknown metric 'business_case_coverge'"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


def test_a_cell_without_rules_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    del raw["cells"]["GO-3"]["technology"]
    with pytest.raises(ConfigurationError, match=r"GO-3\.technology has no level-2 rule"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


shares = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False))
metric_values = st.fixed_dictionaries({name: shares for name in METRICS})


def _series(values: dict[str, float | None]) -> pd.Series:
    return pd.Series({k: float("nan") if v is None else v for k, v in values.items()}, dtype=float)


@settings(max_examples=60, deadline=None)
@given(metric_values, st.sampled_from(sorted(METRICS)), st.floats(min_value=0, max_value=1))
def test_improving_a_metric_never_lowers_a_level(values, name, better) -> None:
    before = score_unit("A", _series(values), RUBRIC, CATALOG)
    current = values[name]
    improved = {**values, name: max(better, current) if current is not None else better}
    after = score_unit("A", _series(improved), RUBRIC, CATALOG)
    for old, new in zip(before, after, strict=True):
        if old.level is not None:
            assert new.level is not None and new.level >= old.level


@settings(max_examples=40, deadline=None)
@given(metric_values)
def test_same_metrics_same_scores_within_bounds(values) -> None:
    first = score_unit("A", _series(values), RUBRIC, CATALOG)
    second = score_unit("A", _series(values), RUBRIC, CATALOG)
    assert [(s.level, s.trace()) for s in first] == [(s.level, s.trace()) for s in second]
    assert all(s.level is None or 1 <= s.level <= 5 for s in first)
    for s in first:
        passed_levels = {o.rule.level for o in s.outcomes if o.outcome == "pass"}
        if s.level is not None and s.level > 1:
            assert set(range(2, s.level + 1)) <= passed_levels
        unknown_at_2 = all(o.outcome == "unknown" for o in s.outcomes if o.rule.level == 2)
        assert (s.level is None) == unknown_at_2
