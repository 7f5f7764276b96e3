"""The roll-up rule every level outside a single cell follows: the mean of the known
levels, rounded half up to one decimal.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

ONE_DECIMAL = Decimal("0.1")


def half_up(value: Decimal) -> Decimal:
    # Decimal keeps "half up" exact: float round() would turn 2.25 into 2.2.
    return value.quantize(ONE_DECIMAL, ROUND_HALF_UP)


def mean_level(values: Iterable[int | None]) -> float | None:
    """The roll-up rule for any group of levels: the mean of the known ones, rounded half
    up to one decimal; None when none is known."""
    known = [v for v in values if v is not None]
    if not known:
        return None
    return float(half_up(Decimal(sum(known)) / Decimal(len(known))))
