"""Evidence frames -> named metrics per business unit.

Each metric is a small vectorized function over one evidence kind's frame, registered
under a name the rubric refers to (see `btm/metrics/base.py`); the modules here group
them by the evidence they read. Most are shares (0 to 1) of a well-defined population,
reported with how many rows they measured and which share of the population that is.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from btm.metrics import architecture, capacity, governance, planning, portfolio, survey
from btm.metrics.base import METRICS, MIN_COVERAGE, UNIT, Metric, MetricPolicy

if TYPE_CHECKING:
    import pandas as pd

ENTERPRISE = "(enterprise)"  # the row of metrics computed over every unit's evidence together
MODULES = (portfolio, governance, architecture, planning, capacity, survey)  # registered above

__all__ = [
    "ENTERPRISE",
    "METRICS",
    "MIN_COVERAGE",
    "MODULES",
    "UNIT",
    "Metric",
    "MetricPolicy",
    "MetricTable",
    "compute_metrics",
    "enterprise_metrics",
]


@dataclass(frozen=True)
class MetricTable:
    """One row per business unit and one column per registered metric, three times: the
    values (NaN = unknown), the rows each value was measured on, and the share of its
    population that is."""

    values: pd.DataFrame
    sizes: pd.DataFrame
    coverage: pd.DataFrame

    def row(self, unit: str) -> tuple[pd.Series, pd.Series, pd.Series]:
        """One unit's values, sizes and coverage, each a Series by metric name."""
        import pandas as pd

        values, sizes, coverage = (
            pd.Series(table.loc[unit], dtype=float)
            for table in (self.values, self.sizes, self.coverage)
        )
        return values, sizes, coverage


def compute_metrics(
    evidence: Mapping[str, pd.DataFrame], *, as_of: date, policy: MetricPolicy
) -> MetricTable:
    """Every registered metric per business unit; NaN where a unit has no evidence for it,
    or too little of its population carries the fields it needs."""
    import pandas as pd

    # Every metric groups by unit: a unit column as categories is factorized once here,
    # not once per metric (a tenth of the time at a million rows)
    evidence = {kind: _by_unit(frame) for kind, frame in evidence.items()}
    units = sorted(
        {u for frame in evidence.values() if UNIT in frame for u in frame[UNIT].dropna().unique()}
    )
    index = pd.Index(units, name="unit")
    values, sizes, coverage = {}, {}, {}
    nothing = pd.Series(float("nan"), index=index)
    for definition in METRICS.values():
        frame = evidence.get(definition.kind)
        if frame is None or frame.empty:
            values[definition.name] = sizes[definition.name] = nothing
            coverage[definition.name] = nothing
            continue
        measure = definition.measure(frame, as_of, policy, evidence).reindex(index)
        values[definition.name] = measure["value"]
        sizes[definition.name] = measure["n"]
        coverage[definition.name] = measure["coverage"]
    return MetricTable(
        pd.DataFrame(values, index=index).astype(float),
        pd.DataFrame(sizes, index=index).astype(float),
        pd.DataFrame(coverage, index=index).astype(float),
    )


def _by_unit(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with its unit column as categories (grouping by it then skips hashing
    every row's text again); a frame without one, or with categories already, as it is."""
    import pandas as pd

    if UNIT not in frame or isinstance(frame[UNIT].dtype, pd.CategoricalDtype):
        return frame
    return frame.assign(**{UNIT: frame[UNIT].astype("category")})


def enterprise_metrics(
    evidence: Mapping[str, pd.DataFrame], *, as_of: date, policy: MetricPolicy
) -> pd.Series:
    """Every metric over the whole enterprise's evidence, as if it were one unit."""
    import pandas as pd

    pooled = {kind: frame.assign(**{UNIT: ENTERPRISE}) for kind, frame in evidence.items()}
    table = compute_metrics(pooled, as_of=as_of, policy=policy).values
    row = table.reindex([ENTERPRISE]).iloc[0]
    return pd.Series(row, index=list(METRICS), dtype=float)
