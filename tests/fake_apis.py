"""Loopback HTTP servers that answer like Jira Cloud, Jira Data Center and a paginated REST
API, so the connectors are tested over real sockets.

Each server runs `http.server.ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon
thread, for the span of a `with` block. It checks the credentials (401 otherwise), pages
as the real system does, records every request it receives (and when it arrived), and can
be scripted to fail: `fail_next` queues answers served before the normal ones (a 429,
then a 500, ...); `fail_always` answers every request with one failure; `loop=True` pages
in a circle. `delay_seconds` makes every answer take that long, and `most_in_flight`
says how many requests it was ever answering at once.

The portfolio can change between fetches, as a real one does: `update`, `add` and
`delete` an issue or record; each change stamps it updated now, and a search asks for
what was updated since a moment as the real system reads it (JQL's `updated >= "..."`
in the account's time zone; the REST API's `since_param`).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names in lower case
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


def jira_error(status: int, *messages: str) -> Answer:
    """Jira's error body: `{"errorMessages": [...], "errors": {...}}`."""
    return Answer(status, {"errorMessages": list(messages), "errors": {}})


RATE_LIMITED = Answer(429, {"message": "Rate limit exceeded."}, {"Retry-After": "1"})
SERVER_ERROR = Answer(500, {"message": "Internal server error"})


