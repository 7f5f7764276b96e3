from datetime import date

import pandas as pd
import pytest

from btm.evidence.files import coerce
from btm.evidence.kinds import kind_named
from btm.metrics import METRICS, compute_metrics, enterprise_metrics
from btm.scoring.rubric import load_rubric
from tests.factories import rows

AS_OF = date(2026, 3, 31)
POLICY = load_rubric().metric_policy


def frame(kind: str, changes: list[dict[str, str]]) -> pd.DataFrame:
    """One row per dict of changes, on top of a valid row of the kind, all in unit A."""
    records = rows(kind, len(changes), business_unit="A")
    for record, change in zip(records, changes, strict=True):
        record.update(change)
    return coerce(pd.DataFrame(records), kind_named(kind)).frame


CASES = [
    (
        "survey_median_executive",
        "survey",
        [
            {"respondent_role": "executive", "score": "4"},
            {"respondent_role": "executive", "score": "5"},
            {"respondent_role": "pmo", "score": "1"},
        ],
        4.5,
    ),
    ("survey_median_business", "survey", [{"respondent_role": "business", "score": "2"}], 2),
    ("survey_median_technology", "survey", [{"respondent_role": "technology"}], 3),
    ("survey_median_pmo", "survey", [{"score": "2"}, {"score": "4"}, {"score": "5"}], 4),
    ("investment_count", "investments", [{}, {}, {}], 3),
    ("project_count", "projects", [{}, {}], 2),
    ("application_count", "applications", [{}], 1),
    ("risk_count", "risks", [{}, {"status": "closed"}], 2),
    ("application_owner_coverage", "applications", [{"owner": ""}, {}, {}, {}], 0.75),
    (
        "application_decision_coverage",
        "applications",
        [{"lifecycle_decision": ""}, {"lifecycle_decision": "eliminate"}],
        0.5,
    ),
    ("application_cost_coverage", "applications", [{"annual_cost": ""}, {}], 0.5),
    ("application_capability_mapping", "applications", [{"capability_served": ""}, {}, {}], 2 / 3),
    (
        "standards_compliance_rate",
        "applications",
        [{"standards_compliant": "no"}, {"standards_compliant": ""}, {}, {}],
        2 / 3,  # the unassessed one is left out
    ),
    ("decision_rationale_rate", "decisions", [{"rationale": ""}, {}, {}, {}], 0.75),
    (
        "risk_review_timeliness",
        "risks",
        [
            {"review_date": "2026-03-01"},  # within 90 days of 2026-03-31
            {"review_date": "2025-12-01"},  # too long ago
            {"review_date": ""},  # never reviewed
            {"review_date": "2025-01-01", "status": "closed"},  # closed: not counted
        ],
        1 / 3,
    ),
    ("risk_owner_coverage", "risks", [{"owner": ""}, {}, {"owner": "", "status": "closed"}], 0.5),
    (
        "risk_mitigation_coverage",
        "risks",
        [
            {"severity": "critical", "mitigation": ""},
            {"severity": "high"},
            {"severity": "low", "mitigation": ""},  # not serious: not counted
        ],
        0.5,
    ),
    (
        "business_case_coverage",
        "investments",
        [
            {"business_case": "yes"},
            {"business_case": "no"},
            {"status": "proposed", "business_case": "no"},
        ],
        0.5,
    ),
    ("strategic_link_rate", "investments", [{}, {"strategic_objective": ""}, {}, {}], 0.75),
    ("sponsor_coverage", "investments", [{"sponsor": ""}, {}], 0.5),
    (
        "decision_body_coverage",
        "investments",
        [{"decision_body": ""}, {}, {}, {"status": "rejected", "decision_body": ""}],
        2 / 3,
    ),
    (
        "benefit_tracking_rate",
        "investments",
        [
            {"realized_benefit": "10"},
            {"realized_benefit": ""},
            {"expected_benefit": "", "realized_benefit": ""},
        ],
        0.5,
    ),
    (
        "benefit_realization_ratio",
        "investments",
        [
            {"status": "closed", "expected_benefit": "100", "realized_benefit": "50"},
            {"status": "closed", "expected_benefit": "300", "realized_benefit": "250"},
            {"status": "active", "realized_benefit": "9999"},
        ],
        0.75,
    ),
    (
        "spend_within_budget_rate",
        "investments",
        [
            {"actual_spend": "1200"},
            {"actual_spend": "900"},
            {"status": "proposed", "actual_spend": "5000"},
        ],
        0.5,
    ),
    (
        "investment_record_completeness",
        "investments",
        [{"sponsor": "", "decision_body": ""}, {}],
        0.8,
    ),
    (
        "on_schedule_rate",
        "projects",
        [
            {"status": "completed", "actual_end": "2026-06-01"},
            {"status": "completed", "actual_end": "2026-07-15"},
            {"forecast_end": "2026-08-01"},
            {"forecast_end": "2026-05-01"},
            {"forecast_end": ""},
        ],
        0.5,
    ),
    (
        "cost_within_budget_rate",
        "projects",
        [{"actual_cost": "600"}, {}, {"status": "cancelled", "actual_cost": "900"}],
        0.5,
    ),
    (
        "health_reporting_rate",
        "projects",
        [{"health": ""}, {}, {}, {"status": "on_hold", "health": ""}],
        2 / 3,
    ),
    ("green_health_rate", "projects", [{"health": "red"}, {}, {"health": ""}], 0.5),
    (
        "status_freshness",
        "projects",
        [
            {"last_status_update": "2026-03-20"},
            {"last_status_update": "2026-01-02"},
            {"last_status_update": ""},
            {"status": "completed", "last_status_update": "2020-01-01"},
        ],
        1 / 3,
    ),
    (
        "architecture_review_rate",
        "projects",
        [
            {"architecture_reviewed": "no"},
            {},
            {"status": "cancelled", "architecture_reviewed": "no"},
        ],
        0.5,
    ),
    ("investment_link_rate", "projects", [{"investment_id": ""}, {}, {}, {}], 0.75),
    ("forecast_coverage", "projects", [{"forecast_end": ""}, {}], 0.5),
    ("project_record_completeness", "projects", [{"investment_id": "", "health": ""}, {}], 0.8),
    (
        "delivery_rate",
        "projects",
        [
            {"status": "completed", "actual_end": "2026-05-01"},
            {"status": "cancelled"},
            {"status": "cancelled"},
            {},
        ],
        1 / 3,
    ),
]


