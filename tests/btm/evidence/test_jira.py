import hashlib
import json
import logging
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Literal

import pytest

from btm.errors import ConfigurationError, EvidenceError
from btm.evidence.http import RetryPolicy, retry_after_seconds
from btm.evidence.jira import fetch_jira, jira_fields
from btm.evidence.sources import JiraSource, Templating
from tests.fake_apis import RATE_LIMITED, SERVER_ERROR, FakeJira, jira_issues

TOKEN = "atl-api-token-7f3a9c1e"
USER = "pmo@acme.example"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_wait_seconds=0.05, timeout_seconds=5)
COLUMNS = {
    "key": "project_id",
    "fields.summary": "name",
    "fields.status.statusCategory.key": "status",
    "fields.customfield_10015": "planned_start",
    "fields.duedate": "planned_end",
    "fields.customfield_10020.value": "business_unit",
    "fields.customfield_10030": "budget",
}
WANTED = "customfield_10015,customfield_10020,customfield_10030,duedate,status,summary"


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("JIRA_TOKEN", TOKEN)
    folder = tmp_path / "staging"
    folder.mkdir()
    return folder


def jira_source(url: str, **settings: Any) -> JiraSource:
    basic = {"type": "basic", "user": USER, "token": {"env": "JIRA_TOKEN"}}
    return JiraSource.model_validate(
        {
            "connector": "jira",
            "name": "jira-projects",
            "kind": "projects",
            "location": url,
            "jql": 'project = PRJ AND updated >= "{cycle_start}" ORDER BY key',
            "auth": basic,
            "columns": COLUMNS,
            **settings,
        }
    )


def fetched(payloads: list, source: str = "jira-projects") -> list[dict[str, Any]]:
    assert [(p.source, p.part) for p in payloads] == [(source, f"{source}.json")]
    return json.loads(payloads[0].path.read_text(encoding="utf-8"))


def test_cloud_search_gathers_every_page_with_only_the_mapped_fields(
    staging: Path, templating: Templating
) -> None:
    with FakeJira(jira_issues(250), api="cloud", token=TOKEN, user=USER) as jira:
        payloads = fetch_jira(jira_source(jira.url), templating, staging, policy=FAST)

    issues = fetched(payloads)
    assert [i["key"] for i in issues] == [f"PRJ-{n}" for n in range(1, 251)]
    assert set(issues[0]["fields"]) == set(WANTED.split(","))  # no description, no assignee
    assert issues[0]["fields"]["status"]["statusCategory"]["key"] == "indeterminate"
    assert issues[0]["fields"]["customfield_10020"]["value"] == "Retail Banking"
    assert len(jira.received) == 3
    assert {r.path for r in jira.received} == {"/rest/api/3/search/jql"}
    first, *rest = jira.received
    assert first.params == {
        "jql": 'project = PRJ AND updated >= "2026-07-01" ORDER BY key',
        "fields": WANTED,
        "maxResults": "100",
    }
    assert "nextPageToken" not in first.params
    assert all(r.params["nextPageToken"] for r in rest)
    assert all(r.headers["authorization"].startswith("Basic ") for r in jira.received)
    assert TOKEN not in payloads[0].path.read_text(encoding="utf-8")


def test_datacenter_search_steps_start_at_by_what_the_server_sent(
    staging: Path, templating: Templating
) -> None:
    bearer = {"type": "bearer", "token": {"env": "JIRA_TOKEN"}}
    with FakeJira(jira_issues(250), api="datacenter", token=TOKEN, max_page=100) as jira:
        source = jira_source(jira.url + "/", api="datacenter", auth=bearer, page_size=200)
        issues = fetched(fetch_jira(source, templating, staging, policy=FAST))

    assert len(issues) == 250 and issues[-1]["key"] == "PRJ-250"
    assert [r.params["startAt"] for r in jira.received] == ["0", "100", "200"]
    assert {r.params["maxResults"] for r in jira.received} == {"200"}
    assert {r.path for r in jira.received} == {"/rest/api/2/search"}
    assert {r.headers["authorization"] for r in jira.received} == {f"Bearer {TOKEN}"}


def test_one_rate_limit_and_one_server_error_are_survived(
    staging: Path, templating: Templating
) -> None:
    with FakeJira(jira_issues(250), api="cloud", token=TOKEN, user=USER) as jira:
        jira.fail_next(RATE_LIMITED, SERVER_ERROR)
        issues = fetched(fetch_jira(jira_source(jira.url), templating, staging, policy=FAST))

    assert len(issues) == 250
    assert len(jira.received) == 5  # 3 pages, 2 of them asked twice


