"""HTTP for the connectors that read web APIs (Jira, REST): a GET of JSON, with retries.

A system may be slow, rate-limited or briefly down, so one request is retried here,
seconds apart, before the Prefect task's own retries (the source's `retries`, minutes
apart, redoing the whole fetch) come into play. Every failure becomes an `EvidenceError`
naming the source, the URL (without credentials or query string) and what to check.
The token is read only when the source is fetched and never appears in a message, a
log line or a payload.

The flows fetch sources concurrently, in threads, and a connector may ask for pages in
parallel; every request goes through its host's gate, so one host never has more
requests in flight from this process than its sources' `max_concurrency`, and a
`Retry-After` one request is given holds back every request to that host.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from btm.errors import EvidenceError
from btm.evidence.payload import Payload
from btm.evidence.sources import DEFAULT_MAX_CONCURRENCY, Auth, BlockLoader

# httpx is imported where a request is made: the read commands, which load this module
# through btm.evidence.gather, never pay for it.
if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

QueryParams = Mapping[str, Any]  # values as httpx takes them: str, int, float, bool


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried: a 429 or a 5xx waits for its Retry-After, when it
    sends one; without, a 5xx or a lost connection waits `backoff_seconds`, doubling on
    each attempt; no pause is longer than `max_wait_seconds`. Kept short: a longer outage
    is the Prefect task's to retry."""

    attempts: int = 4
    backoff_seconds: float = 1.0
    max_wait_seconds: float = 60.0
    timeout_seconds: float = 30.0  # for each request, not for the whole fetch

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("attempts must be at least 1")

    def backoff(self, attempt: int) -> float:
        """The pause after failed attempt number `attempt` (1, 2, ...)."""
        return float(self.backoff_seconds * 2 ** (attempt - 1))


DEFAULT_RETRIES = RetryPolicy()


@dataclass(frozen=True)
class Fixes:
    """What to tell the user to check, in the words of the connector."""

    location: str  # after a 404, 410 or an unreachable host
    request: str  # after a 400 or another refusal of the request itself


@dataclass(frozen=True)
class Page:
    """One JSON answer and the next page's URL from its `Link` header, if any."""

    url: httpx.URL
    body: Any
    link_next: str | None


@dataclass(frozen=True)
class _Transient:
    problem: str
    fix: str
    wait: float | None = None  # None: the policy's backoff


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """The pause a `Retry-After` header asks for: delta-seconds or an HTTP-date."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT; a naive result means it said so
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def shown_url(url: httpx.URL) -> str:
    """A URL fit for a message: no user info, no query string (either may carry secrets)."""
    return str(url.copy_with(userinfo=b"", query=None, fragment=None))


def body_error_text(response: httpx.Response, *, limit: int = 300) -> str:
    """The error an API put in its body: Jira's errorMessages and errors, a message or
    error field, or the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:limit] or "(no details in the response)"
    if isinstance(body, dict):
        parts = [str(m) for m in body.get("errorMessages") or []]
        errors = body.get("errors")
        if isinstance(errors, dict):
            parts += [f"{field}: {message}" for field, message in errors.items()]
        for key in ("message", "error", "detail", "title"):
            if not parts and isinstance(body.get(key), str):
                parts.append(body[key])
        if parts:
            return "; ".join(parts)[:limit]
    return json.dumps(body, ensure_ascii=False)[:limit]


class HostGate:
    """The requests in flight to one host, and until when its server asked to be left
    alone."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._in_flight = 0
        self._paused_until = 0.0  # time.monotonic()

    @contextmanager
    def slot(self, limit: int) -> Iterator[None]:
        """Hold one of the host's `limit` places for the span of a request, once no pause
        is asked for. Sources on one host may give different limits: a request waits until
        fewer than its own source's are in flight, so the host never has more than the
        largest."""
        with self._changed:
            while True:
                pause = self._paused_until - time.monotonic()
                if pause > 0:
                    self._changed.wait(pause)
                elif self._in_flight >= limit:
                    self._changed.wait()
                else:
                    break
            self._in_flight += 1
        try:
            yield
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()

    def pause(self, seconds: float) -> None:
        """No new request to the host for `seconds` (a pause already asked for that ends
        later stands)."""
        with self._changed:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


class HostGates:
    """One gate per host (scheme, name and port), shared by every source and thread of
    the process that asks that host."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._gates: dict[tuple[str, str, int | None], HostGate] = {}

    def gate(self, url: httpx.URL) -> HostGate:
        key = (url.scheme, url.host, url.port)
        with self._lock:
            return self._gates.setdefault(key, HostGate())


# Per process, as the limit is: the flows' fetch tasks are threads of one process.
HOSTS = HostGates()


