"""The Jira connector: every issue a JQL search finds, with the fields the mapping reads.

Jira Cloud pages with tokens on `GET /rest/api/3/search/jql` (Atlassian removed the old
`/rest/api/3/search`); Data Center and Server page with `startAt` on
`GET /rest/api/2/search`. Only the fields named in the source's columns are asked for:
`*all` is slow on a large instance, and the payload would change (and be re-read)
whenever someone adds a custom field. Issues are kept once per key, in key order.

Data Center's pages can be asked for side by side once the first answers have given the
total and the server's page size; Cloud's page tokens come one from the other, so its
pages are asked for in turn.

An incremental fetch adds `updated >= "yyyy/MM/dd HH:mm"` to the JQL. JQL reads such a
date to the minute, in the time zone of the searching account's Jira profile: the
watermark is written in that zone (the source's `time_zone`, else the one Jira gives for
the account), its seconds dropped, so the moment JQL reads is never later than it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from btm.errors import ConfigurationError, EvidenceError
from btm.evidence.http import (
    DEFAULT_RETRIES,
    Fixes,
    JsonClient,
    LoopGuard,
    Page,
    RetryPolicy,
    in_parallel,
    shown_url,
    write_records,
)
from btm.evidence.incremental import JIRA_KEY, keyed
from btm.evidence.payload import Payload
from btm.evidence.sources import JiraSource, Templating

log = logging.getLogger(__name__)

SEARCH_PATHS = {"cloud": "/rest/api/3/search/jql", "datacenter": "/rest/api/2/search"}
MYSELF_PATHS = {"cloud": "/rest/api/3/myself", "datacenter": "/rest/api/2/myself"}
JQL_MINUTE = "%Y/%m/%d %H:%M"
# No time zone is behind UTC-12: a moment written in it is never later than the same
# moment written in the account's zone, whatever that is.
EARLIEST_ZONE = timezone(timedelta(hours=-12), "UTC-12")


def jira_fields(source: JiraSource) -> list[str]:
    """The Jira fields the column mapping reads: `fields.status.statusCategory.key` needs
    `status`; `key` and `id` come with every issue."""
    names = {
        path.split(".")[1]
        for path in source.columns
        if path.startswith("fields.") and path.split(".")[1]
    }
    if not names:
        raise ConfigurationError(
            f"source {source.name!r}: columns name no Jira field; map paths such as "
            "fields.summary or fields.status.name onto the kind's fields"
        )
    return sorted(names)


def fetch_jira(
    source: JiraSource,
    templating: Templating,
    staging: Path,
    *,
    policy: RetryPolicy = DEFAULT_RETRIES,
    since: datetime | None = None,
) -> list[Payload]:
    """All pages of the search as one JSON array of issues, `<source>.json` in staging;
    with `since`, only the issues updated from that moment on."""
    base = templating.fill(source.location, source=source.name, setting="location").rstrip("/")
    jql = templating.fill(source.jql, source=source.name, setting="jql")
    with JsonClient(
        source=source.name,
        auth=source.auth,
        fixes=_fixes(source),
        policy=policy,
        read_block=templating.read_block,
        max_concurrency=source.max_concurrency,
    ) as client:
        if since is not None:
            zone = _account_zone(client, base, source)
            jql = jql_updated_since(jql, jql_minute(since, zone))
        query: dict[str, str | int] = {
            "jql": jql,
            "fields": ",".join(jira_fields(source)),
            "maxResults": source.page_size,
        }
        url = base + SEARCH_PATHS[source.api]
        pages = _cloud_pages if source.api == "cloud" else _datacenter_pages
        issues = [issue for page in pages(client, url, query, source.name) for issue in page]
    return write_records(source.name, keyed(issues, JIRA_KEY, source=source.name), staging)


def jql_minute(moment: datetime, zone: tzinfo) -> str:
    """`moment` as JQL reads a date and time (`2026/10/05 09:45`) in `zone`, never later
    than `moment`: the seconds are dropped, and in the hour a clock turns back, whose
    times happen twice, a moment of the first time round is written an hour early (JQL
    may read the time as its second time round)."""
    local = moment.astimezone(zone)
    twin = local.replace(fold=1 - local.fold)
    offset, other = local.utcoffset(), twin.utcoffset()
    if offset is not None and other is not None and offset > other:
        local = (moment - (offset - other)).astimezone(zone)
    return local.strftime(JQL_MINUTE)


def jql_updated_since(jql: str, since: str) -> str:
    """The JQL narrowed to the issues updated from `since` on: the clause joins the
    query's conditions, before its ORDER BY."""
    where, order = _split_order_by(jql)
    clause = f'updated >= "{since}"'
    narrowed = f"({where.strip()}) AND {clause}" if where.strip() else clause
    return f"{narrowed} {order}" if order else narrowed


