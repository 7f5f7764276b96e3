"""Loopback HTTP servers that answer like Jira Cloud, Jira Data Center and a paginated REST
API, so the connectors are tested over real sockets.

Each server runs `http.server.ThreadingHTTPServer` on 127.0.0.1, port 0, in a daemon
thread, for the span of a `with` block. It checks the credentials (401 otherwise), pages
as the real system does, records every request it receives, and can be scripted to fail:
`fail_next` queues answers served before the normal ones (a 429, then a 500, ...);
`fail_always` answers every request with one failure; `loop=True` pages in a circle.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
from dataclasses import dataclass, field
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    path: str
    params: dict[str, str]
    headers: dict[str, str]  # names in lower case


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

    def __init__(self, *, token: str, user: str | None = None, loop: bool = False) -> None:
        self.token = token
        self.user = user  # basic auth (user, token) when set, else a bearer token
        self.loop = loop
        self.received: list[Received] = []
        self._script: list[Answer] = []
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

    def fail_always(self, answer: Answer) -> None:
        self._always = answer

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

    def respond(self, path: str, params: dict[str, str], headers: dict[str, str]) -> Answer:
        with self._lock:
            self.received.append(Received(path, params, headers))
            scripted = self._script.pop(0) if self._script else None
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


class FakeJira(FakeApi):
    """Jira's issue search. Cloud: `GET /rest/api/3/search/jql` with opaque page tokens
    (the old `/rest/api/{2,3}/search` answer 410 Gone, as on Cloud today); Data Center:
    `GET /rest/api/2/search` with startAt and total. `max_page` is the server's own cap
    on maxResults, as both products have."""

    def __init__(
        self,
        issues: list[dict[str, Any]],
        *,
        api: Literal["cloud", "datacenter"],
        token: str,
        user: str | None = None,
        max_page: int = 100,
        loop: bool = False,
    ) -> None:
        super().__init__(token=token, user=user, loop=loop)
        self.api = api
        self.issues = issues
        self.max_page = max_page
        self._tokens: dict[str, int] = {}

    def unauthorized(self) -> Answer:
        return jira_error(
            401, "You are not authenticated. Authentication required to perform this operation."
        )

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if self.api == "cloud" and path == "/rest/api/3/search/jql":
            return self._search(params, cloud=True)
        if self.api == "datacenter" and path == "/rest/api/2/search":
            return self._search(params, cloud=False)
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
        matching = self.issues
        if project := _JQL_PROJECT.search(jql):
            prefix = f"{project.group(1)}-"
            matching = [i for i in self.issues if i["key"].startswith(prefix)]
            if not matching:
                return jira_error(
                    400, f"The value '{project.group(1)}' does not exist for the field 'project'."
                )
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


class FakeRest(FakeApi):
    """A portfolio tool's API with three paging styles:
    `/v1/projects`: records at `data.items`, a relative next link at `links.next`;
    `/v1/applications`: a bare list, the next page in a `Link: <...>; rel="next"` header;
    `/v1/investments`: `offset` and `limit` (capped at `max_limit`), records at `results`.
    Next links keep the request's other parameters, as real APIs do."""

    def __init__(
        self,
        records: list[dict[str, Any]],
        *,
        token: str,
        user: str | None = None,
        page_size: int = 50,
        max_limit: int = 100,
        loop: bool = False,
    ) -> None:
        super().__init__(token=token, user=user, loop=loop)
        self.records = records
        self.page_size = page_size
        self.max_limit = max_limit

    def answer(self, path: str, params: dict[str, str]) -> Answer:
        if path == "/v1/investments":
            offset = 0 if self.loop else int(params.get("offset", 0))
            limit = min(int(params.get("limit", 20)), self.max_limit)
            return Answer(
                200, {"count": len(self.records), "results": self.records[offset : offset + limit]}
            )
        if path not in ("/v1/projects", "/v1/applications"):
            return Answer(404, {"error": "not_found", "message": f"No route for {path}"})
        cursor = int(params.get("cursor", 0))
        page = self.records[cursor : cursor + self.page_size]
        following = cursor if self.loop else cursor + self.page_size
        more = self.loop or following < len(self.records)
        link = f"{path}?{urlencode({**params, 'cursor': following})}" if more else None
        if path == "/v1/projects":
            body = {"data": {"items": page}, "links": {"self": path, "next": link}}
            return Answer(200, body)
        headers = {"Link": f'<{self.url}{link}>; rel="next"'} if link else {}
        return Answer(200, page, headers)
