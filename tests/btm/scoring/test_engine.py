"""The engine on rubric 2027.1: staged levels of distinct practices, evidence beating
opinion, missing evidence never beating evidence, and the basis and confidence of every
level."""

from pathlib import Path

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from btm.catalog import load_catalog
from btm.errors import ConfigurationError
from btm.metrics import METRICS
from btm.scoring.engine import CellScore, UnitEvidence, next_level_guidance, score_unit
from btm.scoring.rubric import KNOWN, RUBRIC_FILE, build_rubric, load_rubric
from btm.scoring.survey import Answers

CATALOG = load_catalog()
RUBRIC = load_rubric()
KINDS = sorted({m.kind for m in METRICS.values()})


def metrics(**values: float) -> pd.Series:
    return pd.Series({name: values.get(name, float("nan")) for name in METRICS}, dtype=float)


def cell_of(scores: list[CellScore], capability: str, dimension: str) -> CellScore:
    return next(s for s in scores if (s.capability, s.dimension) == (capability, dimension))


def mti1(evidence: UnitEvidence) -> CellScore:
    return cell_of(score_unit("A", evidence, RUBRIC, CATALOG), "MTI-1", "process")


# the rubric ------------------------------------------------------------------------------


def test_the_rubric_covers_every_cell_at_every_level_with_a_rationale() -> None:
    assert RUBRIC.version == "2027.1"
    for capability in CATALOG.capability_ids:
        for dimension in CATALOG.dimension_ids:
            cell = RUBRIC.cell(capability, dimension)
            assert all(cell[level] for level in (2, 3, 4, 5)), (capability, dimension)
            rationale = RUBRIC.rationales[(capability, dimension)]
            assert len(rationale) > 80 and "(2)" in rationale and "(4)" in rationale


def test_every_level_2_rule_is_answered_by_system_evidence() -> None:
    for rule in RUBRIC.rules:
        if rule.level == 2:
            assert rule.metric in METRICS and METRICS[rule.metric].kind != "survey", rule.id
    assert RUBRIC.planned == {}


def test_each_level_is_a_distinct_practice_and_no_two_cells_share_rules() -> None:
    sets: dict[frozenset[tuple[int, str]], tuple[str, str]] = {}
    for capability in CATALOG.capability_ids:
        for dimension in CATALOG.dimension_ids:
            cell = RUBRIC.cell(capability, dimension)
            used = {r.metric for rules in cell.values() for r in rules}
            assert len(used) >= 2, (capability, dimension)
            # level 5 reads the history of the level-4 outcome
            (top,) = cell[5]
            assert top.trend and top.metric in {r.metric for r in cell[4]}
            key = frozenset((r.level, r.text) for rules in cell.values() for r in rules)
            assert key not in sets, (capability, dimension, sets.get(key))
            sets[key] = (capability, dimension)


