"""Metrics on the application portfolio."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import (
    MetricPolicy,
    column,
    count,
    everything,
    filled,
    metric,
    number,
    ratio_of_sums,
    share,
)

if TYPE_CHECKING:
    import pandas as pd

KEPT = ["invest", "tolerate"]


@metric(kind="applications")
def application_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications with a named owner."""
    return share(frame, filled(frame, "owner"), everything(frame))


@metric(kind="applications")
def application_decision_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications with a lifecycle decision (invest, tolerate, migrate or
    eliminate)."""
    return share(frame, filled(frame, "lifecycle_decision"), everything(frame))


@metric(kind="applications")
def application_cost_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications with a known annual cost."""
    return share(frame, filled(frame, "annual_cost"), everything(frame))


@metric(kind="applications")
def application_capability_mapping(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications mapped to the business capability they serve."""
    return share(frame, filled(frame, "capability_served"), everything(frame))


@metric(kind="applications")
def standards_compliance_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications that comply with the enterprise architecture standards,
    among those assessed; unknown when fewer than half of them are assessed."""
    compliant = column(frame, "standards_compliant") == True  # noqa: E712
    return share(frame, compliant, everything(frame), filled(frame, "standards_compliant"))


@metric(kind="applications")
def standards_assessment_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of applications assessed against the enterprise architecture standards."""
    return share(frame, filled(frame, "standards_compliant"), everything(frame))


@metric(kind="applications")
def application_review_timeliness(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of applications reviewed in the portfolio review of the application_review_days
    (365) before the cycle's as-of date."""
    import pandas as pd

    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=policy.application_review_days)
    reviewed = pd.to_datetime(column(frame, "last_reviewed"))
    return share(frame, reviewed >= cutoff, everything(frame))


@metric(kind="applications")
def kept_cost_share(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of the known annual run cost spent on applications the unit decided to keep
    (invest or tolerate) rather than on those to migrate or eliminate; unknown when fewer
    than half of the applications have both a decision and a cost."""
    cost = number(frame, "annual_cost")
    measured = cost.notna() & filled(frame, "lifecycle_decision")
    kept = cost.where(column(frame, "lifecycle_decision").isin(KEPT), 0.0)
    return ratio_of_sums(frame, kept, cost, everything(frame), measured)


@metric(kind="applications", unit="count")
def application_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of applications the unit owns."""
    return count(frame)