CASES += [
    (
        "objective_count",
        "objectives",
        [{}, {"status": "achieved"}, {"status": "draft"}, {"status": "dropped"}],
        2,
    ),
    ("budget_line_count", "budgets", [{}, {}, {}], 3),
    ("resource_record_count", "resources", [{}, {"record_type": "pool", "status": "active"}], 2),
    ("vendor_count", "vendors", [{}, {}], 2),
    ("decision_count", "decisions", [{}, {}, {}], 3),
    ("benefit_case_coverage", "investments", [{}, {"expected_benefit": ""}], 0.5),
    (
        "change_investment_share",
        "investments",
        [
            {"budget": "300"},  # transform
            {"category": "run", "budget": "700"},
            {"status": "proposed", "budget": "5000"},  # not decided: not counted
        ],
        0.3,
    ),
    (
        "body_type_coverage",
        "decisions",
        [{"body_type": ""}, {}, {}, {}],
        0.75,
    ),
    (
        "participative_decision_rate",
        "decisions",
        [
            {"body_type": "centralized"},
            {},
            {"decision_object": "policy", "body_type": "centralized"},  # not funding
        ],
        0.5,
    ),
    (
        "strategic_decision_rate",
        "decisions",
        [{"decision_object": "strategy"}, {"decision_object": "architecture"}, {}, {}],
        0.5,
    ),
    (
        "architecture_decision_rationale",
        "decisions",
        [
            {"decision_object": "architecture", "rationale": ""},
            {"decision_object": "policy"},
            {"rationale": ""},  # an investment decision: not counted
        ],
        0.5,
    ),
    (
        "decision_record_completeness",
        "decisions",
        [{"rationale": ""}, {}],
        5 / 6,
    ),
    ("risk_rating_coverage", "risks", [{"severity": ""}, {}, {}, {}], 0.75),
    (
        "serious_risk_treatment_rate",
        "risks",
        [
            {"status": "mitigating"},
            {"severity": "critical"},
            {"severity": "low", "status": "mitigating"},  # not serious
        ],
        0.5,
    ),
    (
        "standards_assessment_rate",
        "applications",
        [{"standards_compliant": ""}, {"standards_compliant": "no"}, {}, {}],
        0.75,
    ),
    (
        "application_review_timeliness",
        "applications",
        [{"last_reviewed": "2025-03-01"}, {}, {"last_reviewed": ""}, {}],
        0.5,  # within 365 days of 2026-03-31: the two of 2026-02-15
    ),
    (
        "kept_cost_share",
        "applications",
        [
            {"annual_cost": "300"},
            {"annual_cost": "100", "lifecycle_decision": "eliminate"},
            {"annual_cost": "", "lifecycle_decision": "migrate"},  # no cost: not measured
        ],
        0.75,
    ),
    ("budget_owner_coverage", "budgets", [{"owner": ""}, {}, {}, {}], 0.75),
    ("planning_tooling_rate", "budgets", [{"planning_system": ""}, {}], 0.5),
    (
        "budget_objective_link_rate",
        "budgets",
        [{"strategic_objective": ""}, {}, {"category": "run", "strategic_objective": ""}],
        0.5,
    ),
    ("budget_approval_rate", "budgets", [{"approved": ""}, {}, {}, {}], 0.75),
    (
        "budget_adherence_rate",
        "budgets",
        [
            {"approved": "100", "actual": "105"},  # within the 10 % tolerance
            {"approved": "100", "actual": "120"},
            {"approved": "100", "actual": ""},  # spend not reported
            {"approved": "", "actual": "50"},  # not approved: not counted
        ],
        0.5,
    ),
    (
        "change_budget_share",
        "budgets",
        [{"planned": "300"}, {"category": "run", "planned": "700"}],
        0.3,
    ),
    (
        "objective_owner_coverage",
        "objectives",
        [{"owner": ""}, {}, {"status": "dropped", "owner": ""}],
        0.5,
    ),
    (
        "objective_capability_mapping",
        "objectives",
        [{"capabilities": ""}, {}, {}, {}],
        0.75,
    ),
    (
        "objective_progress_coverage",
        "objectives",
        [{"progress": ""}, {}, {"status": "achieved", "progress": ""}],
        0.5,
    ),
    (
        "objective_attainment_rate",
        "objectives",
        [
            {"status": "achieved"},
            {"status": "missed"},
            {"progress": "80"},
            {"progress": "40"},
            {"progress": ""},  # active, no progress: not measured
        ],
        0.5,
    ),
    (
        "demand_plan_coverage",
        "resources",
        [{"allocated": "", "status": "requested"}, {}, {"status": "rejected", "allocated": ""}],
        0.5,
    ),
    (
        "resource_owner_coverage",
        "resources",
        [{"owner": ""}, {}, {"record_type": "pool", "status": "active"}],
        2 / 3,
    ),
    ("demand_role_coverage", "resources", [{"role": ""}, {}, {}, {}], 0.75),
    (
        "pool_role_coverage",
        "resources",
        [
            {"record_type": "pool", "status": "active", "role": "Data engineer"},
            {},
            {"role": "Tester"},  # no pool for testers
        ],
        0.5,
    ),
    ("resource_tooling_rate", "resources", [{"tool": ""}, {}], 0.5),
    (
        "demand_fulfilment_rate",
        "resources",
        [
            {"demand": "2", "allocated": "1.9"},  # within 10 %
            {"demand": "2", "allocated": "1"},
            {"status": "requested", "allocated": ""},  # not staffed: not counted
        ],
        0.5,
    ),
    (
        "demand_forecast_accuracy",
        "resources",
        [
            {"allocated": "2", "actual": "2.1"},
            {"allocated": "2", "actual": "3"},
            {"allocated": "2", "actual": ""},  # use not reported
        ],
        0.5,
    ),
    ("vendor_owner_coverage", "vendors", [{"relationship_owner": ""}, {}], 0.5),
    (
        "vendor_review_rate",
        "vendors",
        [
            {"last_strategy_review": "2026-01-20"},
            {"last_strategy_review": "2024-06-01"},
            {"tier": "commodity", "last_strategy_review": ""},  # not strategic
        ],
        0.5,
    ),
    (
        "vendor_performance_coverage",
        "vendors",
        [{"performance_score": ""}, {"tier": "tactical"}, {"tier": "commodity"}],
        0.5,
    ),
    (
        "vendor_performance_rate",
        "vendors",
        [{"performance_score": "60"}, {}, {"performance_score": ""}, {"tier": "commodity"}],
        0.5,
    ),
    ("contract_register_coverage", "vendors", [{"in_register": "no"}, {}, {}, {}], 0.75),
    ("vendor_standard_rate", "vendors", [{"preference": ""}, {"preference": "standard"}], 0.5),
    (
        "contract_horizon_coverage",
        "vendors",
        [{"contract_end": ""}, {}, {"tier": "commodity", "contract_end": ""}],
        0.5,
    ),
]