def test_a_rule_naming_an_unknown_metric_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    raw["cells"]["MTI-1"]["process"][2] = ["business_case_coverge >= 0.5"]
    with pytest.raises(ConfigurationError, match="unknown metric 'business_case_coverge'"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


def test_a_rule_that_cannot_be_read_names_both_forms(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    raw["cells"]["MTI-1"]["process"][5] = ["benefit_realization_ratio held 0.9 or better"]
    with pytest.raises(ConfigurationError, match=r"cells\.MTI-1\.process\.5: cannot read.*held"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


def test_a_cell_without_rules_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    del raw["cells"]["GO-3"]["technology"]
    with pytest.raises(ConfigurationError, match=r"GO-3\.technology has no level-2 rule"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


def test_a_survey_cap_outside_the_levels_is_refused(tmp_path: Path) -> None:
    raw = yaml.safe_load(RUBRIC_FILE.read_text())
    raw["survey"]["cap_level"] = 7
    with pytest.raises(ConfigurationError, match=r"survey\.cap_level"):
        build_rubric(tmp_path / "rubric.yaml", raw, CATALOG)


def test_every_rule_carries_its_description_rationale_and_improvement() -> None:
    for rule in RUBRIC.rules:
        assert rule.description and rule.rationale.startswith(f"Level {rule.level} (")
        assert rule.improve.endswith(".") and rule.max_age_days > 0


# staged practices ------------------------------------------------------------------------

PRACTICE = {"business_case_coverage": 0.9, "benefit_case_coverage": 0.6}


@pytest.mark.parametrize(
    ("values", "history", "level"),
    [
        ({"business_case_coverage": 0.3}, {}, 1),
        ({"business_case_coverage": 0.6}, {}, 2),  # exists and is recorded
        ({"business_case_coverage": 0.9}, {}, 2),  # consistent, but not defined: B unknown
        (PRACTICE, {}, 3),  # defined and applied across the unit
        ({**PRACTICE, "benefit_realization_ratio": 0.6}, {}, 4),  # managed to outcomes
        # improving: 0.5, 0.55 then 0.6 over three cycles
        (
            {**PRACTICE, "benefit_realization_ratio": 0.6},
            {"benefit_realization_ratio": [0.5, 0.55]},
            5,
        ),
        # held the Fully band
        (
            {**PRACTICE, "benefit_realization_ratio": 0.9},
            {"benefit_realization_ratio": [0.95, 0.88]},
            5,
        ),
        # fell back: neither held nor improved
        (
            {**PRACTICE, "benefit_realization_ratio": 0.6},
            {"benefit_realization_ratio": [0.7, 0.65]},
            4,
        ),
        # one cycle of history where two are needed
        ({**PRACTICE, "benefit_realization_ratio": 0.6}, {"benefit_realization_ratio": [0.5]}, 4),
    ],
)
def test_levels_are_staged_practices(
    values: dict[str, float], history: dict[str, list[float]], level: int
) -> None:
    cell = mti1(UnitEvidence(metrics(**values), history=history))
    assert cell.level == level and cell.basis == "system"


def test_no_evidence_gives_unknown_never_an_invented_level() -> None:
    scores = score_unit("A", metrics(), RUBRIC, CATALOG)
    assert {s.level for s in scores} == {None}
    assert {s.basis for s in scores} <= {"unknown", "not_applicable"}
    vendors = cell_of(scores, "SP-3", "process")
    assert vendors.outcomes[0].outcome == "unknown"
    assert "vendors" in vendors.outcomes[0].reason


def test_the_trace_keeps_every_rule_with_its_value_coverage_and_sample() -> None:
    evidence = UnitEvidence(
        metrics(business_case_coverage=0.6),
        sizes=metrics(business_case_coverage=40),
        coverage=metrics(business_case_coverage=1.0),
    )
    trace = mti1(evidence).trace()
    assert [t["outcome"] for t in trace] == ["pass", "fail", "unknown", "unknown", "unknown"]
    assert trace[0] == {
        "rule": "MTI-1.process.L2.business_case_coverage",
        "level": 2,
        "metric": "business_case_coverage",
        "operator": ">=",
        "threshold": 0.5,
        "trend": False,
        "value": 0.6,
        "coverage": 1.0,
        "n": 40.0,
        "stale": False,
        "outcome": "pass",
        "reason": "",
        "description": "Share of approved, active or closed investments with an approved "
        "business case: at least 50 %",
        "improve": "Raise the share of approved, active or closed investments with an "
        "approved business case to 50 %.",
    }


def test_a_metric_on_too_little_of_its_population_is_unknown_with_its_coverage() -> None:
    # 1 of 4 active projects forecasting: on_schedule_rate is unknown, not 100 %
    evidence = UnitEvidence(
        metrics(forecast_coverage=0.95, health_reporting_rate=0.9),
        sizes=metrics(on_schedule_rate=1),
        coverage=metrics(on_schedule_rate=0.25),
    )
    cell = cell_of(score_unit("A", evidence, RUBRIC, CATALOG), "MTI-4", "process")
    on_schedule = next(o for o in cell.outcomes if o.rule.metric == "on_schedule_rate")
    assert on_schedule.outcome == "unknown"
    assert on_schedule.reason == (
        "measured on 25 % of its population (1 rows); needs 50 % to be known"
    )
    assert cell.level == 3  # the practice is defined; its outcome is not known


# evidence beats opinion ------------------------------------------------------------------


def survey(median: float, count: int = 3, age: int = 10) -> dict[tuple[str, str], Answers]:
    return {
        (capability, dimension): Answers(median, count, age)
        for capability in CATALOG.capability_ids
        for dimension in CATALOG.dimension_ids
    }


def test_stale_evidence_keeps_the_cell_and_the_survey_never_takes_it_over() -> None:
    low = metrics(business_case_coverage=0.3)
    fresh = mti1(UnitEvidence(low))
    stale = mti1(
        UnitEvidence(low, ages={"investments": RUBRIC.max_age_days + 1}, survey=survey(5.0))
    )
    assert (fresh.level, fresh.basis, fresh.stale) == (1, "system", False)
    assert (stale.level, stale.basis, stale.stale) == (1, "blended", True)
    assert "days old; this rule allows 200" in stale.outcomes[0].reason
    assert stale.survey is not None and stale.survey.divergence == 4  # says 5, shows 1
    assert stale.survey.text.startswith("the unit says 5, its systems show 1")


def test_a_rule_that_does_not_apply_makes_the_cell_not_applicable_with_its_reason() -> None:
    small = metrics(investment_count=2, benefit_tracking_rate=0.9)
    cell = cell_of(score_unit("A", small, RUBRIC, CATALOG), "MTI-2", "process")
    assert (cell.level, cell.basis) == (None, "not_applicable")
    assert "applies when investment_count >= 3" in cell.reason
    assert cell.trace()[-1]["rule"] == "cell"
    large = metrics(investment_count=12, benefit_tracking_rate=0.1)
    assert cell_of(score_unit("A", large, RUBRIC, CATALOG), "MTI-2", "process").level == 1


def test_the_survey_alone_is_capped_and_shown_as_such() -> None:
    evidence = UnitEvidence(metrics(), survey=survey(4.0))
    vendors = cell_of(score_unit("A", evidence, RUBRIC, CATALOG), "SP-3", "process")
    assert (vendors.level, vendors.basis) == (RUBRIC.survey.cap_level, "survey")
    assert vendors.says == 4 and vendors.confidence == RUBRIC.confidence.survey
    assert "no system evidence judged it" in vendors.trace()[-1]["reason"]
    one_answer = UnitEvidence(metrics(), survey={("SP-3", "process"): Answers(5.0, 1, 0)})
    lone = cell_of(score_unit("A", one_answer, RUBRIC, CATALOG), "SP-3", "process")
    assert (lone.level, lone.basis) == (None, "unknown")


def test_confidence_comes_from_coverage_sample_and_age() -> None:
    values = metrics(business_case_coverage=0.6)
    full = mti1(UnitEvidence(values, sizes=metrics(business_case_coverage=30)))
    few = mti1(UnitEvidence(values, sizes=metrics(business_case_coverage=3)))
    partial = mti1(
        UnitEvidence(
            values,
            sizes=metrics(business_case_coverage=30),
            coverage=metrics(business_case_coverage=0.6),
        )
    )
    old = mti1(UnitEvidence(values, ages={"investments": 400}))
    assert full.confidence == 1.0
    assert few.confidence == pytest.approx((3 / 30) ** 0.5, abs=0.01)
    assert partial.confidence == 0.6
    assert old.confidence == RUBRIC.confidence.stale_factor
    assert RUBRIC.confidence.is_low(few.confidence)


def test_a_survey_that_agrees_adds_confidence_one_that_diverges_takes_it() -> None:
    values = metrics(business_case_coverage=0.6)
    sizes = metrics(business_case_coverage=10)
    alone = mti1(UnitEvidence(values, sizes=sizes))
    agrees = mti1(UnitEvidence(values, sizes=sizes, survey=survey(2.0)))
    diverges = mti1(UnitEvidence(values, sizes=sizes, survey=survey(5.0)))
    assert alone.level == agrees.level == diverges.level == 2  # the survey never moves it
    assert agrees.basis == diverges.basis == "blended"
    assert agrees.confidence is not None and alone.confidence is not None
    assert diverges.confidence is not None
    assert agrees.confidence > alone.confidence > diverges.confidence


# properties ------------------------------------------------------------------------------

shares = st.one_of(st.none(), st.floats(min_value=0, max_value=1, allow_nan=False))
counts = st.one_of(st.none(), st.integers(min_value=0, max_value=20).map(float))
metric_values = st.fixed_dictionaries(
    {name: counts if METRICS[name].unit == "count" else shares for name in METRICS}
)
histories = st.dictionaries(
    st.sampled_from(sorted(METRICS)),
    st.lists(st.one_of(st.none(), st.floats(0, 1, allow_nan=False)), min_size=0, max_size=2),
)
surveys: st.SearchStrategy[dict[tuple[str, str], Answers]] = st.one_of(
    st.just({}),
    st.builds(
        survey,
        st.floats(min_value=1, max_value=5),
        st.integers(min_value=0, max_value=6),
        st.integers(min_value=0, max_value=150),
    ),
)


def _series(values: dict[str, float | None]) -> pd.Series:
    return pd.Series({k: float("nan") if v is None else v for k, v in values.items()}, dtype=float)


def _levels(evidence: UnitEvidence) -> list[int | None]:
    return [s.level for s in score_unit("A", evidence, RUBRIC, CATALOG)]


def _never_raised(before: list[int | None], after: list[int | None]) -> None:
    for old, new in zip(before, after, strict=True):
        if new is not None:
            assert old is not None and new <= old


@settings(max_examples=50, deadline=None)
@given(metric_values, histories, surveys, st.sampled_from(sorted(METRICS)))
def test_removing_evidence_never_raises_a_level(values, history, answers, name) -> None:
    before = _levels(UnitEvidence(_series(values), survey=answers, history=history))
    removed = {**values, name: None}
    after = _levels(UnitEvidence(_series(removed), survey=answers, history=history))
    lost_history = {**history, name: []}
    forgotten = _levels(UnitEvidence(_series(values), survey=answers, history=lost_history))
    for worse in (after, forgotten):
        for old, new in zip(before, worse, strict=True):
            if new is not None and old is not None:
                assert new <= old
            if old is None and new is not None:
                # a cell unknown on the full evidence stays unknown, or the capped survey's
                assert new <= RUBRIC.survey.cap_level


@settings(max_examples=50, deadline=None)
@given(metric_values, histories, surveys, st.sampled_from(KINDS), st.integers(201, 900))
def test_making_evidence_stale_never_raises_a_level(values, history, answers, kind, age) -> None:
    fresh = UnitEvidence(_series(values), survey=answers, history=history)
    stale = UnitEvidence(_series(values), ages={kind: age}, survey=answers, history=history)
    assert _levels(stale) == _levels(fresh)  # stale evidence still judges; it raises nothing
    flagged = score_unit("A", stale, RUBRIC, CATALOG)
    assert all(s.confidence is None or s.confidence <= 1 for s in flagged)


@settings(max_examples=50, deadline=None)
@given(metric_values, surveys)
def test_a_cell_that_does_not_apply_is_never_raised(values, answers) -> None:
    before = _levels(UnitEvidence(_series(values), survey=answers))
    small = {**values, "investment_count": 0.0, "application_count": 0.0}
    after = score_unit("A", UnitEvidence(_series(small), survey=answers), RUBRIC, CATALOG)
    _never_raised(before, [s.level for s in after])
    assert cell_of(after, "MTI-2", "process").basis == "not_applicable"
    assert cell_of(after, "SEA-5", "organization").basis == "not_applicable"


@settings(max_examples=50, deadline=None)
@given(metric_values, histories, surveys)
def test_survey_answers_never_lift_a_cell_past_the_cap(values, history, answers) -> None:
    without = _levels(UnitEvidence(_series(values), history=history))
    with_survey = _levels(UnitEvidence(_series(values), history=history, survey=answers))
    for old, new in zip(without, with_survey, strict=True):
        if old is not None:
            assert new == old  # a level judged on system evidence is the systems'
        elif new is not None:
            assert new <= RUBRIC.survey.cap_level


@settings(max_examples=50, deadline=None)
@given(
    metric_values,
    histories,
    surveys,
    st.sampled_from(sorted(METRICS)),
    st.floats(min_value=0, max_value=1),
)
def test_improving_a_metric_never_lowers_a_level(values, history, answers, name, better) -> None:
    before = _levels(UnitEvidence(_series(values), survey=answers, history=history))
    current = values[name]
    improved = {**values, name: max(better, current) if current is not None else better}
    after = _levels(UnitEvidence(_series(improved), survey=answers, history=history))
    for old, new in zip(before, after, strict=True):
        if old is not None:
            assert new is not None and new >= old


@settings(max_examples=30, deadline=None)
@given(metric_values, histories, surveys)
def test_the_same_evidence_gives_the_same_scores(values, history, answers) -> None:
    evidence = UnitEvidence(_series(values), survey=answers, history=history)
    first = score_unit("A", evidence, RUBRIC, CATALOG)
    second = score_unit("A", evidence, RUBRIC, CATALOG)
    assert [(s.level, s.basis, s.confidence, s.trace()) for s in first] == [
        (s.level, s.basis, s.confidence, s.trace()) for s in second
    ]
    for s in first:
        assert s.level is None or 1 <= s.level <= 5
        if s.basis in ("system", "blended"):
            assert s.level is not None and s.confidence is not None
            assert any(o.outcome in KNOWN for o in s.outcomes if o.rule.level == 2)
            cleared = {o.rule.level for o in s.outcomes if o.outcome == "pass"}
            assert set(range(2, s.level + 1)) <= cleared


# what the next level needs ---------------------------------------------------------------


def test_the_next_level_names_its_failing_rules_with_value_and_threshold() -> None:
    cell = mti1(UnitEvidence(metrics(business_case_coverage=0.63, benefit_case_coverage=0.7)))
    (guidance,) = next_level_guidance(cell.trace(), cell.level)
    assert cell.level == 2 and guidance.level == 3
    assert guidance.text == "business case coverage 63 %, needs >= 85 %"
    assert guidance.improve.startswith("Raise the share")


def test_the_top_level_needs_nothing_more() -> None:
    values = metrics(**PRACTICE, benefit_realization_ratio=0.95)
    top = mti1(UnitEvidence(values, history={"benefit_realization_ratio": [0.9, 0.92]}))
    assert top.level == 5 and next_level_guidance(top.trace(), top.level) == []


def test_a_rule_on_history_says_what_it_still_needs() -> None:
    cell = mti1(UnitEvidence(metrics(**PRACTICE, benefit_realization_ratio=0.6)))
    (guidance,) = next_level_guidance(cell.trace(), cell.level)
    assert cell.level == 4 and guidance.level == 5
    assert "needs this metric in the 2 cycles before; 0 stored" in guidance.text
