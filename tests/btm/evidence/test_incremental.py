"""Incremental fetches of Jira (Cloud and Data Center) and REST sources, over loopback
servers whose portfolio changes between fetches: what is asked for, what the merged
batch holds, and when a fetch is full."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import pydantic
import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import store
from btm.errors import BtmError
from btm.evidence.gather import BatchResult, FetchOutcome, accept_fetch
from btm.evidence.incremental import keyed
from btm.evidence.jira import EARLIEST_ZONE, jql_minute, jql_updated_since
from btm.evidence.rest import since_text
from btm.evidence.sources import FetchMode, JiraSource, RestSource
from btm.pipeline import Setup, fetch, open_cycle, record_fetch_failure
from btm.settings import Settings
from tests.btm.evidence.test_jira import COLUMNS as JIRA_COLUMNS
from tests.factories import INVESTMENT
from tests.fake_apis import FakeJira, FakeRest, jira_error, jira_issues

TOKEN = "jira-token-5e0c2b1f"
USER = "pmo@acme.example"
ZONE = "Australia/Sydney"  # ahead of UTC: a watermark written in UTC would ask too late
STATUSES = {"status": {"new": "not_started", "indeterminate": "active", "done": "completed"}}
JQL = "project = PRJ ORDER BY key"
Api = Literal["cloud", "datacenter"]


@pytest.fixture
def run(engine: sa.Engine, btm_home: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    monkeypatch.setenv("PPM_TOKEN", TOKEN)
    return Setup(Settings(), engine=engine)


def jira_source(url: str, api: Api = "cloud", **settings: Any) -> JiraSource:
    auth = (
        {"type": "basic", "user": USER, "token": {"env": "JIRA_TOKEN"}}
        if api == "cloud"
        else {"type": "bearer", "token": {"env": "JIRA_TOKEN"}}
    )
    return JiraSource.model_validate(
        {
            "connector": "jira",
            "name": "jira-projects",
            "kind": "projects",
            "location": url,
            "api": api,
            "jql": JQL,
            "auth": auth,
            "page_size": 10,
            "columns": JIRA_COLUMNS,
            "values": STATUSES,
            **settings,
        }
    )


def fake_jira(api: Api, count: int = 30, **options: Any) -> FakeJira:
    user = USER if api == "cloud" else None
    return FakeJira(jira_issues(count), api=api, token=TOKEN, user=user, **options)


def gathered(
    run: Setup, source: JiraSource | RestSource, cycle: str, *, full: bool = False
) -> tuple[FetchOutcome, BatchResult]:
    """One fetch of the source, validated and stored, as a run does."""
    open_cycle(run, cycle)
    fetched = fetch(run, source, cycle, full=full)
    (result,) = accept_fetch(
        fetched,
        cycle_id=cycle,
        as_of=run.calendar.as_of(cycle),
        engine=run.engine,
        quarantine_dir=run.settings.quarantine_dir,
    )
    return fetched, result


def records(result: BatchResult) -> list[dict[str, Any]]:
    return json.loads(Path(result.batch.archive_path).read_text(encoding="utf-8"))


def rows_of(engine: sa.Engine, fetched: FetchOutcome) -> list[store.SourceFetch]:
    with store.session_scope(engine) as session:
        statement = select(store.SourceFetch).where(store.SourceFetch.attempt == fetched.attempt)
        return list(session.exec(statement))


def searches(jira: FakeJira) -> list[str]:
    return [r.params["jql"] for r in jira.received if "jql" in r.params]


def aware(moment: datetime | None) -> datetime:
    assert moment is not None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@pytest.mark.parametrize("api", ["cloud", "datacenter"])
def test_an_incremental_jira_fetch_asks_from_the_watermark_and_merges_onto_the_snapshot(
    run: Setup, api: Api
) -> None:
    with fake_jira(api, time_zone=ZONE) as jira:
        first, full = gathered(run, jira_source(jira.url, api), "2026-Q3")
        assert full.batch.status == "accepted", full.batch.problems
        assert first.increment.mode == FetchMode.FULL and searches(jira)[-1] == JQL
        (row,) = rows_of(run.engine, first)
        assert row.mode == "full" and row.since is None and row.watermark is not None
        watermark = aware(row.watermark)

        jira.update("PRJ-3", summary="Modernise platform 3, replanned")
        jira.add(jira_issues(31)[-1])
        jira.delete("PRJ-5")
        asked = len(jira.received)
        second, merged = gathered(run, jira_source(jira.url, api), "2026-Q3")
        incremental = jira.received[asked:]
        _, refetched = gathered(run, jira_source(jira.url, api), "2026-Q3", full=True)

    # the search carried the watermark, read in the account's zone, which Jira was asked
    since = jql_minute(watermark, ZoneInfo(ZONE))
    myself, search = incremental  # the account's zone, then one page: 2 issues updated
    assert myself.path.endswith("/myself")
    assert search.params["jql"] == f'(project = PRJ) AND updated >= "{since}" ORDER BY key'
    (row,) = rows_of(run.engine, second)
    assert row.mode == "incremental" and aware(row.since) == watermark
    assert row.delta_sha256 is not None and aware(row.watermark) > watermark
    assert merged.batch.status == "accepted" and merged.batch.part == full.batch.part

    kept = records(merged)
    assert [i["key"] for i in kept] == [f"PRJ-{n}" for n in range(1, 32)]
    assert kept[2]["fields"]["summary"] == "Modernise platform 3, replanned"
    # deleted upstream: kept by the incremental merge, dropped by the next full fetch
    assert [i for i in kept if i["key"] != "PRJ-5"] == records(refetched)
    assert "PRJ-5" not in {i["key"] for i in records(refetched)}
    assert refetched.frame is not None and merged.frame is not None
    assert len(merged.frame) == len(refetched.frame) + 1


def test_the_delta_and_the_merged_snapshot_are_both_archived(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        gathered(run, jira_source(jira.url), "2026-Q3")
        jira.update("PRJ-7", summary="Renamed")
        second, merged = gathered(run, jira_source(jira.url), "2026-Q3")

    delta = second.increment.delta_sha256
    assert delta is not None
    archived = json.loads((run.settings.archive_dir / delta[:2] / f"{delta}.json").read_text())
    assert [i["key"] for i in archived] == ["PRJ-7"]
    assert Path(merged.batch.archive_path).name == f"{merged.batch.sha256}.json"


def test_an_unchanged_portfolio_is_the_same_batch_and_the_watermark_moves_on(
    run: Setup,
) -> None:
    with fake_jira("datacenter", time_zone="UTC") as jira:
        first, full = gathered(run, jira_source(jira.url, "datacenter"), "2026-Q3")
        second, again = gathered(run, jira_source(jira.url, "datacenter"), "2026-Q3")

    assert second.increment.mode == FetchMode.INCREMENTAL
    assert again.reused and again.batch.id == full.batch.id  # not validated again
    assert again.batch.sha256 == full.batch.sha256
    (before,), (after,) = rows_of(run.engine, first), rows_of(run.engine, second)
    assert aware(after.watermark) > aware(before.watermark)


def test_the_first_fetch_in_a_new_cycle_is_full(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        gathered(run, jira_source(jira.url), "2026-Q3")
        second, _ = gathered(run, jira_source(jira.url), "2026-Q3")
        jira.delete("PRJ-2")
        third, result = gathered(run, jira_source(jira.url), "2026-Q4")

    assert second.increment.mode == FetchMode.INCREMENTAL
    assert third.increment.mode == FetchMode.FULL and third.increment.since is None
    assert searches(jira)[-1] == JQL
    assert "PRJ-2" not in {i["key"] for i in records(result)}


def test_a_source_set_to_fetch_in_full_always_does(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        source = jira_source(jira.url, fetch="full")
        gathered(run, source, "2026-Q3")
        second, _ = gathered(run, source, "2026-Q3")

    assert second.increment.mode == FetchMode.FULL and searches(jira) == [JQL] * 6


def test_a_changed_source_entry_is_fetched_in_full(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        gathered(run, jira_source(jira.url), "2026-Q3")
        second, _ = gathered(run, jira_source(jira.url, jql="project = PRJ"), "2026-Q3")

    assert second.increment.mode == FetchMode.FULL
    assert searches(jira)[-1] == "project = PRJ"


def test_a_failed_fetch_does_not_move_the_watermark(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        source = jira_source(jira.url)
        first, _ = gathered(run, source, "2026-Q3")
        jira.fail_always(jira_error(403, "You do not have permission to view these issues."))
        with pytest.raises(BtmError) as failed:
            fetch(run, source, "2026-Q3")
        record_fetch_failure(run, source, "2026-Q3", str(failed.value))
        jira.fail_always(None)
        third, result = gathered(run, source, "2026-Q3")

    (row,) = rows_of(run.engine, first)
    assert third.increment.mode == FetchMode.INCREMENTAL
    assert third.increment.since == aware(row.watermark)
    assert f'updated >= "{jql_minute(aware(row.watermark), UTC)}"' in searches(jira)[-1]
    assert result.batch.status == "accepted"


def test_a_quarantined_fetch_does_not_move_the_watermark(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        first, _ = gathered(run, jira_source(jira.url), "2026-Q3")
        jira.update("PRJ-4", customfield_10030="a lot")  # text where the budget belongs
        second, refused = gathered(run, jira_source(jira.url), "2026-Q3")
        jira.update("PRJ-4", customfield_10030=125000.0)
        third, accepted = gathered(run, jira_source(jira.url), "2026-Q3")

    assert refused.batch.status == "quarantined"
    (row,) = rows_of(run.engine, first)
    assert second.increment.since == third.increment.since == aware(row.watermark)
    assert accepted.batch.status == "accepted"
    assert records(accepted)[3]["fields"]["customfield_10030"] == 125000.0


def test_an_account_without_a_time_zone_is_asked_from_the_earliest_zone(run: Setup) -> None:
    with fake_jira("datacenter", time_zone=None) as jira:
        first, _ = gathered(run, jira_source(jira.url, "datacenter"), "2026-Q3")
        gathered(run, jira_source(jira.url, "datacenter"), "2026-Q3")

    (row,) = rows_of(run.engine, first)
    since = jql_minute(aware(row.watermark), EARLIEST_ZONE)
    assert f'updated >= "{since}"' in searches(jira)[-1]


def test_a_time_zone_in_the_sources_file_is_not_asked_of_jira(run: Setup) -> None:
    with fake_jira("cloud", time_zone="UTC") as jira:
        source = jira_source(jira.url, time_zone="Europe/Berlin")
        first, _ = gathered(run, source, "2026-Q3")
        gathered(run, source, "2026-Q3")

    assert not [r for r in jira.received if r.path.endswith("/myself")]
    (row,) = rows_of(run.engine, first)
    since = jql_minute(aware(row.watermark), ZoneInfo("Europe/Berlin"))
    assert f'updated >= "{since}"' in searches(jira)[-1]


# REST -----------------------------------------------------------------------------------


def investments(count: int) -> list[dict[str, Any]]:
    return [
        {**INVESTMENT, "investment_id": f"INV-{n}", "name": f"Investment {n}"}
        for n in range(1, count + 1)
    ]


def rest_source(url: str, **settings: Any) -> RestSource:
    return RestSource.model_validate(
        {
            "connector": "rest",
            "name": "ppm-investments",
            "kind": "investments",
            "location": url + "/v1/investments",
            "pagination": "offset",
            "records": "results",
            "page_size": 10,
            "auth": {"type": "bearer", "token": {"env": "PPM_TOKEN"}},
            "since_param": "updated_since",
            "record_key": "investment_id",
            **settings,
        }
    )


def test_an_incremental_rest_fetch_sends_the_watermark_and_merges_by_record_key(
    run: Setup,
) -> None:
    ppm = FakeRest(investments(25), token=TOKEN, since_param="updated_since", key="investment_id")
    with ppm as api:
        first, full = gathered(run, rest_source(api.url), "2026-Q3")
        assert full.batch.status == "accepted", full.batch.problems
        api.update("INV-3", actual_spend="650")
        api.add({**INVESTMENT, "investment_id": "INV-26", "name": "Investment 26"})
        api.delete("INV-5")
        asked = len(api.received)
        second, merged = gathered(run, rest_source(api.url), "2026-Q3")
        incremental = api.received[asked:]
        _, refetched = gathered(run, rest_source(api.url), "2026-Q3", full=True)

    assert all("updated_since" not in r.params for r in api.received[:asked])
    (row,) = rows_of(run.engine, first)
    since = since_text(aware(row.watermark), "%Y-%m-%dT%H:%M:%SZ")
    assert [r.params for r in incremental] == [
        {"updated_since": since, "offset": "0", "limit": "10"}
    ]
    assert second.increment.mode == FetchMode.INCREMENTAL
    kept = records(merged)
    assert [r["investment_id"] for r in kept] == [f"INV-{n}" for n in range(1, 27)]
    assert kept[2]["actual_spend"] == "650"
    assert [r for r in kept if r["investment_id"] != "INV-5"] == records(refetched)
    assert merged.batch.status == refetched.batch.status == "accepted"


def test_a_rest_source_without_since_param_fetches_in_full(run: Setup) -> None:
    with FakeRest(investments(5), token=TOKEN, key="investment_id") as api:
        source = rest_source(api.url, since_param=None)
        gathered(run, source, "2026-Q3")
        second, _ = gathered(run, source, "2026-Q3")

    assert second.increment.mode == FetchMode.FULL and second.increment.watermark is None


def test_since_param_needs_a_record_key() -> None:
    with pytest.raises(pydantic.ValidationError, match="since_param needs record_key"):
        rest_source("http://127.0.0.1:9", record_key=None)
    with pytest.raises(pydantic.ValidationError, match="unknown time zone 'Mars/Olympus'"):
        jira_source("http://127.0.0.1:9", time_zone="Mars/Olympus")


# the pieces ------------------------------------------------------------------------------


def test_the_updated_clause_joins_the_conditions_before_order_by() -> None:
    since = "2026/10/05 09:45"
    assert jql_updated_since("project = PRJ", since) == (
        '(project = PRJ) AND updated >= "2026/10/05 09:45"'
    )
    assert jql_updated_since("project = A OR project = B order by key", since) == (
        '(project = A OR project = B) AND updated >= "2026/10/05 09:45" order by key'
    )
    quoted = 'summary ~ "order by" AND (labels = x) ORDER BY rank'
    assert jql_updated_since(quoted, since) == (
        '(summary ~ "order by" AND (labels = x)) AND updated >= "2026/10/05 09:45" ORDER BY rank'
    )
    assert jql_updated_since("ORDER BY key", since) == (
        'updated >= "2026/10/05 09:45" ORDER BY key'
    )


def test_a_jql_minute_is_never_later_than_the_moment() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    moment = datetime(2026, 7, 1, 8, 15, 59, tzinfo=UTC)
    assert jql_minute(moment, berlin) == "2026/07/01 10:15"  # CEST, seconds dropped
    assert jql_minute(moment, ZoneInfo("Australia/Sydney")) == "2026/07/01 18:15"
    # 02:30 on 25 October 2026 happens twice in Berlin; JQL may read it as the later one
    first_reading = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    assert jql_minute(first_reading, berlin) == "2026/10/25 01:30"
    second_reading = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    assert jql_minute(second_reading, berlin) == "2026/10/25 02:30"
    assert jql_minute(moment, EARLIEST_ZONE) == "2026/06/30 20:15"


def test_records_are_kept_once_per_key_in_key_order() -> None:
    fetched = [{"key": "PRJ-10", "v": 1}, {"key": "PRJ-9", "v": 1}, {"key": "PRJ-10", "v": 2}]
    assert keyed(fetched, "key", source="s") == [
        {"key": "PRJ-9", "v": 1},
        {"key": "PRJ-10", "v": 2},
    ]
    assert keyed([{"a": {"id": 2}}, {"a": {"id": 1}}], "a.id", source="s") == [
        {"a": {"id": 1}},
        {"a": {"id": 2}},
    ]
    assert keyed(fetched, None, source="s") == fetched
    with pytest.raises(BtmError, match="record 1 has no 'id'"):
        keyed([{"key": "x"}], "id", source="s")


def test_the_watermark_is_written_as_the_api_reads_it() -> None:
    moment = datetime(2026, 10, 5, 9, 45, 30, tzinfo=ZoneInfo("Europe/Berlin"))
    assert since_text(moment, "%Y-%m-%dT%H:%M:%SZ") == "2026-10-05T07:45:30Z"
    assert since_text(moment, "unix") == str(int(moment.timestamp()))
    assert since_text(moment, "unix_ms") == str(int(moment.timestamp()) * 1000)
    assert since_text(moment - timedelta(days=1), "%Y-%m-%d") == "2026-10-04"
