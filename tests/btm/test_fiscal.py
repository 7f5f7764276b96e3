"""The fiscal calendar: quarters tile the days for every first month, the fiscal year is
named by the year it ends in, and BTM_FISCAL_YEAR_START_MONTH reaches the pipeline."""

from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from btm import store
from btm.errors import ConfigurationError
from btm.fiscal import (
    FiscalCalendar,
)
from btm.pipeline import templating_for
from btm.settings import Settings, load_settings
from tests.factories import rows, write_csv
from tests.pipeline import run_cycle

SETTING = "BTM_FISCAL_YEAR_START_MONTH"

calendars = st.builds(FiscalCalendar, st.integers(min_value=1, max_value=12))
# Clear of the first and last years Python can date, which the calendar refuses to cross.
days = st.dates(min_value=date(3, 1, 1), max_value=date(9997, 12, 31))


@pytest.fixture(autouse=True)
def _no_fiscal_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SETTING, raising=False)


# properties, for every first month ----------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_every_day_is_in_exactly_one_quarter(fiscal: FiscalCalendar, day: date) -> None:
    quarter = fiscal.containing(day)
    assert fiscal.start(quarter) <= day <= fiscal.as_of(quarter)
    # quarters follow each other without gap or overlap, so no other quarter holds the day
    assert fiscal.as_of(fiscal.previous(quarter)) < day < fiscal.start(fiscal.next(quarter))


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_quarters_follow_each_other(fiscal: FiscalCalendar, day: date) -> None:
    quarter = fiscal.containing(day)
    assert fiscal.start(fiscal.next(quarter)) == fiscal.as_of(quarter) + timedelta(days=1)
    assert fiscal.next(fiscal.previous(quarter)) == quarter
    assert fiscal.previous(fiscal.next(quarter)) == quarter
    year, number = fiscal.parse(quarter)
    assert quarter == f"{year:04}-Q{number}"


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_a_run_assesses_the_quarter_before_the_one_it_runs_in(
    fiscal: FiscalCalendar, day: date
) -> None:
    assessed = fiscal.ended_before(day)
    assert assessed == fiscal.previous(fiscal.containing(day))
    assert fiscal.as_of(assessed) < day


@settings(max_examples=200, deadline=None)
@given(calendars, st.integers(min_value=3, max_value=9997))
def test_a_fiscal_year_starts_in_its_first_month_and_ends_in_the_year_it_is_named_by(
    fiscal: FiscalCalendar, year: int
) -> None:
    first, last, following = f"{year:04}-Q1", f"{year:04}-Q4", f"{year + 1:04}-Q1"
    assert fiscal.start(first).month == fiscal.first_month
    assert fiscal.as_of(last).year == year
    assert fiscal.as_of(last) + timedelta(days=1) == fiscal.start(following)


@settings(max_examples=300, deadline=None)
@given(calendars, days)
def test_the_months_label_agrees_with_the_dates(fiscal: FiscalCalendar, day: date) -> None:
    quarter = fiscal.containing(day)
    start, as_of = fiscal.start(quarter), fiscal.as_of(quarter)
    if start.year == as_of.year:
        expected = f"{start:%b}–{as_of:%b} {as_of.year}"
    else:
        expected = f"{start:%b} {start.year}–{as_of:%b} {as_of.year}"
    assert fiscal.months(quarter) == expected


@settings(max_examples=100, deadline=None)
@given(
    calendars,
    days,
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
)
def test_the_cron_line_runs_on_the_first_day_of_each_fiscal_quarter(
    fiscal: FiscalCalendar, day: date, hour: int, minute: int
) -> None:
    quarter, starts = fiscal.containing(day), []
    for _ in range(4):
        starts.append(fiscal.start(quarter))
        quarter = fiscal.next(quarter)
    assert fiscal.quarter_start_months() == tuple(sorted(s.month for s in starts))
    assert fiscal.cron(hour, minute).split() == [
        str(minute),
        str(hour),
        "1",
        ",".join(str(month) for month in sorted(s.month for s in starts)),
        "*",
    ]


@settings(max_examples=300, deadline=None)
@given(st.dates())
def test_a_january_start_is_the_calendar_quarters(day: date) -> None:
    assert FiscalCalendar() == FiscalCalendar(1)
    assert FiscalCalendar().containing(day) == f"{day.year:04}-Q{(day.month - 1) // 3 + 1}"


# examples ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first_month", "cycle_id", "start", "as_of", "months"),
    [
        (1, "2026-Q1", date(2026, 1, 1), date(2026, 3, 31), "Jan–Mar 2026"),
        (1, "2026-Q4", date(2026, 10, 1), date(2026, 12, 31), "Oct–Dec 2026"),
        (4, "2027-Q1", date(2026, 4, 1), date(2026, 6, 30), "Apr–Jun 2026"),
        (4, "2027-Q3", date(2026, 10, 1), date(2026, 12, 31), "Oct–Dec 2026"),
        (4, "2027-Q4", date(2027, 1, 1), date(2027, 3, 31), "Jan–Mar 2027"),
        (7, "2027-Q1", date(2026, 7, 1), date(2026, 9, 30), "Jul–Sep 2026"),
        (7, "2027-Q4", date(2027, 4, 1), date(2027, 6, 30), "Apr–Jun 2027"),
        (11, "2027-Q1", date(2026, 11, 1), date(2027, 1, 31), "Nov 2026–Jan 2027"),
    ],
)
def test_quarter_dates(
    first_month: int, cycle_id: str, start: date, as_of: date, months: str
) -> None:
    fiscal = FiscalCalendar(first_month)
    assert (fiscal.start(cycle_id), fiscal.as_of(cycle_id)) == (start, as_of)
    assert fiscal.months(cycle_id) == months
    assert fiscal.containing(start) == fiscal.containing(as_of) == cycle_id


