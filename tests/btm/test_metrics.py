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


def test_every_registered_metric_has_a_hand_made_case() -> None:
    assert {name for name, *_ in CASES} == set(METRICS)


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
    table = compute_metrics({"investments": investments}, as_of=AS_OF, policy=POLICY)
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
