"""Metrics on investments and projects: the portfolio and its delivery."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import (
    MetricPolicy,
    column,
    completeness,
    count,
    everything,
    filled,
    known_in,
    metric,
    number,
    ratio_of_sums,
    share,
)

if TYPE_CHECKING:
    import pandas as pd

DECIDED = ["approved", "active", "closed"]


def _decided(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status").isin(DECIDED)


# investments --------------------------------------------------------------------------


@metric(kind="investments")
def business_case_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of approved, active or closed investments with an approved business case."""
    return share(frame, column(frame, "business_case") == True, _decided(frame))  # noqa: E712


@metric(kind="investments")
def strategic_link_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of investments linked to a strategic objective."""
    return share(frame, filled(frame, "strategic_objective"), everything(frame))


@metric(kind="investments", links=("objectives",))
def objective_link_validity(
    frame: pd.DataFrame, as_of: date, *, linked: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """Share of investments whose strategic objective names an objective of the strategy
    or OKR tool (by id or title), not a free-text wish."""
    named = known_in(
        column(frame, "strategic_objective"), linked.get("objectives"), "objective_id", "title"
    )
    return share(frame, named, everything(frame))


@metric(kind="investments")
def sponsor_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of investments with a named business sponsor."""
    return share(frame, filled(frame, "sponsor"), everything(frame))


@metric(kind="investments")
def decision_body_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of approved, active or closed investments that name the body that approved them."""
    return share(frame, filled(frame, "decision_body"), _decided(frame))


@metric(kind="investments")
def benefit_case_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of approved, active or closed investments that state an expected benefit."""
    return share(frame, number(frame, "expected_benefit") > 0, _decided(frame))


@metric(kind="investments")
def benefit_tracking_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active or closed investments with an expected benefit whose realized
    benefit is recorded."""
    population = column(frame, "status").isin(["active", "closed"]) & (
        number(frame, "expected_benefit") > 0
    )
    return share(frame, filled(frame, "realized_benefit"), population)


@metric(kind="investments")
def benefit_realization_ratio(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Realized over expected benefit, summed over closed investments with an expected
    benefit; unknown when fewer than half of them record what they realized."""
    expected = number(frame, "expected_benefit")
    realized = number(frame, "realized_benefit")
    closed = (column(frame, "status") == "closed") & (expected > 0)
    return ratio_of_sums(frame, realized, expected, closed, realized.notna())


@metric(kind="investments")
def spend_within_budget_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active or closed investments whose spend is within their budget; unknown
    when fewer than half of them report their spend."""
    population = column(frame, "status").isin(["active", "closed"])
    within = number(frame, "actual_spend") <= number(frame, "budget")
    return share(frame, within, population, filled(frame, "actual_spend"))


@metric(kind="investments")
def change_investment_share(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of the budget of approved, active or closed investments that grows or
    transforms the business (category grow or transform) rather than runs it."""
    budget = number(frame, "budget")
    change = budget.where(column(frame, "category").isin(["grow", "transform"]), 0.0)
    return ratio_of_sums(frame, change, budget, _decided(frame))


@metric(kind="investments")
def investment_record_completeness(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of the optional investment fields (objective, sponsor, body, benefits)
    that are filled."""
    fields = ["strategic_objective", "sponsor", "decision_body", "expected_benefit", "actual_spend"]
    return completeness(frame, fields)


@metric(kind="investments", unit="count")
def investment_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of investments in the unit's portfolio."""
    return count(frame)


# projects -----------------------------------------------------------------------------


def _active(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status") == "active"


@metric(kind="projects")
def on_schedule_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of completed projects that ended by their planned end, and of active ones
    forecast to; unknown when fewer than half of them carry the end date it needs (the
    actual end of a completed project, the forecast of an active one)."""
    status = column(frame, "status")
    planned = column(frame, "planned_end")
    completed = status == "completed"
    active = _active(frame)
    ended = completed & filled(frame, "actual_end")
    forecast = active & filled(frame, "forecast_end")
    on_time = (ended & (column(frame, "actual_end") <= planned)) | (
        forecast & (column(frame, "forecast_end") <= planned)
    )
    return share(frame, on_time, completed | active, ended | forecast)


@metric(kind="projects")
def cost_within_budget_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active or completed projects whose cost is within budget; unknown when
    fewer than half of them report their cost."""
    population = column(frame, "status").isin(["active", "completed"])
    within = number(frame, "actual_cost") <= number(frame, "budget")
    return share(frame, within, population, filled(frame, "actual_cost"))


@metric(kind="projects")
def health_reporting_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active projects that report a health (green, amber, red)."""
    return share(frame, filled(frame, "health"), _active(frame))


@metric(kind="projects")
def green_health_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active projects that are green; unknown when fewer than half of them
    report a health."""
    green = column(frame, "health") == "green"
    return share(frame, green, _active(frame), filled(frame, "health"))


@metric(kind="projects")
def status_freshness(frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy) -> pd.DataFrame:
    """Share of active projects whose status was updated in the fresh_days (30) before
    the cycle's as-of date."""
    import pandas as pd

    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=policy.fresh_days)
    updated = pd.to_datetime(column(frame, "last_status_update"))
    return share(frame, updated >= cutoff, _active(frame))


@metric(kind="projects")
def architecture_review_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of projects (not cancelled) that had an architecture review."""
    population = column(frame, "status") != "cancelled"
    return share(frame, column(frame, "architecture_reviewed") == True, population)  # noqa: E712


@metric(kind="projects")
def investment_link_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of projects that name the investment they deliver."""
    return share(frame, filled(frame, "investment_id"), everything(frame))


@metric(kind="projects", links=("investments",))
def project_investment_validity(
    frame: pd.DataFrame, as_of: date, *, linked: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """Share of projects (not cancelled) whose investment is one the portfolio holds."""
    known = known_in(column(frame, "investment_id"), linked.get("investments"), "investment_id")
    return share(frame, known, column(frame, "status") != "cancelled")


@metric(kind="projects")
def forecast_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active projects with a current forecast end date."""
    return share(frame, filled(frame, "forecast_end"), _active(frame))


@metric(kind="projects")
def project_record_completeness(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of the optional project fields (investment, health, forecast, status date,
    cost) that are filled."""
    fields = ["investment_id", "health", "forecast_end", "last_status_update", "actual_cost"]
    return completeness(frame, fields)


@metric(kind="projects")
def delivery_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of finished projects (completed or cancelled) that were completed."""
    status = column(frame, "status")
    return share(frame, status == "completed", status.isin(["completed", "cancelled"]))


@metric(kind="projects", unit="count")
def project_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of projects of the unit."""
    return count(frame)
