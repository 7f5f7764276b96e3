"""Evidence frames -> named metrics per business unit.

Each metric is a small vectorized function over one evidence kind's frame, registered
under a name the rubric refers to. Most are shares (0 to 1) of a well-defined population;
a unit whose population is empty gets NaN for that metric, which scoring reports as
unknown rather than as zero.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

import pandas as pd

UNIT = "business_unit"
ENTERPRISE = "(enterprise)"  # the row of metrics computed over every unit's evidence together
DECIDED = ["approved", "active", "closed"]

Compute = Callable[..., pd.Series]  # (frame, as_of), and the policy when it takes one
MetricUnit = Literal["share", "count", "score"]


@dataclass(frozen=True)
class MetricPolicy:
    """The windows and sets some metrics measure against, read from the rubric's
    `metric_policy` (btm/data/rubric.yaml), so that a PMO changes them in one file."""

    fresh_days: int  # status_freshness: a status updated within this many days (FRESH_DAYS)
    review_days: int  # risk_review_timeliness: reviewed within this many days (REVIEW_DAYS)
    serious_risk_severities: tuple[str, ...]  # risk_mitigation_coverage's population


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    description: str
    compute: Compute
    unit: MetricUnit = "share"

    @property
    def takes_policy(self) -> bool:
        return "policy" in inspect.signature(self.compute).parameters

    def __call__(self, frame: pd.DataFrame, as_of: date, policy: MetricPolicy) -> pd.Series:
        if self.takes_policy:
            return self.compute(frame, as_of, policy=policy)
        return self.compute(frame, as_of)


METRICS: dict[str, Metric] = {}


def metric(*, kind: str, unit: MetricUnit = "share") -> Callable[[Compute], Compute]:
    """Register a metric under its function's name; its docstring is its documentation.
    `unit` says how to read it: a share 0-1 (shown as a percentage), a count or a score."""

    def register(compute: Compute) -> Compute:
        description = " ".join((compute.__doc__ or "").split())
        METRICS[compute.__name__] = Metric(compute.__name__, kind, description, compute, unit)
        return compute

    return register


def share(frame: pd.DataFrame, numerator: pd.Series, population: pd.Series) -> pd.Series:
    """Per unit: rows meeting `numerator` among rows in `population`; NaN when none."""
    units = frame[UNIT]
    hits = (numerator.fillna(False) & population.fillna(False)).astype(int).groupby(units).sum()
    total = population.fillna(False).astype(int).groupby(units).sum()
    return (hits / total.where(total > 0)).astype(float)


def filled(frame: pd.DataFrame, column: str) -> pd.Series:
    if column not in frame:
        return pd.Series(False, index=frame.index)
    return frame[column].notna()


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype="object")


def completeness(frame: pd.DataFrame, fields: list[str]) -> pd.Series:
    """Per unit: the share of the given fields' cells that are filled."""
    cells = pd.DataFrame({f: filled(frame, f) for f in fields}).mean(axis=1)
    return cells.groupby(frame[UNIT]).mean().astype(float)


def everything(frame: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=frame.index)


# investments --------------------------------------------------------------------------


