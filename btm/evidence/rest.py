"""The REST connector: every record of a paginated JSON endpoint (portfolio, finance tools).

Pages are followed by a next link (a URL in the body, or an RFC 8288 `Link: <...>;
rel="next"` header when the body has none), by an offset and a limit, or not at all.
Records are kept as the API sent them; mapping them onto a kind is the reader's job.
With a `record_key` they are kept once per key, in key order. An incremental fetch adds
the source's `since_param`, the watermark written in `since_format`, to the query.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from btm.errors import EvidenceError
from btm.evidence.http import (
    DEFAULT_RETRIES,
    Fixes,
    JsonClient,
    LoopGuard,
    Page,
    QueryParams,
    RetryPolicy,
    dig,
    shown_url,
    write_records,
)
from btm.evidence.incremental import keyed
from btm.evidence.payload import Payload
from btm.evidence.sources import RestSource, Templating

_FIXES = Fixes(
    location="check location in the sources file",
    request="check location and params in the sources file",
)


def fetch_rest(
    source: RestSource,
    templating: Templating,
    staging: Path,
    *,
    policy: RetryPolicy = DEFAULT_RETRIES,
    since: datetime | None = None,
) -> list[Payload]:
    """All pages as one JSON array of records, `<source>.json` in staging; with `since`,
    only the records updated from that moment on (the source's `since_param`)."""
    url = templating.fill(source.location, source=source.name, setting="location")
    params = templating.fill_params(source.params, source=source.name)
    if since is not None and source.since_param:
        params[source.since_param] = since_text(since, source.since_format)
    with JsonClient(
        source=source.name,
        auth=source.auth,
        fixes=_FIXES,
        policy=policy,
        read_block=templating.read_block,
        max_concurrency=source.max_concurrency,
    ) as client:
        if source.pagination == "offset":
            pages = _offset_pages(client, source, url, params)
        elif source.pagination == "next_link":
            pages = _linked_pages(client, source, url, params)
        else:
            pages = iter([records_of(client.get(url, params), source)])
        records = [record for page in pages for record in page]
    return write_records(
        source.name, keyed(records, source.record_key, source=source.name), staging
    )


def since_text(moment: datetime, since_format: str) -> str:
    """The watermark as the API reads it: `unix` or `unix_ms` seconds or milliseconds
    since 1970, else a strftime format applied in UTC."""
    if since_format == "unix":
        return str(int(moment.timestamp()))
    if since_format == "unix_ms":
        return str(int(moment.timestamp() * 1000))
    return moment.astimezone(UTC).strftime(since_format)


def _linked_pages(
    client: JsonClient, source: RestSource, url: str, params: QueryParams
) -> Iterator[list[Any]]:
    guard = LoopGuard(source.name)
    page = client.get(url, params)
    while True:
        guard.check(str(page.url), f"a link back to {shown_url(page.url)}")
        yield records_of(page, source)
        link = _next_link(page, source)
        if not link:
            return
        # the next link already carries the query, params included
        page = client.get(str(page.url.join(link)))


def _offset_pages(
    client: JsonClient, source: RestSource, url: str, params: QueryParams
) -> Iterator[list[Any]]:
    guard = LoopGuard(source.name)
    offset = 0
    while True:
        window = {source.offset_param: offset, source.limit_param: source.page_size}
        records = records_of(client.get(url, {**params, **window}), source)
        if records:
            digest = hashlib.sha256(json.dumps(records, sort_keys=True).encode()).hexdigest()
            guard.check(
                digest,
                f"the same records for {source.offset_param}={offset}",
                fix=(
                    f"check that this API pages with {source.offset_param} and "
                    f"{source.limit_param} (offset_param and limit_param in the sources file)"
                ),
            )
        yield records
        if len(records) < source.page_size:
            return
        offset += len(records)


def records_of(page: Page, source: RestSource) -> list[Any]:
    """The record list at the source's `records` path (the body itself when unset)."""
    found = dig(page.body, source.records) if source.records else page.body
    if isinstance(found, list):
        return found
    keys = ", ".join(page.body) if isinstance(page.body, dict) else "none, it is not an object"
    where = f"at records {source.records!r}" if source.records else "(records is unset)"
    raise EvidenceError(
        f"source {source.name!r}: {shown_url(page.url)} answered without a list {where}; "
        f"its top-level keys: {keys}; set records to the dotted path of the record list"
    )


def _next_link(page: Page, source: RestSource) -> str | None:
    link = dig(page.body, source.next_link)
    if link is None or link == "":
        return page.link_next
    if not isinstance(link, str):
        raise EvidenceError(
            f"source {source.name!r}: next_link {source.next_link!r} holds a "
            f"{type(link).__name__}, not a URL; point next_link at the URL itself "
            f"(e.g. {source.next_link}.href)"
        )
    return link
