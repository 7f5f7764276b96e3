"""Metrics on the financial plan (budgets) and the strategy it serves (objectives)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from btm.metrics.base import (
    UNIT,
    MetricPolicy,
    column,
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

CHANGE = ["grow", "transform"]
LIVE = ["active", "achieved", "missed"]  # objectives that were set, not drafted or dropped
# OKR practice counts 70 % of the key results as success (an objective at 0.7 is on track).
ON_TRACK_PROGRESS = 70.0


# budgets ------------------------------------------------------------------------------


@metric(kind="budgets")
def budget_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of budget lines with an accountable owner."""
    return share(frame, filled(frame, "owner"), everything(frame))


@metric(kind="budgets")
def planning_tooling_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of budget lines kept in a planning system rather than a spreadsheet."""
    return share(frame, filled(frame, "planning_system"), everything(frame))


@metric(kind="budgets")
def budget_objective_link_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of grow and transform budget lines that name the objective they fund."""
    change = column(frame, "category").isin(CHANGE)
    return share(frame, filled(frame, "strategic_objective"), change)


@metric(kind="budgets", links=("objectives",))
def budget_objective_validity(
    frame: pd.DataFrame, as_of: date, *, linked: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """Share of grow and transform budget lines whose objective is one of the strategy or
    OKR tool's objectives (by id or title)."""
    named = known_in(
        column(frame, "strategic_objective"), linked.get("objectives"), "objective_id", "title"
    )
    return share(frame, named, column(frame, "category").isin(CHANGE))


@metric(kind="budgets")
def budget_approval_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of budget lines with an approved amount."""
    return share(frame, filled(frame, "approved"), everything(frame))


@metric(kind="budgets")
def budget_adherence_rate(
    frame: pd.DataFrame, as_of: date, *, policy: MetricPolicy
) -> pd.DataFrame:
    """Share of approved budget lines whose actual spend is within the approved amount
    plus the tolerance (10 %); unknown when fewer than half of them report their spend."""
    approved = number(frame, "approved")
    within = number(frame, "actual") <= approved * (1 + policy.tolerance)
    return share(frame, within, approved.notna(), filled(frame, "actual"))


@metric(kind="budgets")
def change_budget_share(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of the planned amount that grows or transforms the business rather than runs
    it (the run / grow / transform split of IT budgets)."""
    planned = number(frame, "planned")
    change = planned.where(column(frame, "category").isin(CHANGE), 0.0)
    return ratio_of_sums(frame, change, planned, everything(frame))


@metric(kind="budgets", unit="count")
def budget_line_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of budget lines in the unit's plan."""
    return count(frame)


# objectives ---------------------------------------------------------------------------


def _set(frame: pd.DataFrame) -> pd.Series:
    return column(frame, "status").isin(LIVE)


@metric(kind="objectives")
def objective_owner_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of objectives set (active, achieved or missed) with an accountable owner."""
    return share(frame, filled(frame, "owner"), _set(frame))


@metric(kind="objectives")
def objective_capability_mapping(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of objectives set that name the capabilities they need."""
    return share(frame, filled(frame, "capabilities"), _set(frame))


@metric(kind="objectives")
def objective_progress_coverage(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of active objectives that report their progress."""
    return share(frame, filled(frame, "progress"), column(frame, "status") == "active")


@metric(kind="objectives")
def objective_attainment_rate(frame: pd.DataFrame, as_of: date) -> pd.DataFrame:
    """Share of objectives set that were achieved or, still active, are on track (at least
    70 % of their key results, the usual OKR bar); unknown when fewer than half of them
    have an outcome or a progress."""
    status = column(frame, "status")
    progress = number(frame, "progress")
    finished = status.isin(["achieved", "missed"])
    measured = finished | ((status == "active") & progress.notna())
    hits = (status == "achieved") | ((status == "active") & (progress >= ON_TRACK_PROGRESS))
    return share(frame, hits, _set(frame), measured)


@metric(kind="objectives", links=("investments", "budgets"))
def objective_funding_rate(
    frame: pd.DataFrame, as_of: date, *, linked: Mapping[str, pd.DataFrame]
) -> pd.DataFrame:
    """Share of active objectives that at least one investment or budget line funds (names
    by id or title)."""
    import pandas as pd

    links = [
        frame_[["strategic_objective"]]
        for frame_ in (linked.get("investments"), linked.get("budgets"))
        if frame_ is not None and "strategic_objective" in frame_
    ]
    named = pd.concat(links) if links else None
    funded = known_in(column(frame, "objective_id"), named, "strategic_objective") | known_in(
        column(frame, "title"), named, "strategic_objective"
    )
    return share(frame, funded, column(frame, "status") == "active")


@metric(kind="objectives", unit="count")
def objective_count(frame: pd.DataFrame, as_of: date) -> pd.Series:
    """Number of strategic objectives the unit set (active, achieved or missed)."""
    return _set(frame).astype(int).groupby(frame[UNIT]).sum().astype(float)
