"""The Jira connector: every issue a JQL search finds, with the fields the mapping reads.

Jira Cloud pages with tokens on `GET /rest/api/3/search/jql` (Atlassian removed the old
`/rest/api/3/search`); Data Center and Server page with `startAt` on
`GET /rest/api/2/search`. Only the fields named in the source's columns are asked for:
`*all` is slow on a large instance, and the payload would change (and be re-read)
whenever someone adds a custom field.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from btm.errors import ConfigurationError, EvidenceError
from btm.evidence.http import (
    DEFAULT_RETRIES,
    Fixes,
    JsonClient,
    LoopGuard,
    Page,
    RetryPolicy,
    shown_url,
    write_records,
)
from btm.evidence.payload import Payload
from btm.evidence.sources import JiraSource, Templating

SEARCH_PATHS = {"cloud": "/rest/api/3/search/jql", "datacenter": "/rest/api/2/search"}


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
) -> list[Payload]:
    """All pages of the search as one JSON array of issues, `<source>.json` in staging."""
    base = templating.fill(source.location, source=source.name, setting="location").rstrip("/")
    url = base + SEARCH_PATHS[source.api]
    query: dict[str, str | int] = {
        "jql": templating.fill(source.jql, source=source.name, setting="jql"),
        "fields": ",".join(jira_fields(source)),
        "maxResults": source.page_size,
    }
    with JsonClient(
        source=source.name,
        auth=source.auth,
        fixes=_fixes(source),
        policy=policy,
        read_block=templating.read_block,
    ) as client:
        pages = _cloud_pages if source.api == "cloud" else _datacenter_pages
        issues = [issue for page in pages(client, url, query, source.name) for issue in page]
    return write_records(source.name, issues, staging)


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


def _datacenter_pages(
    client: JsonClient, url: str, query: dict[str, str | int], source: str
) -> Iterator[list[Any]]:
    guard = LoopGuard(source)
    start = 0
    while True:
        page = client.get(url, {**query, "startAt": start})
        issues = _issues(page, source)
        answered = page.body.get("startAt", start)
        guard.check(f"startAt:{answered}", f"startAt {answered}")
        yield issues
        # the server may cap maxResults below page_size, so step by what came back
        start = answered + len(issues)
        total = page.body.get("total")
        if not issues or (isinstance(total, int) and start >= total):
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