class JsonClient:
    """GETs JSON from one source's system with its credentials and the retry policy,
    through the gate of each URL's host."""

    def __init__(
        self,
        *,
        source: str,
        auth: Auth | None,
        fixes: Fixes,
        policy: RetryPolicy,
        read_block: BlockLoader | None = None,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        import httpx

        self._source = source
        self._auth = auth
        self._fixes = fixes
        self._policy = policy
        self.max_concurrency = max_concurrency
        self._secret = auth.token.resolve(read_block) if auth else None
        headers = {"Accept": "application/json", "User-Agent": "btm-pipeline"}
        basic: httpx.Auth | None = None
        if auth is not None and auth.type == "bearer":
            headers["Authorization"] = f"Bearer {self._secret}"
        elif auth is not None and self._secret is not None:
            basic = httpx.BasicAuth(auth.user or "", self._secret)
        self._http = httpx.Client(
            headers=headers,
            auth=basic,
            timeout=policy.timeout_seconds,
            follow_redirects=True,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._http.close()

    def get(self, url: str, params: QueryParams | None = None) -> Page:
        """One page; `params` are merged into the URL's own query string."""
        import httpx

        target = httpx.URL(url).copy_merge_params(dict(params)) if params else httpx.URL(url)
        gate = HOSTS.gate(target)
        attempt = 1
        while True:
            with gate.slot(self.max_concurrency):
                outcome = self._try(target)
            if isinstance(outcome, Page):
                return outcome
            if attempt >= self._policy.attempts:
                tries = f" after {attempt} attempts" if attempt > 1 else ""
                raise self._error(
                    f"GET {shown_url(target)} {outcome.problem}{tries}; {outcome.fix}"
                )
            asked = self._policy.backoff(attempt) if outcome.wait is None else outcome.wait
            wait = min(asked, self._policy.max_wait_seconds)
            if outcome.wait is not None:
                gate.pause(wait)  # the server asked the host to wait: every request waits
            log.warning(
                "source %r: GET %s %s; retrying in %.1f s (attempt %d of %d)",
                self._source,
                shown_url(target),
                outcome.problem,
                wait,
                attempt + 1,
                self._policy.attempts,
            )
            time.sleep(wait)
            attempt += 1

    def _try(self, url: httpx.URL) -> Page | _Transient:
        import httpx

        unreachable = f"is the system up? {self._fixes.location}"
        try:
            response = self._http.get(url)
        except httpx.TimeoutException:
            problem = f"did not answer within {self._policy.timeout_seconds:g} s"
            return _Transient(problem, unreachable)
        except httpx.TransportError as exc:
            return _Transient(f"could not be reached ({exc})", unreachable)
        status = f"answered {response.status_code} {response.reason_phrase}"
        asked = retry_after_seconds(response.headers.get("Retry-After"))
        if response.status_code == 429:
            fix = "the system is rate-limiting this account; run again later"
            return _Transient(status, fix, asked)
        if response.status_code >= 500:  # a 503 may say when to come back
            return _Transient(status, f"{unreachable}, or run again later", asked)
        if response.is_success:
            return self._page(response)
        raise self._error(f"GET {shown_url(url)} {status}{self._refusal(response)}")

    def _refusal(self, response: httpx.Response) -> str:
        """What to do about a 4xx, which a retry would not change."""
        code = response.status_code
        if code in (401, 403):
            if self._auth is None:
                return "; the source has no auth: add auth: {type: bearer, token: {env: VARIABLE}}"
            user = f" (user {self._auth.user})" if self._auth.user else ""
            return (
                f"; check the token in {self._auth.token.describe()}{user} "
                "and the account's permissions"
            )
        if code in (404, 410):
            return f"; {self._fixes.location}"
        return f": {body_error_text(response)}; {self._fixes.request}"

    def _page(self, response: httpx.Response) -> Page:
        try:
            body = response.json()
        except ValueError:
            kind = response.headers.get("Content-Type", "no content type")
            raise self._error(
                f"GET {shown_url(response.url)} answered with {kind}, not JSON; "
                f"{self._fixes.location}"
            ) from None
        link_next = response.links.get("next", {}).get("url")
        return Page(response.url, body, link_next)

    def _error(self, message: str) -> EvidenceError:
        # an API could echo a credential in its error text; none ever leaves this class
        if self._secret:
            message = message.replace(self._secret, "***")
        return EvidenceError(f"source {self._source!r}: {message}")


_LOOP_FIX = "the fetch stopped rather than read forever; report this to the system's owner"


class LoopGuard:
    """Refuses a server that pages in a circle (the same token, offset or URL again)."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._seen: set[str] = set()

    def check(self, marker: str, what: str, *, fix: str = _LOOP_FIX) -> None:
        if marker in self._seen:
            raise EvidenceError(
                f"source {self._source!r}: the server sent {what} a second time, so its "
                f"pages go round in a loop; {fix}"
            )
        self._seen.add(marker)


_Item = TypeVar("_Item")
_Result = TypeVar("_Result")


def in_parallel(
    ask: Callable[[_Item], _Result], items: Sequence[_Item], *, workers: int
) -> list[_Result]:
    """`ask(item)` for every item, up to `workers` at once, the answers in the items'
    order. The first failure is raised once the requests under way have ended; what was
    not asked yet is not asked."""
    if workers <= 1 or len(items) <= 1:
        return [ask(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(workers, len(items))) as pool:
        futures = [pool.submit(ask, item) for item in items]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def dig(body: Any, path: str) -> Any:
    """The value at a dotted path (`data.items`), or None where the path runs out."""
    for key in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(key)
    return body


def write_records(
    source: str, records: Iterable[Any], staging: Path, *, name: str | None = None
) -> list[Payload]:
    """All records as one JSON array, in bytes that depend on the records only (the
    pipeline hashes them to skip a batch that did not change); `name` is the file's,
    `<source>.json` unless given."""
    target = staging / (name or f"{source}.json")
    text = json.dumps(list(records), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    target.write_text(text, encoding="utf-8")
    return [Payload(source, target.name, target)]