_ORDER_BY = re.compile(r"\border\s+by\b", re.IGNORECASE)


def _split_order_by(jql: str) -> tuple[str, str]:
    """The conditions and the ORDER BY clause of a query; an ORDER BY inside quotes or
    parentheses is text, not the clause."""
    top_level: set[int] = set()
    quote: str | None = None
    depth = 0
    escaped = False
    for at, char in enumerate(jql):
        if quote is not None:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == quote:
                quote = None
            continue
        if char in "\"'":
            quote = char
        elif char == "(":
            depth += 1
        elif char == ")":
            depth = max(depth - 1, 0)
        elif depth == 0:
            top_level.add(at)
    for match in reversed(list(_ORDER_BY.finditer(jql))):
        if match.start() in top_level:
            return jql[: match.start()], jql[match.start() :].strip()
    return jql, ""


def _account_zone(client: JsonClient, base: str, source: JiraSource) -> tzinfo:
    """The zone JQL reads dates in: the source's `time_zone`, else the account's own, as
    Jira gives it; when Jira does not say, the earliest zone there is, so that the fetch
    asks from too early (costing some issues fetched again), never too late."""
    if source.time_zone is not None:
        return ZoneInfo(source.time_zone)
    page = client.get(base + MYSELF_PATHS[source.api])
    name = page.body.get("timeZone") if isinstance(page.body, dict) else None
    try:
        return ZoneInfo(name) if isinstance(name, str) and name else _earliest(source, name)
    except (ZoneInfoNotFoundError, ValueError):
        return _earliest(source, name)


def _earliest(source: JiraSource, name: object) -> tzinfo:
    said = f"the unknown time zone {name!r}" if name else "no time zone"
    log.warning(
        "source %r: Jira gave %s for the account; the incremental fetch asks from the "
        "watermark as read in UTC-12, which may fetch up to a day of issues again; set "
        "time_zone to the zone of the account's Jira profile",
        source.name,
        said,
    )
    return EARLIEST_ZONE


def _cloud_pages(
    client: JsonClient, url: str, query: dict[str, str | int], source: str
) -> Iterator[list[Any]]:
    guard = LoopGuard(source)
    token: str | None = None
    while True:
        page = client.get(url, {**query, "nextPageToken": token} if token else query)
        yield _issues(page, source)
        # the last page may omit nextPageToken instead of sending isLast (JRACLOUD-92184)
        token = page.body.get("nextPageToken")
        if not token or page.body.get("isLast") is True:
            return
        guard.check(f"token:{token}", f"the page token {token!r}")


@dataclass(frozen=True)
class _StartAtPage:
    start: int  # the startAt the server answered for
    issues: list[Any]
    total: int | None


def _datacenter_pages(
    client: JsonClient, url: str, query: dict[str, str | int], source: str
) -> Iterator[list[Any]]:
    guard = LoopGuard(source)

    def page_at(start: int) -> _StartAtPage:
        page = client.get(url, {**query, "startAt": start})
        issues = _issues(page, source)
        total = page.body.get("total")
        return _StartAtPage(
            page.body.get("startAt", start), issues, total if isinstance(total, int) else None
        )

    start, turns = 0, 0
    while True:
        page = page_at(start)
        turns += 1
        guard.check(f"startAt:{page.start}", f"startAt {page.start}")
        yield page.issues
        # the server may cap maxResults below page_size, so step by what came back
        step = len(page.issues)
        start = page.start + step
        if not page.issues or (page.total is not None and start >= page.total):
            return
        if turns < 2 or page.total is None:
            continue
        # Two pages have shown the server's page size and that it honours startAt: the
        # rest are asked for side by side, within the host's bound.
        starts = list(range(start, page.total, step))
        for page in in_parallel(page_at, starts, workers=client.max_concurrency):
            guard.check(f"startAt:{page.start}", f"startAt {page.start}")
            yield page.issues
        start = page.start + len(page.issues)  # issues added meanwhile: on, in turn
        if not page.issues or page.total is None or start >= page.total:
            return


def _issues(page: Page, source: str) -> list[Any]:
    issues = page.body.get("issues") if isinstance(page.body, dict) else None
    if not isinstance(issues, list):
        raise EvidenceError(
            f"source {source!r}: {shown_url(page.url)} did not answer with an issues "
            "list; check location and api (cloud or datacenter)"
        )
    return issues


def _fixes(source: JiraSource) -> Fixes:
    return Fixes(
        location=(
            "check location (the Jira base URL, e.g. https://acme.atlassian.net) and api "
            f"(now {source.api}: Jira Cloud needs cloud, Data Center and Server need "
            "datacenter)"
        ),
        request="check jql in the sources file (try it in Jira's issue search)",
    )
