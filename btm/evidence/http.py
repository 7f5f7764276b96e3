"""HTTP for the connectors that read web APIs (Jira, REST): a GET of JSON, with retries.

A system may be slow, rate-limited or briefly down, so one request is retried here,
seconds apart, before the Prefect task's own retries (the source's `retries`, minutes
apart, redoing the whole fetch) come into play. Every failure becomes an `EvidenceError`
naming the source, the URL (without credentials or query string) and what to check.
The token is read only when the source is fetched and never appears in a message, a
log line or a payload.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import httpx

from btm.errors import EvidenceError
from btm.evidence.payload import Payload
from btm.evidence.sources import Auth, BlockLoader

log = logging.getLogger(__name__)

QueryParams = Mapping[str, Any]  # values as httpx takes them: str, int, float, bool


@dataclass(frozen=True)
class RetryPolicy:
    """How one request is retried: a 429 waits for its Retry-After, a 5xx or a lost
    connection waits `backoff_seconds`, doubling on each attempt; no pause is longer than
    `max_wait_seconds`. Kept short: a longer outage is the Prefect task's to retry."""

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


class JsonClient:
    """GETs JSON from one source's system with its credentials and the retry policy."""

    def __init__(
        self,
        *,
        source: str,
        auth: Auth | None,
        fixes: Fixes,
        policy: RetryPolicy,
        read_block: BlockLoader | None = None,
    ) -> None:
        self._source = source
        self._auth = auth
        self._fixes = fixes
        self._policy = policy
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
        target = httpx.URL(url).copy_merge_params(dict(params)) if params else httpx.URL(url)
        attempt = 1
        while True:
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
        unreachable = f"is the system up? {self._fixes.location}"
        try:
            response = self._http.get(url)
        except httpx.TimeoutException:
            problem = f"did not answer within {self._policy.timeout_seconds:g} s"
            return _Transient(problem, unreachable)
        except httpx.TransportError as exc:
            return _Transient(f"could not be reached ({exc})", unreachable)
        status = f"answered {response.status_code} {response.reason_phrase}"
        if response.status_code == 429:
            asked = retry_after_seconds(response.headers.get("Retry-After"))
            fix = "the system is rate-limiting this account; run again later"
            return _Transient(status, fix, asked)
        if response.status_code >= 500:
            return _Transient(status, f"{unreachable}, or run again later")
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


def write_records(source: str, records: Iterable[Any], staging: Path) -> list[Payload]:
    """All records as one JSON array, in bytes that depend on the records only (the
    pipeline hashes them to skip a batch that did not change)."""
    target = staging / f"{source}.json"
    text = json.dumps(list(records), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    target.write_text(text, encoding="utf-8")
    return [Payload(source, target.name, target)]