class FakeApi:
    """What every fake shares: the server's lifetime, the auth check, the script."""

    def __init__(
        self,
        *,
        token: str,
        user: str | None = None,
        loop: bool = False,
        delay_seconds: float = 0.0,
    ) -> None:
        self.token = token
        self.user = user  # basic auth (user, token) when set, else a bearer token
        self.loop = loop
        self.delay_seconds = delay_seconds
        self.received: list[Received] = []
        self.in_flight = 0
        self.most_in_flight = 0
        self._script: list[Answer] = []
        self._at: dict[int, Answer] = {}
        self._always: Answer | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "use the fake in a with block"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def fail_next(self, *answers: Answer) -> None:
        with self._lock:
            self._script.extend(answers)

    def fail_always(self, answer: Answer | None) -> None:
        """Answer every request with `answer`; None: answer normally again."""
        self._always = answer

    def fail_request(self, number: int, answer: Answer) -> None:
        """Answer the `number`-th request (counted from 1, this server's first) with
        `answer`, whenever it comes."""
        with self._lock:
            self._at[number] = answer

    def __enter__(self) -> Self:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        # a short poll keeps shutdown quick; the default half second adds up over a suite
        serve = partial(self._server.serve_forever, poll_interval=0.01)
        self._thread = threading.Thread(target=serve, daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @contextmanager
    def answering(self) -> Iterator[None]:
        """One request being answered, from its arrival until its answer is ready (so a
        client that sends the next request once it has read an answer is never counted
        twice)."""
        with self._lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            yield
            if self.delay_seconds:
                time.sleep(self.delay_seconds)
        finally:
            with self._lock:
                self.in_flight -= 1

    def respond(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.received.append(Received(path, params, headers, time.monotonic()))
            scripted = self._at.pop(len(self.received), None)
            if scripted is None and self._script:
                scripted = self._script.pop(0)
        if scripted is not None:
            return scripted
        if self._always is not None:
            return self._always
        if headers.get("authorization") != self._expected_authorization():
            return self.unauthorized()
        return self.answer(path, params)

    def _expected_authorization(self) -> str:
        if self.user is None:
            return f"Bearer {self.token}"
        pair = f"{self.user}:{self.token}".encode()
        return f"Basic {base64.b64encode(pair).decode()}"

    def unauthorized(self) -> Answer:
        return Answer(401, {"message": "Unauthorized"}, {"WWW-Authenticate": "Bearer"})

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        raise NotImplementedError


def _handler_for(api: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query, keep_blank_values=True)
            params = {name: values[-1] for name, values in query.items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            with api.answering():
                answer = api.respond(parts.path, params, headers)
                raw = answer.body if isinstance(answer.body, bytes) else json.dumps(answer.body)
                payload = raw if isinstance(raw, bytes) else raw.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            for name, value in answer.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep pytest's output clean

    return Handler


# --- Jira -----------------------------------------------------------------------------

_STATUSES = [
    ("To Do", "1", "new", 2, "To Do", "blue-gray"),
    ("In Progress", "3", "indeterminate", 4, "In Progress", "yellow"),
    ("Done", "10001", "done", 3, "Done", "green"),
]
_UNITS = ["Corporate", "Retail Banking", "Wealth Management"]
_JQL_FIELDS = {"project", "status", "statuscategory", "updated", "created", "issuetype", "labels"}
_JQL_CLAUSE = re.compile(r"([A-Za-z_]\w*)\s*(?:!=|>=|<=|=|>|<|~|\bnot in\b|\bin\b)", re.I)
_JQL_PROJECT = re.compile(r"\bproject\s*=\s*\"?(\w+)\"?", re.I)
_JQL_UPDATED = re.compile(r"\bupdated\s*(>=|>)\s*\"([^\"]*)\"", re.I)
_JQL_DATES = ("%Y/%m/%d %H:%M", "%Y-%m-%d %H:%M", "%Y/%m/%d", "%Y-%m-%d")
_ISSUE_EXPAND = "operations,versionedRepresentations,editmeta,changelog,renderedFields"


def jira_issues(count: int, *, project: str = "PRJ") -> list[dict[str, Any]]:
    """Issues as Jira stores them, every field present; `self` links are added per server."""
    issues = []
    for n in range(1, count + 1):
        name, status_id, category, category_id, category_name, colour = _STATUSES[n % 3]
        fields = {
            "summary": f"Modernise platform {n}",
            "status": {
                "description": "",
                "id": status_id,
                "name": name,
                "statusCategory": {
                    "colorName": colour,
                    "id": category_id,
                    "key": category,
                    "name": category_name,
                },
            },
            "duedate": "2026-09-30",
            "customfield_10015": "2026-01-15",  # start date
            "customfield_10020": {"id": str(10100 + n % 3), "value": _UNITS[n % 3]},
            "customfield_10030": 120000.0 + n,
            "labels": ["btm", "q3"] if n % 2 else [],
            "assignee": {"accountId": f"5b10a2844c20165700ede2{n:02d}", "displayName": "Ana"},
            "description": {"type": "doc", "version": 1, "content": []},
        }
        issues.append({"id": str(10000 + n), "key": f"{project}-{n}", "fields": fields})
    return issues


def _jql_moment(text: str, zone: ZoneInfo) -> datetime:
    """A JQL date as Jira reads it: to the minute, in the account's time zone."""
    for pattern in _JQL_DATES:
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=zone)
        except ValueError:
            continue
    raise ValueError(text)


class FakeJira(FakeApi):
    """Jira's issue search. Cloud: `GET /rest/api/3/search/jql` with opaque page tokens
    (the old `/rest/api/{2,3}/search` answer 410 Gone, as on Cloud today); Data Center:
    `GET /rest/api/2/search` with startAt and total. `max_page` is the server's own cap
    on maxResults, as both products have. `GET /rest/api/{3,2}/myself` gives the account's
    `time_zone`, the zone JQL dates are read in (None: it gives none, and JQL reads UTC).
    The issues given were last updated a day before the server was made."""

    def __init__(
        self,
        issues: list[dict[str, Any]],
        *,
        api: Literal["cloud", "datacenter"],
        token: str,
        user: str | None = None,
        max_page: int = 100,
        loop: bool = False,
        delay_seconds: float = 0.0,
        time_zone: str = "UTC",
    ) -> None:
        super().__init__(token=token, user=user, loop=loop, delay_seconds=delay_seconds)
        self.api = api
        self.issues = issues
        self.max_page = max_page
        self.time_zone = time_zone
        yesterday = datetime.now(UTC) - timedelta(days=1)
        self.updated: dict[str, datetime] = {issue["key"]: yesterday for issue in issues}
        self._by_key = {issue["key"]: issue for issue in issues}
        self._tokens: dict[str, int] = {}
        self._found: dict[str, list[dict[str, Any]]] = {}  # by JQL, until the next change

    def update(self, key: str, **fields: Any) -> None:
        """Change an issue's fields; it is updated now."""
        with self._lock:
            self._by_key[key]["fields"].update(fields)
            self._touch(key)

    def add(self, issue: dict[str, Any]) -> None:
        """A new issue, created now."""
        with self._lock:
            self.issues.append(issue)
            self._by_key[issue["key"]] = issue
            self._touch(issue["key"])

    def delete(self, key: str) -> None:
        with self._lock:
            self.issues[:] = [i for i in self.issues if i["key"] != key]
            self._by_key.pop(key, None)
            self.updated.pop(key, None)
            self._found.clear()

    def _touch(self, key: str) -> None:
        self.updated[key] = datetime.now(UTC)
        self._found.clear()

    def unauthorized(self) -> Answer:
        return jira_error(
            401, "You are not authenticated. Authentication required to perform this operation."
        )

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if self.api == "cloud" and path == "/rest/api/3/search/jql":
            return self._search(params, cloud=True)
        if self.api == "datacenter" and path == "/rest/api/2/search":
            return self._search(params, cloud=False)
        if path == ("/rest/api/3/myself" if self.api == "cloud" else "/rest/api/2/myself"):
            account = {"accountId": "5b10a2844c20165700ede21g", "active": True, "locale": "en_GB"}
            zone = {"timeZone": self.time_zone} if self.time_zone else {}
            return Answer(200, {**account, **zone})
        if self.api == "cloud" and path in ("/rest/api/2/search", "/rest/api/3/search"):
            return jira_error(
                410,
                "The requested API has been removed. Please migrate to the "
                "/rest/api/3/search/jql API.",
            )
        return jira_error(404, f"null for uri: {self.url}{path}")

    def _search(self, params: dict[str, str], *, cloud: bool) -> Answer:
        jql = params.get("jql", "")
        for name in _JQL_CLAUSE.findall(jql):
            if name.lower() not in _JQL_FIELDS:
                return jira_error(
                    400, f"Field '{name}' does not exist or you do not have permission to view it."
                )
        project = _JQL_PROJECT.search(jql)
        if project and not any(i["key"].startswith(f"{project.group(1)}-") for i in self.issues):
            return jira_error(
                400, f"The value '{project.group(1)}' does not exist for the field 'project'."
            )
        try:
            matching = self._matching(jql)
        except ValueError as exc:
            return jira_error(400, f"Date value '{exc}' for field 'updated' is invalid.")
        size = min(int(params.get("maxResults", 50)), self.max_page)
        wanted = self._wanted_fields(params.get("fields"), cloud=cloud)
        version = 3 if cloud else 2
        if cloud:
            start = self._tokens.get(params.get("nextPageToken", ""), 0)
        else:
            start = 0 if self.loop else int(params.get("startAt", 0))
        page = [self._shown(i, wanted, version) for i in matching[start : start + size]]
        if not cloud:
            body = {"expand": "schema,names", "startAt": start, "maxResults": size}
            return Answer(200, {**body, "total": len(matching), "issues": page})
        if start + size >= len(matching) and not self.loop:
            return Answer(200, {"issues": page, "isLast": True})
        token = "CAEaAggB" if self.loop else secrets.token_urlsafe(16)
        self._tokens[token] = 0 if self.loop else start + size
        return Answer(200, {"issues": page, "nextPageToken": token, "isLast": False})

    def _matching(self, jql: str) -> list[dict[str, Any]]:
        """The issues a JQL finds: its project and its `updated` bounds (the rest of the
        query is not read)."""
        with self._lock:
            if jql in self._found:
                return self._found[jql]
            matching = self.issues
            if project := _JQL_PROJECT.search(jql):
                matching = [i for i in matching if i["key"].startswith(f"{project.group(1)}-")]
            zone = ZoneInfo(self.time_zone or "UTC")  # an account without one: the site's
            for operator, text in _JQL_UPDATED.findall(jql):
                moment = _jql_moment(text, zone)
                matching = [
                    i
                    for i in matching
                    if self.updated[i["key"]] > moment
                    or (operator == ">=" and self.updated[i["key"]] >= moment)
                ]
            self._found[jql] = matching
            return matching

    @staticmethod
    def _wanted_fields(fields: str | None, *, cloud: bool) -> set[str] | None:
        """None means every field. Cloud's search/jql returns only ids unless asked."""
        if fields is None:
            return set() if cloud else None
        names = set(fields.split(","))
        return None if names & {"*all", "*navigable"} else names

    def _shown(self, issue: dict[str, Any], wanted: set[str] | None, version: int) -> Any:
        base = f"{self.url}/rest/api/{version}/issue/{issue['id']}"
        if wanted == set():
            return {"id": issue["id"]}
        fields = {k: v for k, v in issue["fields"].items() if wanted is None or k in wanted}
        return {"expand": _ISSUE_EXPAND, **issue, "self": base, "fields": fields}


# --- a generic REST API -----------------------------------------------------------------


def rest_records(count: int) -> list[dict[str, Any]]:
    """Investments as a portfolio tool would list them."""
    return [
        {
            "id": f"INV-{n}",
            "unit": _UNITS[n % 3],
            "title": f"Investment {n}",
            "budget": {"amount": 1000.0 * n, "currency": "EUR"},
            "approved": n % 2 == 0,
        }
        for n in range(1, count + 1)
    ]


REST_SINCE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class FakeRest(FakeApi):
    """A portfolio tool's API with three paging styles:
    `/v1/projects`: records at `data.items`, a relative next link at `links.next`;
    `/v1/applications`: a bare list, the next page in a `Link: <...>; rel="next"` header;
    `/v1/investments`: `offset` and `limit` (capped at `max_limit`), records at `results`.
    Next links keep the request's other parameters, as real APIs do. With `since_param`,
    a request that gives it (`2026-10-05T09:45:00Z`) gets only the records updated from
    then on; the records given were last updated a day before the server was made."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        token: str,
        user: str | None = None,
        page_size: int = 50,
        max_limit: int = 100,
        loop: bool = False,
        since_param: str | None = None,
        key: str = "id",
    ) -> None:
        super().__init__(token=token, user=user, loop=loop)
        self.records = records
        self.page_size = page_size
        self.max_limit = max_limit
        self.since_param = since_param
        self.key = key  # the records' id field
        yesterday = datetime.now(UTC) - timedelta(days=1)
        self.updated: dict[str, datetime] = {record[key]: yesterday for record in records}

    def update(self, record_id: str, **values: Any) -> None:
        """Change a record; it is updated now."""
        with self._lock:
            (record,) = [r for r in self.records if r[self.key] == record_id]
            record.update(values)
            self.updated[record_id] = datetime.now(UTC)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self.records.append(record)
            self.updated[record[self.key]] = datetime.now(UTC)

    def delete(self, record_id: str) -> None:
        with self._lock:
            self.records[:] = [r for r in self.records if r[self.key] != record_id]

    def _listed(self, params: dict[str, str]) -> list[dict[str, Any]]:
        since = params.get(self.since_param) if self.since_param else None
        if since is None:
            return self.records
        moment = datetime.strptime(since, REST_SINCE_FORMAT).replace(tzinfo=UTC)
        return [r for r in self.records if self.updated[r[self.key]] >= moment]

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        records = self._listed(params)
        if path == "/v1/investments":
            offset = 0 if self.loop else int(params.get("offset", 0))
            limit = min(int(params.get("limit", 20)), self.max_limit)
            return Answer(200, {"count": len(records), "results": records[offset : offset + limit]})
        if path not in ("/v1/projects", "/v1/applications"):
            return Answer(404, {"error": "not_found", "message": f"No route for {path}"})
        cursor = int(params.get("cursor", 0))
        page = records[cursor : cursor + self.page_size]
        following = cursor if self.loop else cursor + self.page_size
        more = self.loop or following < len(records)
        link = f"{path}?{urlencode({**params, 'cursor': following})}" if more else None
        if path == "/v1/projects":
            body = {"data": {"items": page}, "links": {"self": path, "next": link}}
            return Answer(200, body)
        headers = {"Link": f'<{self.url}{link}>; rel="next"'} if link else {}
        return Answer(200, page, headers)