# Metrics across kinds: the frame they measure, and the kind they link to.
Frame = tuple[str, list[dict[str, str]]]
LINK_CASES: list[tuple[str, Frame, Frame, float]] = [
    (
        "objective_link_validity",
        ("investments", [{}, {"strategic_objective": "OBJ-1"}, {"strategic_objective": "Wish"}]),
        ("objectives", [{}]),  # OBJ-1, "Digital first"
        2 / 3,
    ),
    (
        "budget_objective_validity",
        ("budgets", [{}, {"strategic_objective": "Nowhere"}, {"category": "run"}]),
        ("objectives", [{}]),
        0.5,
    ),
    (
        "project_investment_validity",
        ("projects", [{}, {"investment_id": "INV-9"}, {"investment_id": ""}]),
        ("investments", [{}]),  # INV-1
        1 / 3,
    ),
    (
        "objective_funding_rate",
        ("objectives", [{}, {"objective_id": "OBJ-2", "title": "Unfunded"}]),
        ("investments", [{}]),  # names "Digital first"
        0.5,
    ),
]


def test_every_registered_metric_has_a_hand_made_case() -> None:
    names = [name for name, *_ in CASES] + [name for name, *_ in LINK_CASES]
    assert sorted(names) == sorted(METRICS)


@pytest.mark.parametrize(
    ("name", "measured", "linked", "expected"), LINK_CASES, ids=[c[0] for c in LINK_CASES]
)
def test_a_metric_across_kinds_on_hand_made_frames(
    name: str,
    measured: tuple[str, list[dict[str, str]]],
    linked: tuple[str, list[dict[str, str]]],
    expected: float,
) -> None:
    kind, changes = measured
    other = {linked[0]: frame(*linked)}
    assert METRICS[name](frame(kind, changes), AS_OF, POLICY, other)["A"] == pytest.approx(expected)
    assert METRICS[name](frame(kind, changes), AS_OF, POLICY)["A"] == 0  # nothing to link to


