"""Metrics on governance decisions and the technology risk register."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import (
    MetricPolicy,
    column,
    completeness,
    count,
    everything,
    filled,
    metric,
    share,
)

if TYPE_CHECKING:
    import pandas as pd

# What a board decides when it steers rather than signs off single investments.
DIRECTION = ["strategy", "policy", "architecture"]
FUNDING = ["investment", "program", "strategy"]


# decisions ----------------------------------------------------------------------------


@metric(kind="decisions")
def decision_rationale_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of governance decisions with a documented rationale."""
    return share(frame, filled(frame, "rationale"), everything(frame))


@metric(kind="decisions")
def body_type_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of governance decisions that record the kind of body that took them
    (participative, centralized or needs-based)."""
    return share(frame, filled(frame, "body_type"), everything(frame))


@metric(kind="decisions")
def participative_decision_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of decisions on investments, programmes and strategy taken by a participative
    body (business and technology deciding together, as an investment board does)."""
    funding = column(frame, "decision_object").isin(FUNDING)
    return share(frame, column(frame, "body_type") == "participative", funding)


@metric(kind="decisions")
def strategic_decision_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of governance decisions on strategy, policy or architecture rather than on
    single investments and programmes."""
    return share(frame, column(frame, "decision_object").isin(DIRECTION), everything(frame))


@metric(kind="decisions")
def architecture_decision_rationale(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of decisions on architecture or policy with a documented rationale."""
    population = column(frame, "decision_object").isin(["architecture", "policy"])
    return share(frame, filled(frame, "rationale"), population)


@metric(kind="decisions")
def decision_record_completeness(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Share of the structured decision fields (body type, object, rationale) that are
    filled: decisions kept as records, not minutes."""
    return completeness(frame, ["body_type", "decision_object", "rationale"])


@metric(kind="decisions", unit="count")
def decision_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of governance decisions recorded for the unit."""
    return count(frame)


# risks --------------------------------------------------------------------------------


def _open_risks(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status") != "closed"


def _serious(frame: pd.DataFrame, policy: MetricPolicy) -> pd.Series:
    severities = list(policy.serious_risk_severities)
    return column(frame, "severity").isin(severities) & _open_risks(frame)


@metric(kind="risks")
def risk_review_timeliness(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of risks not closed that were reviewed in the review_days (90) before the
    cycle's as-of date."""
    import pandas as pd

    cutoff = pd.Timestamp(as_of) - pd.Timedelta(days=policy.review_days)
    reviewed = pd.to_datetime(column(frame, "review_date"))
    return share(frame, reviewed >= cutoff, _open_risks(frame))


@metric(kind="risks")
def risk_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of risks not closed with a named owner."""
    return share(frame, filled(frame, "owner"), _open_risks(frame))


@metric(kind="risks")
def risk_rating_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of risks not closed whose severity is rated."""
    return share(frame, filled(frame, "severity"), _open_risks(frame))


@metric(kind="risks")
def risk_mitigation_coverage(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of serious risks (high and critical) not closed that have a mitigation plan."""
    return share(frame, filled(frame, "mitigation"), _serious(frame, policy))


@metric(kind="risks")
def serious_risk_treatment_rate(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of serious risks (high and critical) not closed that are being mitigated,
    not only planned for."""
    return share(frame, column(frame, "status") == "mitigating", _serious(frame, policy))


@metric(kind="risks", unit="count")
def risk_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of technology risks in the unit's register."""
    return count(frame)
