"""What a metric is: a small vectorized function over one evidence kind's frame (and, for
a link between kinds, the frames it links to), registered under the name the rubric uses.

A metric measures a population per business unit. Besides its value it reports how many
rows it measured (`n`) and which share of its population had the fields it needs
(`coverage`). A metric whose coverage falls below its documented `min_coverage` is
unknown, with the coverage stated: it is never computed on the few rows left. A unit whose
population is empty gets NaN, which scoring reports as unknown rather than as zero.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Literal

from btm.columns import folded, is_in
from btm.vocabulary import UNIT

# pandas is imported where a metric computes: the registry, read by the rubric and by
# `btm explain`, loads without it.
if TYPE_CHECKING:
    import pandas as pd

Compute = Callable[..., "pd.Series | pd.DataFrame"]
MetricUnit = Literal["share", "count", "score"]
MEASURE_COLUMNS = ["value", "n", "coverage"]

# The share of a metric's population that must carry the fields it needs, unless the
# metric documents its own: below half, the rows left describe a sample the unit chose by
# filling the field in, not the unit.
MIN_COVERAGE = 0.5


@dataclass(frozen=True)
class MetricPolicy:
    """The windows and sets some metrics measure against, read from the rubric's
    `metric_policy` (btm/data/rubric.yaml), so that a PMO changes them in one file."""

    fresh_days: int  # status_freshness: a status updated within this many days
    review_days: int  # risk_review_timeliness: reviewed within this many days
    serious_risk_severities: tuple[str, ...]  # risk_mitigation_coverage's population
    application_review_days: int = 365  # application_review_timeliness
    vendor_review_days: int = 365  # vendor_review_rate
    good_vendor_score: float = 70.0  # vendor_performance_rate, on the 0-100 scale
    tolerance: float = 0.1  # how far actual may stray from plan and still count as on plan


@dataclass(frozen=True)
class Metric:
    name: str
    kind: str
    description: str
    compute: Compute
    unit: MetricUnit = "share"
    min_coverage: float = MIN_COVERAGE
    links: tuple[str, ...] = field(default=())  # the other kinds it reads, for a link

    @property
    def takes_policy(self) -> bool:
        return "policy" in inspect.signature(self.compute).parameters

    @property
    def kinds(self) -> tuple[str, ...]:
        return (self.kind, *self.links)

    def measure(
        self,
        frame: pd.DataFrame,
        as_of: date,
        policy: MetricPolicy,
        linked: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.DataFrame:
        """Per unit: value, n (rows measured) and coverage (share of the population
        measured); the value is NaN where the coverage is below `min_coverage`."""
        import pandas as pd

        kwargs: dict[str, object] = {}
        if self.takes_policy:
            kwargs["policy"] = policy
        if self.links:
            kwargs["linked"] = linked or {}
        result = self.compute(frame, as_of, **kwargs)
        if isinstance(result, pd.Series):
            sizes = frame.groupby(frame[UNIT]).size()
            result = pd.DataFrame({"value": result, "n": sizes, "coverage": 1.0})
        measure = result.reindex(columns=MEASURE_COLUMNS).astype(float)
        low = measure["coverage"] < self.min_coverage
        measure.loc[low, "value"] = float("nan")
        return measure

    def __call__(
        self,
        frame: pd.DataFrame,
        as_of: date,
        policy: MetricPolicy,
        linked: Mapping[str, pd.DataFrame] | None = None,
    ) -> pd.Series:
        return self.measure(frame, as_of, policy, linked)["value"]


METRICS: dict[str, Metric] = {}


def metric(
    *,
    kind: str,
    unit: MetricUnit = "share",
    min_coverage: float = MIN_COVERAGE,
    links: tuple[str, ...] = (),
) -> Callable[[Compute], Compute]:
    """Register a metric under its function's name; its docstring is its documentation.
    `unit` says how to read it: a share 0-1 (shown as a percentage), a count or a score.
    `links` names the other kinds a metric across kinds reads (passed as `linked`)."""

    def register(compute: Compute) -> Compute:
        description = " ".join((compute.__doc__ or "").split())
        METRICS[compute.__name__] = Metric(
            compute.__name__, kind, description, compute, unit, min_coverage, links
        )
        return compute

    return register


def _per_unit(frame: pd.DataFrame, flags: pd.Series) -> pd.Series:
    return flags.fillna(False).astype(bool).astype(int).groupby(frame[UNIT]).sum()


def share(
    frame: pd.DataFrame,
    numerator: pd.Series,
    population: pd.Series,
    measured: pd.Series | None = None,
) -> pd.DataFrame:
    """Per unit: rows meeting `numerator` among the rows of `population` that are
    `measured` (carry the fields the numerator reads; all of them unless given), with
    the count measured and the share of the population it is."""
    import pandas as pd

    hits = numerator.fillna(False).astype(bool).astype(float)
    return ratio_of_sums(frame, hits, pd.Series(1.0, index=frame.index), population, measured)


def ratio_of_sums(
    frame: pd.DataFrame,
    numerator: pd.Series,
    denominator: pd.Series,
    population: pd.Series,
    measured: pd.Series | None = None,
) -> pd.DataFrame:
    """Per unit: the sum of `numerator` over the sum of `denominator`, both over the rows
    of `population` that are `measured` (all of them unless given), with the count
    measured and the share of the population it is."""
    import pandas as pd

    population = population.fillna(False).astype(bool)
    measured = population if measured is None else population & measured.fillna(False)
    units = frame[UNIT]
    top = numerator.where(measured, 0.0).fillna(0.0).groupby(units).sum()
    bottom = denominator.where(measured, 0.0).fillna(0.0).groupby(units).sum()
    counted = _per_unit(frame, measured)
    total = _per_unit(frame, population)
    return pd.DataFrame(
        {
            "value": top / bottom.where(bottom > 0),
            "n": counted,
            "coverage": counted / total.where(total > 0),
        }
    ).astype(float)


def filled(frame: pd.DataFrame, column: str) -> pd.Series:
    import pandas as pd

    if column not in frame:
        return pd.Series(False, index=frame.index)
    return frame[column].notna()


def column(frame: pd.DataFrame, name: str) -> pd.Series:
    import pandas as pd

    if name in frame:
        return frame[name]
    return pd.Series(pd.NA, index=frame.index, dtype="object")


def number(frame: pd.DataFrame, name: str) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(column(frame, name), errors="coerce")


def completeness(frame: pd.DataFrame, fields: list[str]) -> pd.Series:
    """Per unit: the share of the given fields' cells that are filled."""
    import pandas as pd

    cells = pd.DataFrame({f: filled(frame, f) for f in fields}).mean(axis=1)
    return cells.groupby(frame[UNIT]).mean().astype(float)


def everything(frame: pd.DataFrame) -> pd.Series:
    import pandas as pd

    return pd.Series(True, index=frame.index)


def count(frame: pd.DataFrame) -> pd.Series:
    return frame.groupby(UNIT).size().astype(float)


def known_in(values: pd.Series, linked: pd.DataFrame | None, *columns: str) -> pd.Series:
    """True where `values` names a row of `linked` by any of its `columns` (an id or a
    title, compared without case or surrounding spaces); False where the link is empty."""
    import pandas as pd

    if linked is None or linked.empty:
        return pd.Series(False, index=values.index)
    names = pd.concat([folded(linked[name]) for name in columns if name in linked])
    return is_in(folded(values), names.dropna().unique())
