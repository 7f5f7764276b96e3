"""The fiscal calendar that cycle ids are written in.

A cycle id names a fiscal quarter, `2027-Q1`. The fiscal year starts in `first_month`
(BTM_FISCAL_YEAR_START_MONTH) and is named by the calendar year in which it ends, as
Microsoft, Apple and the US federal government name theirs: with an April start, `2027-Q1`
runs from 2026-04-01 to 2026-06-30 and `2027-Q4` from 2027-01-01 to 2027-03-31. With the
default January start the fiscal year is the calendar year, so `2026-Q1` is January to
March 2026. A quarter's as-of date is its last day. Dates run from year 1 to 9999; a
cycle that would reach outside them is refused.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from btm.errors import ConfigurationError

SETTING = "BTM_FISCAL_YEAR_START_MONTH"
_CYCLE_ID = re.compile(r"([0-9]{4})-Q([1-4])")
# English, not the locale's (calendar.month_abbr): labels must read the same on every host.
_MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# Months are counted from January of year 0, so a month is `12 * year + month - 1`.
_FIRST_DATED_MONTH = 12 * date.min.year


@dataclass(frozen=True)
class FiscalCalendar:
    """Quarters of a fiscal year that starts in `first_month` (1 = January)."""

    first_month: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.first_month <= 12:
            raise ConfigurationError(
                f"the fiscal year cannot start in month {self.first_month!r}; "
                f"set {SETTING} to 1-12 (1 = January, 4 = April)"
            )

    def parse(self, cycle_id: str) -> tuple[int, int]:
        """The fiscal year and quarter a cycle id names."""
        match = _CYCLE_ID.fullmatch(cycle_id)
        if not match:
            raise ConfigurationError(
                f"cycle {cycle_id!r} is not a quarter id; write it as YYYY-Qn, e.g. 2026-Q1"
            )
        return int(match.group(1)), int(match.group(2))

    def start(self, cycle_id: str) -> date:
        """The first day of the cycle's quarter."""
        first, _ = self._months(self._index(cycle_id))
        year, month = divmod(first, 12)
        return date(year, month + 1, 1)

    def as_of(self, cycle_id: str) -> date:
        """The last day of the cycle's quarter."""
        _, last = self._months(self._index(cycle_id))
        year, month = divmod(last, 12)
        return date(year, month + 1, calendar.monthrange(year, month + 1)[1])

    def containing(self, day: date) -> str:
        """The quarter that `day` falls in."""
        month = 12 * day.year + day.month - 1
        return self._cycle_id((month + self._lead) // 3)

    def ended_before(self, day: date) -> str:
        """The last quarter that ended before `day`: the cycle a run on that day assesses."""
        return self.previous(self.containing(day))

    def next(self, cycle_id: str) -> str:
        return self._cycle_id(self._index(cycle_id) + 1)

    def previous(self, cycle_id: str) -> str:
        return self._cycle_id(self._index(cycle_id) - 1)

    def shifted(self, cycle_id: str, quarters: int) -> str:
        """The quarter `quarters` after `cycle_id` (before it when negative)."""
        return self._cycle_id(self._index(cycle_id) + quarters)

    def quarters_between(self, first: str, last: str) -> int:
        """How many quarters `last` is after `first` (negative when before)."""
        return self._index(last) - self._index(first)

    def span(self, first: str, last: str) -> list[str]:
        """The quarters from `first` to `last`, both included; empty when last is earlier."""
        return [self.shifted(first, n) for n in range(self.quarters_between(first, last) + 1)]

    def months(self, cycle_id: str) -> str:
        """The quarter's months for people, `Apr–Jun 2026` or `Nov 2026–Jan 2027`."""
        first, last = self._months(self._index(cycle_id))
        (first_year, first_month), (last_year, last_month) = divmod(first, 12), divmod(last, 12)
        if first_year == last_year:
            return f"{_MONTH_NAMES[first_month]}–{_MONTH_NAMES[last_month]} {last_year}"
        return f"{_MONTH_NAMES[first_month]} {first_year}–{_MONTH_NAMES[last_month]} {last_year}"

    def quarter_start_months(self) -> tuple[int, int, int, int]:
        """The calendar months (1-12) in which the fiscal quarters start, in calendar order."""
        first, second, third, fourth = sorted(
            (self.first_month - 1 + 3 * q) % 12 + 1 for q in range(4)
        )
        return first, second, third, fourth

    def cron(self, hour: int = 6, minute: int = 0) -> str:
        """The cron line that runs at hour:minute on the first day of each fiscal quarter."""
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ConfigurationError(
                f"{hour}:{minute:02} is not a time of day; give an hour 0-23 and a minute 0-59"
            )
        months = ",".join(str(month) for month in self.quarter_start_months())
        return f"{minute} {hour} 1 {months} *"

    @property
    def _lead(self) -> int:
        """How many months the fiscal year runs ahead of the calendar year it is named by."""
        return (13 - self.first_month) % 12

    def _index(self, cycle_id: str) -> int:
        """Quarters since the start of fiscal year 0: one number that steps by quarter."""
        year, quarter = self.parse(cycle_id)
        return 4 * year + quarter - 1

    def _months(self, index: int) -> tuple[int, int]:
        """The quarter's first and last month, refused if its id or dates cannot be written;
        a fiscal year ends in the year it is named by, so a year up to 9999 is datable."""
        first = 3 * index - self._lead
        if first < _FIRST_DATED_MONTH or index // 4 > date.max.year:
            raise ConfigurationError(
                f"cycle {_format(index)!r} is outside the dates this calendar can name "
                f"(years {date.min.year:04} to {date.max.year})"
            )
        return first, first + 2

    def _cycle_id(self, index: int) -> str:
        self._months(index)  # a cycle id given out can always be dated, and so parsed
        return _format(index)


def _format(index: int) -> str:
    year, quarter = divmod(index, 4)
    return f"{year:04}-Q{quarter + 1}"