def _decided(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status").isin(DECIDED)


@metric(kind="investments")
def business_case_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of approved, active or closed investments with an approved business case."""
    return share(frame, column(frame, "business_case") == True, _decided(frame))  # noqa: E712


@metric(kind="investments")
def strategic_link_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of investments linked to a strategic objective."""
    return share(frame, filled(frame, "strategic_objective"), everything(frame))


@metric(kind="investments")
def sponsor_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of investments with a named business sponsor."""
    return share(frame, filled(frame, "sponsor"), everything(frame))


@metric(kind="investments")
def decision_body_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of approved, active or closed investments that name the body that approved them."""
    return share(frame, filled(frame, "decision_body"), _decided(frame))


@metric(kind="investments")
def benefit_tracking_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active or closed investments with an expected benefit whose realized
    benefit is recorded."""
    population = column(frame, "status").isin(["active", "closed"]) & (
        pd.to_numeric(column(frame, "expected_benefit"), errors="coerce") > 0
    )
    return share(frame, filled(frame, "realized_benefit"), population)


@metric(kind="investments")
def benefit_realization_ratio(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Realized over expected benefit, summed over closed investments that record both."""
    expected = pd.to_numeric(column(frame, "expected_benefit"), errors="coerce")
    realized = pd.to_numeric(column(frame, "realized_benefit"), errors="coerce")
    closed = (column(frame, "status") == "closed") & (expected > 0) & realized.notna()
    units = frame[UNIT]
    totals = expected.where(closed, 0.0).groupby(units).sum()
    return (realized.where(closed, 0.0).groupby(units).sum() / totals.where(totals > 0)).astype(
        float
    )


@metric(kind="investments")
def spend_within_budget_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active or closed investments whose spend is within their budget."""
    population = column(frame, "status").isin(["active", "closed"]) & filled(frame, "actual_spend")
    return share(frame, column(frame, "actual_spend") <= column(frame, "budget"), population)


@metric(kind="investments")
def investment_record_completeness(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of the optional investment fields (objective, sponsor, body, benefits)
    that are filled."""
    fields = ["strategic_objective", "sponsor", "decision_body", "expected_benefit", "actual_spend"]
    return completeness(frame, fields)


# projects -----------------------------------------------------------------------------


def _active(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status") == "active"


@metric(kind="projects")
def on_schedule_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of completed projects that ended by their planned end, and of active ones
    forecast to."""
    status = column(frame, "status")
    planned = column(frame, "planned_end")
    completed = (status == "completed") & filled(frame, "actual_end")
    forecast = _active(frame) & filled(frame, "forecast_end")
    on_time = (completed & (column(frame, "actual_end") <= planned)) | (
        forecast & (column(frame, "forecast_end") <= planned)
    )
    return share(frame, on_time, completed | forecast)


@metric(kind="projects")
def cost_within_budget_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active or completed projects whose cost is within budget."""
    population = column(frame, "status").isin(["active", "completed"]) & filled(
        frame, "actual_cost"
    )
    return share(frame, column(frame, "actual_cost") <= column(frame, "budget"), population)


@metric(kind="projects")
def health_reporting_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active projects that report a health (green, amber, red)."""
    return share(frame, filled(frame, "health"), _active(frame))


@metric(kind="projects")
def green_health_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active projects reporting a health that are green."""
    return share(
        frame, column(frame, "health") == "green", _active(frame) & filled(frame, "health")
    )


@metric(kind="projects")
def status_freshness(frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy) -> pd.Series:
    """Share of active projects whose status was updated in the 30 days (FRESH_DAYS)
    before the cycle's as-of date."""
    cutoff = pd.Timestamp(as_of - timedelta(days=policy.fresh_days))
    updated = pd.to_datetime(column(frame, "last_status_update"))
    return share(frame, updated >= cutoff, _active(frame))


@metric(kind="projects")
def architecture_review_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of projects (not cancelled) that had an architecture review."""
    population = column(frame, "status") != "cancelled"
    return share(frame, column(frame, "architecture_reviewed") == True, population)  # noqa: E712


@metric(kind="projects")
def investment_link_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of projects that name the investment they deliver."""
    return share(frame, filled(frame, "investment_id"), everything(frame))


@metric(kind="projects")
def forecast_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of active projects with a current forecast end date."""
    return share(frame, filled(frame, "forecast_end"), _active(frame))


@metric(kind="projects")
def project_record_completeness(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of the optional project fields (investment, health, forecast, status date,
    cost) that are filled."""
    fields = ["investment_id", "health", "forecast_end", "last_status_update", "actual_cost"]
    return completeness(frame, fields)


@metric(kind="projects")
def delivery_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of finished projects (completed or cancelled) that were completed."""
    status = column(frame, "status")
    return share(frame, status == "completed", status.isin(["completed", "cancelled"]))


# applications -------------------------------------------------------------------------


@metric(kind="applications")
def application_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of applications with a named owner."""
    return share(frame, filled(frame, "owner"), everything(frame))


@metric(kind="applications")
def application_decision_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of applications with a lifecycle decision (invest, tolerate, migrate or
    eliminate)."""
    return share(frame, filled(frame, "lifecycle_decision"), everything(frame))


@metric(kind="applications")
def application_cost_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of applications with a known annual cost."""
    return share(frame, filled(frame, "annual_cost"), everything(frame))


@metric(kind="applications")
def application_capability_mapping(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of applications mapped to the business capability they serve."""
    return share(frame, filled(frame, "capability_served"), everything(frame))


@metric(kind="applications")
def standards_compliance_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of applications, among those assessed, that comply with the enterprise
    architecture standards."""
    compliant = column(frame, "standards_compliant")
    return share(frame, compliant == True, filled(frame, "standards_compliant"))  # noqa: E712


# decisions ----------------------------------------------------------------------------


@metric(kind="decisions")
def decision_rationale_rate(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of governance decisions with a documented rationale."""
    return share(frame, filled(frame, "rationale"), everything(frame))


# risks --------------------------------------------------------------------------------


def _open_risks(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status") != "closed"


@metric(kind="risks")
def risk_review_timeliness(frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy) -> pd.Series:
    """Share of risks not closed that were reviewed in the 90 days (REVIEW_DAYS) before
    the cycle's as-of date."""
    cutoff = pd.Timestamp(as_of - timedelta(days=policy.review_days))
    reviewed = pd.to_datetime(column(frame, "review_date"))
    return share(frame, reviewed >= cutoff, _open_risks(frame))


@metric(kind="risks")
def risk_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of risks not closed with a named owner."""
    return share(frame, filled(frame, "owner"), _open_risks(frame))


@metric(kind="risks")
def risk_mitigation_coverage(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.Series:
    """Share of high and critical risks not closed that have a mitigation plan."""
    severities = list(policy.serious_risk_severities)
    serious = column(frame, "severity").isin(severities) & _open_risks(frame)
    return share(frame, filled(frame, "mitigation"), serious)


# sizes: what applicability conditions test ---------------------------------------------


def _count(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(UNIT).size().astype(float)


@metric(kind="investments", unit="count")
def investment_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of investments in the unit's portfolio."""
    return _count(frame)


@metric(kind="projects", unit="count")
def project_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of projects of the unit."""
    return _count(frame)


@metric(kind="applications", unit="count")
def application_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of applications the unit owns."""
    return _count(frame)


@metric(kind="risks", unit="count")
def risk_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of technology risks in the unit's register."""
    return _count(frame)


# survey -------------------------------------------------------------------------------


def _median_of_role(frame: pd.DataFrame, role: str) -> pd.Series:
    answers = frame[column(frame, "respondent_role") == role]
    return answers.groupby(UNIT)["score"].median().astype(float)


@metric(kind="survey", unit="score")
def survey_median_executive(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's executives, over every
    capability and dimension."""
    return _median_of_role(frame, "executive")


@metric(kind="survey", unit="score")
def survey_median_business(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's business respondents."""
    return _median_of_role(frame, "business")


@metric(kind="survey", unit="score")
def survey_median_technology(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's technology respondents."""
    return _median_of_role(frame, "technology")


@metric(kind="survey", unit="score")
def survey_median_pmo(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Median self-assessed level (1-5) given by the unit's PMO respondents."""
    return _median_of_role(frame, "pmo")


def compute_metrics(
    evidence: Mapping[str, pd.DataFrame], *, as_of: date, policy: MetricPolicy
) -> pd.DataFrame:
    """One row per business unit, one column per registered metric (NaN = no evidence)."""
    units = sorted(
        {u for frame in evidence.values() if UNIT in frame for u in frame[UNIT].dropna()}
    )
    table = pd.DataFrame(index=pd.Index(units, name="unit"))
    for definition in METRICS.values():
        frame = evidence.get(definition.kind)
        if frame is None or frame.empty:
            table[definition.name] = float("nan")
            continue
        table[definition.name] = definition(frame, as_of, policy).reindex(table.index)
    return table.astype(float)


def enterprise_metrics(
    evidence: Mapping[str, pd.DataFrame], *, as_of: date, policy: MetricPolicy
) -> pd.Series:
    """Every metric over the whole enterprise's evidence, as if it were one unit."""
    pooled = {kind: frame.assign(**{UNIT: ENTERPRISE}) for kind, frame in evidence.items()}
    table = compute_metrics(pooled, as_of=as_of, policy=policy)
    row = table.reindex([ENTERPRISE]).iloc[0]
    return pd.Series(row, index=list(METRICS), dtype=float)
