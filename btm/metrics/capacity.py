"""Metrics on demand and capacity (resources) and on vendors and contracts."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import MetricPolicy, column, count, everything, filled, metric, number, share

if TYPE_CHECKING:
    import pandas as pd

OPEN_DEMAND = ["requested", "planned", "allocated", "closed"]
STAFFED = ["allocated", "closed"]
MANAGED_TIERS = ["strategic", "tactical"]


# resources ----------------------------------------------------------------------------


def _requests(frame: pd.DataFrame) -> pd.Series:
    return (column(frame, "record_type") == "request") & column(frame, "status").isin(OPEN_DEMAND)


@metric(kind="resources")
def demand_plan_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of demand requests (not rejected) covered by an agreed allocation in the
    resource plan."""
    return share(frame, filled(frame, "allocated"), _requests(frame))


@metric(kind="resources")
def resource_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of demand requests and capacity pools with an accountable owner."""
    return share(frame, filled(frame, "owner"), everything(frame))


@metric(kind="resources")
def demand_role_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of demand requests (not rejected) that state the role or skill they need."""
    return share(frame, filled(frame, "role"), _requests(frame))


@metric(kind="resources")
def pool_role_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of demand requests whose role has a capacity pool of the unit (a managed
    supply for the skill)."""
    import pandas as pd

    pools = frame[(column(frame, "record_type") == "pool") & filled(frame, "role")]
    supplied = set(zip(pools["business_unit"], pools["role"], strict=True))
    keys = pd.Series(
        list(zip(frame["business_unit"], column(frame, "role"), strict=True)), index=frame.index
    )
    return share(frame, keys.isin(supplied), _requests(frame), filled(frame, "role"))


@metric(kind="resources")
def resource_tooling_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of demand requests and capacity pools kept in a resource management tool
    rather than a spreadsheet."""
    return share(frame, filled(frame, "tool"), everything(frame))


@metric(kind="resources")
def demand_fulfilment_rate(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of staffed requests (allocated or closed) whose allocation meets the demand,
    within the tolerance (10 %)."""
    staffed = (column(frame, "record_type") == "request") & column(frame, "status").isin(STAFFED)
    met = number(frame, "allocated") >= number(frame, "demand") * (1 - policy.tolerance)
    return share(frame, met, staffed, filled(frame, "allocated"))


@metric(kind="resources")
def demand_forecast_accuracy(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of staffed requests whose actual use is within the tolerance (10 %) of their
    allocation: the plan forecast the demand; unknown when fewer than half of them record
    the actual use."""
    staffed = (column(frame, "record_type") == "request") & column(frame, "status").isin(STAFFED)
    allocated, actual = number(frame, "allocated"), number(frame, "actual")
    accurate = (actual - allocated).abs() <= allocated * policy.tolerance
    return share(frame, accurate, staffed & allocated.notna(), actual.notna())


@metric(kind="resources", unit="count")
def resource_record_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of demand requests and capacity pools of the unit."""
    return count(frame)


# vendors ------------------------------------------------------------------------------


def _managed(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "tier").isin(MANAGED_TIERS)


@metric(kind="vendors")
def vendor_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of vendors with a named relationship owner."""
    return share(frame, filled(frame, "relationship_owner"), everything(frame))


@metric(kind="vendors")
def vendor_review_rate(frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy) -> pd.DataFrame:
    """Share of strategic vendors reviewed against the strategy in the vendor_review_days
    (365) before the cycle's as-of date."""
    import pandas as pd

    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=policy.vendor_review_days)
    reviewed = pd.to_datetime(column(frame, "last_strategy_review"))
    return share(frame, reviewed >= cutoff, column(frame, "tier") == "strategic")


@metric(kind="vendors")
def vendor_performance_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of strategic and tactical vendors whose performance is measured."""
    return share(frame, filled(frame, "performance_score"), _managed(frame))


@metric(kind="vendors")
def vendor_performance_rate(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of strategic and tactical vendors performing at or above the good score (70
    of 100); unknown when fewer than half of them are measured."""
    good = number(frame, "performance_score") >= policy.good_vendor_score
    return share(frame, good, _managed(frame), filled(frame, "performance_score"))


@metric(kind="vendors")
def contract_register_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of vendors whose contract is held in the contract register."""
    return share(frame, column(frame, "in_register") == True, everything(frame))  # noqa: E712


@metric(kind="vendors")
def vendor_standard_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of vendors assessed as preferred or standard suppliers."""
    return share(
        frame, column(frame, "preference").isin(["preferred", "standard"]), everything(frame)
    )


@metric(kind="vendors")
def contract_horizon_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of strategic and tactical vendors whose contract end is known, so renewals
    can be planned."""
    return share(frame, filled(frame, "contract_end"), _managed(frame))


@metric(kind="vendors", unit="count")
def vendor_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of vendors in the unit's register."""
    return count(frame)