@pytest.mark.parametrize(
    ("first_month", "cron"),
    [
        (1, "0 6 1 1,4,7,10 *"),
        (4, "0 6 1 1,4,7,10 *"),
        (7, "0 6 1 1,4,7,10 *"),
        (2, "0 6 1 2,5,8,11 *"),
        (12, "0 6 1 3,6,9,12 *"),
    ],
)
def test_cron_lines(first_month: int, cron: str) -> None:
    assert FiscalCalendar(first_month).cron() == cron


def test_the_quarter_a_run_assesses() -> None:
    april = FiscalCalendar(4)
    assert april.ended_before(date(2026, 7, 1)) == "2027-Q1"
    assert april.ended_before(date(2026, 6, 30)) == "2026-Q4"
    assert april.containing(date(2026, 3, 31)) == "2026-Q4"
    assert april.next("2026-Q4") == "2027-Q1"
    assert april.previous("2027-Q1") == "2026-Q4"


@pytest.mark.parametrize("cycle_id", ["2026Q1", "2026-Q5", "26-Q1", "2026-q1", "2026-Q1\n", ""])
def test_a_malformed_cycle_id_says_how_to_write_one(cycle_id: str) -> None:
    with pytest.raises(ConfigurationError) as error:
        FiscalCalendar(4).parse(cycle_id)
    assert str(error.value) == (
        f"cycle {cycle_id!r} is not a quarter id; write it as YYYY-Qn, e.g. 2026-Q1"
    )


def test_dates_stop_at_the_years_python_can_name() -> None:
    assert FiscalCalendar().as_of("9999-Q4") == date(9999, 12, 31)
    assert FiscalCalendar().start("0001-Q1") == date(1, 1, 1)
    with pytest.raises(ConfigurationError, match="'10000-Q1' is outside the dates"):
        FiscalCalendar().next("9999-Q4")
    with pytest.raises(ConfigurationError, match="'10000-Q3' is outside the dates"):
        FiscalCalendar(4).containing(date(9999, 12, 31))
    with pytest.raises(ConfigurationError, match="'0001-Q1' is outside the dates"):
        FiscalCalendar(4).start("0001-Q1")


@pytest.mark.parametrize("first_month", [0, 13])
def test_a_fiscal_year_starts_in_a_month(first_month: int) -> None:
    with pytest.raises(ConfigurationError, match=SETTING):
        FiscalCalendar(first_month)


def test_a_cron_time_is_a_time_of_day() -> None:
    assert FiscalCalendar(4).cron(hour=23, minute=30) == "30 23 1 1,4,7,10 *"
    with pytest.raises(ConfigurationError, match="hour 0-23"):
        FiscalCalendar(4).cron(hour=24)


# the setting ---------------------------------------------------------------------------


def test_the_setting_reaches_the_cycle_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().calendar.as_of("2027-Q1") == date(2027, 3, 31)

    monkeypatch.setenv(SETTING, "4")
    assert Settings().calendar.as_of("2027-Q1") == date(2026, 6, 30)
    assert Settings().calendar.start("2027-Q1") == date(2026, 4, 1)
    assert Settings().calendar.ended_before(date(2026, 7, 1)) == "2027-Q1"
    assert Settings().calendar.containing(date(2026, 7, 1)) == "2027-Q2"
    assert Settings().calendar.next("2027-Q4") == "2028-Q1"
    assert Settings().calendar.parse("2027-Q1") == (2027, 1)

    monkeypatch.setenv(SETTING, "7")
    assert Settings().calendar.as_of("2027-Q1") == date(2026, 9, 30)

    monkeypatch.delenv(SETTING)
    assert Settings().calendar.as_of("2027-Q1") == date(2027, 3, 31)

    monkeypatch.setenv(SETTING.lower(), "4")  # pydantic-settings reads names in any case
    assert Settings().calendar.as_of("2027-Q1") == date(2026, 6, 30)


@pytest.mark.parametrize("value", ["13", "0", "april"])
def test_a_bad_setting_names_the_variable_and_the_fix(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv(SETTING, value)
    with pytest.raises(ConfigurationError) as error:
        load_settings().calendar.as_of("2026-Q1")
    assert str(error.value) == (
        f"{SETTING}={value!r} is not a month; set {SETTING} to 1-12, the month the fiscal "
        "year starts in (1 = January, 4 = April)"
    )


# end to end ----------------------------------------------------------------------------


def test_a_cycle_run_stores_the_fiscal_quarters_as_of(
    engine: sa.Engine, btm_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SETTING, "4")
    inbox = tmp_path / "inbox"
    write_csv(inbox / "investments.csv", rows("investments", 10, approval_date="2026-04-15"))
    write_csv(inbox / "projects.csv", rows("projects", 5, last_status_update="2026-06-20"))
    configured = Settings()

    run_cycle("2027-Q1", inbox, engine, configured)

    with store.session_scope(engine) as session:
        stored = session.get(store.Cycle, "2027-Q1")
        assert stored is not None
        assert stored.as_of == date(2026, 6, 30)
        assert stored.completed_at is not None
    placeholders = templating_for("2027-Q1", configured)
    assert (placeholders.cycle_start, placeholders.as_of) == (date(2026, 4, 1), date(2026, 6, 30))
