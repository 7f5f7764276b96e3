import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from btm.errors import EvidenceError
from btm.evidence.http import RetryPolicy
from btm.evidence.rest import fetch_rest
from btm.evidence.sources import RestSource, Templating
from tests.fake_apis import RATE_LIMITED, SERVER_ERROR, FakeRest, rest_records

TOKEN = "ppm-pat-51d0c3aa"
FAST = RetryPolicy(attempts=3, backoff_seconds=0.01, max_wait_seconds=0.05, timeout_seconds=5)
COLUMNS = {"id": "investment_id", "unit": "business_unit", "budget.amount": "budget"}


@pytest.fixture
def staging(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PPM_TOKEN", TOKEN)
    folder = tmp_path / "staging"
    folder.mkdir()
    return folder


def rest_source(location: str, **settings: Any) -> RestSource:
    return RestSource.model_validate(
        {
            "connector": "rest",
            "name": "ppm-investments",
            "kind": "investments",
            "location": location,
            "auth": {"type": "bearer", "token": {"env": "PPM_TOKEN"}},
            "columns": COLUMNS,
            **settings,
        }
    )


def fetched(payloads: list) -> list[dict[str, Any]]:
    assert [(p.source, p.part) for p in payloads] == [("ppm-investments", "ppm-investments.json")]
    return json.loads(payloads[0].path.read_text(encoding="utf-8"))


def test_a_next_link_in_the_body_is_followed(staging: Path, templating: Templating) -> None:
    with FakeRest(rest_records(230), token=TOKEN, page_size=50) as api:
        source = rest_source(
            api.url + "/v1/projects?status=active",
            records="data.items",
            next_link="links.next",
            params={"as_of": "{as_of}", "archived": False},
        )
        records = fetched(fetch_rest(source, templating, staging, policy=FAST))

    assert [r["id"] for r in records] == [f"INV-{n}" for n in range(1, 231)]
    assert len(api.received) == 5
    assert api.received[0].params == {
        "status": "active",
        "as_of": "2026-09-30",
        "archived": "false",
    }
    assert [r.params.get("cursor") for r in api.received] == [None, "50", "100", "150", "200"]
    assert all(r.params["as_of"] == "2026-09-30" for r in api.received)  # kept by the links
    assert {r.headers["authorization"] for r in api.received} == {f"Bearer {TOKEN}"}


def test_a_link_header_is_followed_when_the_body_is_the_list(
    staging: Path, templating: Templating
) -> None:
    with FakeRest(rest_records(120), token=TOKEN, page_size=50) as api:
        source = rest_source(api.url + "/v1/applications")
        records = fetched(fetch_rest(source, templating, staging, policy=FAST))

    assert len(records) == 120 and records[-1]["id"] == "INV-120"
    assert [r.params.get("cursor") for r in api.received] == [None, "50", "100"]


@pytest.mark.parametrize(("count", "requests"), [(250, 3), (200, 3), (0, 1)])
def test_offset_pages_stop_at_a_short_or_empty_page(
    staging: Path, templating: Templating, count: int, requests: int
) -> None:
    with FakeRest(rest_records(count), token=TOKEN) as api:
        source = rest_source(
            api.url + "/v1/investments", records="results", pagination="offset", page_size=100
        )
        records = fetched(fetch_rest(source, templating, staging, policy=FAST))

    assert len(records) == count
    assert [r.params["offset"] for r in api.received] == [str(100 * n) for n in range(requests)]
    assert {r.params["limit"] for r in api.received} == {"100"}


def test_without_pagination_one_request_is_made(staging: Path, templating: Templating) -> None:
    with FakeRest(rest_records(80), token=TOKEN, page_size=50) as api:
        source = rest_source(api.url + "/v1/applications", pagination="none")
        records = fetched(fetch_rest(source, templating, staging, policy=FAST))

    assert len(records) == 50 and len(api.received) == 1


def test_basic_auth_and_retries(staging: Path, templating: Templating) -> None:
    basic = {"type": "basic", "user": "svc-btm", "token": {"env": "PPM_TOKEN"}}
    with FakeRest(rest_records(250), token=TOKEN, user="svc-btm") as api:
        api.fail_next(SERVER_ERROR, RATE_LIMITED)
        source = rest_source(
            api.url + "/v1/investments", records="results", pagination="offset", auth=basic
        )
        records = fetched(fetch_rest(source, templating, staging, policy=FAST))

    assert len(records) == 250
    assert len(api.received) == 5  # 3 pages, the first asked three times


def test_a_refused_token_names_its_variable_not_its_value(
    staging: Path, templating: Templating, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PPM_TOKEN", "revoked-pat-0099")
    with FakeRest(rest_records(10), token=TOKEN) as api, pytest.raises(EvidenceError) as raised:
        fetch_rest(rest_source(api.url + "/v1/applications"), templating, staging, policy=FAST)

    message = str(raised.value)
    assert "'ppm-investments'" in message and "401 Unauthorized" in message
    assert "check the token in environment variable PPM_TOKEN" in message
    assert "revoked-pat-0099" not in message


@pytest.mark.parametrize(
    ("path", "failing", "expected"),
    [
        ("/v1/nowhere", False, "404 Not Found; check location in the sources file"),
        ("/v1/investments", True, "500 Internal Server Error after 3 attempts; is the system up?"),
    ],
)
def test_failures_name_the_source_the_url_and_the_fix(
    staging: Path, templating: Templating, path: str, failing: bool, expected: str
) -> None:
    with FakeRest(rest_records(10), token=TOKEN) as api:
        if failing:
            api.fail_always(SERVER_ERROR)
        with pytest.raises(EvidenceError) as raised:
            fetch_rest(rest_source(api.url + path), templating, staging, policy=FAST)

    assert f"source 'ppm-investments': GET {api.url}{path}" in str(raised.value)
    assert expected in str(raised.value)


def test_a_wrong_records_path_names_the_keys_there_are(
    staging: Path, templating: Templating
) -> None:
    with FakeRest(rest_records(10), token=TOKEN) as api:
        source = rest_source(api.url + "/v1/projects", records="items")
        with pytest.raises(
            EvidenceError,
            match="without a list at records 'items'; its top-level keys: data, links",
        ):
            fetch_rest(source, templating, staging, policy=FAST)


@pytest.mark.parametrize(
    ("path", "settings", "message"),
    [
        ("/v1/projects", {"records": "data.items", "next_link": "links.next"}, "a link back to"),
        ("/v1/investments", {"records": "results", "pagination": "offset"}, "offset=100"),
    ],
)
def test_a_server_paging_in_a_loop_is_refused(
    staging: Path, templating: Templating, path: str, settings: dict[str, str], message: str
) -> None:
    looping = FakeRest(rest_records(250), token=TOKEN, loop=True)
    with looping as api, pytest.raises(EvidenceError, match=message):
        fetch_rest(rest_source(api.url + path, **settings), templating, staging, policy=FAST)
    assert len(api.received) <= 3


def test_the_same_records_give_the_same_bytes(
    staging: Path, tmp_path: Path, templating: Templating
) -> None:
    digests = []
    with FakeRest(rest_records(230), token=TOKEN) as api:
        source = rest_source(api.url + "/v1/projects", records="data.items", next_link="links.next")
        for run in ("first", "second"):
            (tmp_path / run).mkdir()
            [payload] = fetch_rest(source, templating, tmp_path / run, policy=FAST)
            digests.append(hashlib.sha256(payload.path.read_bytes()).hexdigest())
    assert digests[0] == digests[1]