@pytest.mark.parametrize(
    ("name", "kind", "changes", "coverage"),
    [
        # 1 of 4 active projects forecasting: unknown, never 100 %
        ("on_schedule_rate", "projects", [{}, *[{"forecast_end": ""}] * 3], 0.25),
        # 1 of 5 applications assessed: unknown, never 100 %
        (
            "standards_compliance_rate",
            "applications",
            [{}, *[{"standards_compliant": ""}] * 4],
            0.2,
        ),
    ],
)
def test_a_metric_on_too_little_of_its_population_is_unknown_with_its_coverage(
    name: str, kind: str, changes: list[dict[str, str]], coverage: float
) -> None:
    measure = METRICS[name].measure(frame(kind, changes), AS_OF, POLICY)
    assert measure["value"].isna()["A"]
    assert measure.loc["A", "coverage"] == pytest.approx(coverage)
    assert measure.loc["A", "n"] == 1


@pytest.mark.parametrize(("name", "kind", "changes", "expected"), CASES, ids=[c[0] for c in CASES])
def test_metric_on_a_hand_made_frame(
    name: str, kind: str, changes: list[dict[str, str]], expected: float
) -> None:
    value = METRICS[name](frame(kind, changes), AS_OF, POLICY)
    assert value["A"] == pytest.approx(expected)


def test_an_empty_population_is_unknown_not_zero() -> None:
    value = METRICS["business_case_coverage"](
        frame("investments", [{"status": "proposed"}]), AS_OF, POLICY
    )
    assert pd.isna(value["A"])


def test_metrics_table_has_every_unit_and_nan_for_missing_kinds() -> None:
    investments = frame("investments", [{}, {"business_unit": "B"}])
    table = compute_metrics({"investments": investments}, as_of=AS_OF, policy=POLICY).values
    assert list(table.index) == ["A", "B"]
    assert set(table.columns) == set(METRICS)
    assert table["on_schedule_rate"].isna().all()
    assert table.loc["B", "sponsor_coverage"] == 1.0


def test_the_enterprise_row_pools_every_units_evidence() -> None:
    retail = frame("investments", [{"business_case": "yes"}, {"business_case": "no"}])
    wealth = frame("investments", [{"business_case": "yes"}]).assign(business_unit="B")
    pooled = pd.concat([retail, wealth], ignore_index=True)
    enterprise = enterprise_metrics({"investments": pooled}, as_of=AS_OF, policy=POLICY)
    assert enterprise["business_case_coverage"] == pytest.approx(2 / 3)
    assert enterprise["investment_count"] == 3
    assert pd.isna(enterprise["on_schedule_rate"])  # no projects at all
