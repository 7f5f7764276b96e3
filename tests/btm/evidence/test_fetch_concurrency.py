"""Parallel fetches stay bounded per host: Data Center pages are asked for side by side,
Cloud's in turn, never more than `max_concurrency` requests in flight to one host from
all the sources that ask it, and a Retry-After holds back every request to that host.
The loopback servers count the requests they answer at once; nothing is mocked."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from btm.evidence.http import RetryPolicy
from btm.evidence.jira import fetch_jira
from btm.evidence.payload import Payload
from btm.evidence.sources import JiraSource, Templating
from tests.btm.evidence.test_jira import COLUMNS
from tests.fake_apis import Answer, FakeJira, jira_issues

TOKEN = "jira-pat-0c4f77d2"
PATIENT = RetryPolicy(attempts=3, backoff_seconds=0.01, max_wait_seconds=5, timeout_seconds=10)


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)


def source(url: str, name: str = "jira-projects", **settings: Any) -> JiraSource:
    return JiraSource.model_validate(
        {
            "connector": "jira",
            "name": name,
            "kind": "projects",
            "location": url,
            "api": "datacenter",
            "jql": "project = PRJ ORDER BY key",
            "auth": {"type": "bearer", "token": {"env": "JIRA_TOKEN"}},
            "page_size": 50,
            "columns": COLUMNS,
            **settings,
        }
    )


def keys(payloads: list[Payload]) -> list[str]:
    (payload,) = payloads
    return [i["key"] for i in json.loads(payload.path.read_text(encoding="utf-8"))]


def fetched_into(folder: Path, jira_source: JiraSource, templating: Templating) -> list[str]:
    folder.mkdir()
    return keys(fetch_jira(jira_source, templating, folder, policy=PATIENT))


def test_data_center_pages_are_asked_for_in_parallel_within_the_bound(
    tmp_path: Path, templating: Templating
) -> None:
    with FakeJira(jira_issues(1000), api="datacenter", token=TOKEN, delay_seconds=0.02) as jira:
        got = fetched_into(tmp_path / "a", source(jira.url, max_concurrency=3), templating)

    assert got == [f"PRJ-{n}" for n in range(1, 1001)]  # every page, in key order
    assert len(jira.received) == 20
    assert jira.most_in_flight == 3


def test_cloud_pages_are_asked_for_in_turn(tmp_path: Path, templating: Templating) -> None:
    issues = jira_issues(300)
    user = "pmo@acme.example"
    with FakeJira(issues, api="cloud", token=TOKEN, user=user, delay_seconds=0.01) as jira:
        cloud = source(
            jira.url,
            api="cloud",
            auth={"type": "basic", "user": user, "token": {"env": "JIRA_TOKEN"}},
        )
        got = fetched_into(tmp_path / "a", cloud, templating)

    assert len(got) == 300 and jira.most_in_flight == 1


def test_sources_on_one_host_share_its_bound(tmp_path: Path, templating: Templating) -> None:
    with FakeJira(jira_issues(1000), api="datacenter", token=TOKEN, delay_seconds=0.02) as jira:
        sources = [source(jira.url, f"jira-{n}", max_concurrency=2) for n in range(3)]
        with ThreadPoolExecutor(max_workers=3) as pool:  # as the flows fetch sources
            got = list(
                pool.map(
                    lambda s: fetched_into(tmp_path / s.name, s, templating),
                    sources,
                )
            )

    assert all(len(k) == 1000 for k in got)
    assert jira.most_in_flight == 2  # three sources, each of which could run two at once


def test_a_retry_after_holds_back_every_request_to_the_host(
    tmp_path: Path, templating: Templating
) -> None:
    with FakeJira(jira_issues(2000), api="datacenter", token=TOKEN, delay_seconds=0.01) as jira:
        # the 6th request falls among the parallel pages
        jira.fail_request(6, Answer(429, {"message": "Slow down"}, {"Retry-After": "1"}))
        got = fetched_into(tmp_path / "a", source(jira.url, max_concurrency=4), templating)

    assert len(got) == 2000 and len(jira.received) == 41  # 40 pages, one asked twice
    limited = jira.received[5].at
    later = [r.at - limited for r in jira.received[6:]]
    # Only the requests on their way when the 429 came (the 3 other workers', give or
    # take one each that left as the pause was being set) arrive within the second it
    # asked for; without the host's pause, the other workers would have asked for every
    # remaining page meanwhile.
    assert len([t for t in later if t < 0.9]) <= 6
    assert len([t for t in later if t >= 0.9]) >= 28


@pytest.mark.parametrize("status", [429, 503])
@pytest.mark.parametrize("form", ["seconds", "http-date"])
def test_retry_after_is_honoured_in_seconds_and_as_an_http_date(
    tmp_path: Path, templating: Templating, status: int, form: str
) -> None:
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    header = {"Retry-After": "1" if form == "seconds" else when}
    with FakeJira(jira_issues(20), api="datacenter", token=TOKEN) as jira:
        jira.fail_next(Answer(status, {"message": "Come back later"}, header))
        started = time.monotonic()
        got = fetched_into(tmp_path / "a", source(jira.url), templating)
        waited = time.monotonic() - started

    assert len(got) == 20 and len(jira.received) == 2
    assert waited >= 0.9  # a second at least (an HTTP-date is to the second)


def test_a_retry_after_longer_than_the_policy_allows_is_cut_short(
    tmp_path: Path, templating: Templating
) -> None:
    brief = RetryPolicy(attempts=2, backoff_seconds=0.01, max_wait_seconds=0.2)
    with FakeJira(jira_issues(20), api="datacenter", token=TOKEN) as jira:
        jira.fail_next(Answer(503, {"message": "Maintenance"}, {"Retry-After": "3600"}))
        started = time.monotonic()
        (tmp_path / "a").mkdir()
        got = keys(fetch_jira(source(jira.url), templating, tmp_path / "a", policy=brief))

    assert len(got) == 20 and time.monotonic() - started < 60  # not the hour it asked