def test_retry_after_is_waited_for(staging: Path, templating: Templating) -> None:
    patient = RetryPolicy(attempts=2, backoff_seconds=0.01)
    with FakeJira(jira_issues(20), api="cloud", token=TOKEN, user=USER) as jira:
        jira.fail_next(RATE_LIMITED)
        started = time.monotonic()
        issues = fetched(fetch_jira(jira_source(jira.url), templating, staging, policy=patient))

    assert time.monotonic() - started >= 1.0
    assert len(issues) == 20 and len(jira.received) == 2


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    now = datetime(2026, 9, 30, 12, 0, tzinfo=UTC)
    later = format_datetime(datetime(2026, 9, 30, 12, 0, 30, tzinfo=UTC), usegmt=True)
    assert retry_after_seconds("7", now=now) == 7.0
    assert retry_after_seconds(later, now=now) == 30.0
    assert retry_after_seconds("Wed, 30 Sep 2026 11:00:00 GMT", now=now) == 0.0
    assert retry_after_seconds("soon", now=now) is None
    assert retry_after_seconds(None) is None


def test_a_server_that_keeps_failing_is_reported_with_the_fix(
    staging: Path, templating: Templating
) -> None:
    with FakeJira(jira_issues(5), api="cloud", token=TOKEN, user=USER) as jira:
        jira.fail_always(SERVER_ERROR)
        with pytest.raises(EvidenceError) as raised:
            fetch_jira(jira_source(jira.url), templating, staging, policy=FAST)

    message = str(raised.value)
    assert "'jira-projects'" in message and "/rest/api/3/search/jql" in message
    assert "500 Internal Server Error after 3 attempts" in message
    assert "is the system up? check location" in message
    assert "jql=" not in message  # the query string is left out of messages
    assert len(jira.received) == 3


def test_an_unreachable_jira_is_reported_with_the_fix(
    staging: Path, templating: Templating
) -> None:
    with FakeJira([], api="cloud", token=TOKEN) as jira:
        gone = jira.url  # nothing listens there once the block ends
    with pytest.raises(EvidenceError) as raised:
        fetch_jira(jira_source(gone), templating, staging, policy=FAST)

    message = str(raised.value)
    assert "'jira-projects'" in message and gone in message
    assert "could not be reached" in message and "after 3 attempts" in message
    assert "is the system up? check location" in message


def test_a_refused_token_names_where_it_is_kept_and_never_its_value(
    staging: Path,
    templating: Templating,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("JIRA_TOKEN", "expired-token-value-0042")
    caplog.set_level(logging.DEBUG)
    with (
        FakeJira(jira_issues(5), api="cloud", token=TOKEN, user=USER) as jira,
        pytest.raises(EvidenceError) as raised,
    ):
        fetch_jira(jira_source(jira.url), templating, staging, policy=FAST)

    message = str(raised.value)
    assert "401 Unauthorized" in message
    assert "check the token in environment variable JIRA_TOKEN" in message
    assert USER in message and "permissions" in message
    assert "expired-token-value-0042" not in message + caplog.text
    assert len(jira.received) == 1  # a refusal is not retried
    assert not list(staging.iterdir())


def test_bad_jql_surfaces_jiras_own_message(staging: Path, templating: Templating) -> None:
    with FakeJira(jira_issues(5), api="cloud", token=TOKEN, user=USER) as jira:
        source = jira_source(jira.url, jql="projct = PRJ")
        with pytest.raises(EvidenceError) as raised:
            fetch_jira(source, templating, staging, policy=FAST)

    message = str(raised.value)
    assert "400 Bad Request" in message
    assert "Field 'projct' does not exist or you do not have permission to view it." in message
    assert "check jql" in message


def test_the_wrong_api_setting_is_named(staging: Path, templating: Templating) -> None:
    with FakeJira(jira_issues(5), api="cloud", token=TOKEN, user=USER) as jira:
        source = jira_source(jira.url, api="datacenter")
        with pytest.raises(EvidenceError, match=r"410 Gone; check location .* and api \(now "):
            fetch_jira(source, templating, staging, policy=FAST)


def test_the_same_issues_give_the_same_bytes(
    staging: Path, tmp_path: Path, templating: Templating
) -> None:
    digests = []
    with FakeJira(jira_issues(250), api="cloud", token=TOKEN, user=USER) as jira:
        for run in ("first", "second"):
            (tmp_path / run).mkdir()
            [payload] = fetch_jira(jira_source(jira.url), templating, tmp_path / run, policy=FAST)
            digests.append(hashlib.sha256(payload.path.read_bytes()).hexdigest())

    tokens = [r.params.get("nextPageToken") for r in jira.received]
    assert tokens[1] != tokens[4]  # the page tokens change from fetch to fetch...
    assert digests[0] == digests[1]  # ...and stay out of the payload


@pytest.mark.parametrize("api", ["cloud", "datacenter"])
def test_a_server_paging_in_a_loop_is_refused(
    staging: Path, templating: Templating, api: Literal["cloud", "datacenter"]
) -> None:
    looping = FakeJira(jira_issues(250), api=api, token=TOKEN, user=USER, loop=True)
    with looping as jira, pytest.raises(EvidenceError, match="pages go round in a loop"):
        fetch_jira(jira_source(jira.url, api=api), templating, staging, policy=FAST)
    assert len(jira.received) == 2


def test_fields_come_from_the_column_paths() -> None:
    assert ",".join(jira_fields(jira_source("https://acme.atlassian.net"))) == WANTED
    with pytest.raises(ConfigurationError, match="columns name no Jira field"):
        jira_fields(jira_source("https://acme.atlassian.net", columns={"key": "project_id"}))
