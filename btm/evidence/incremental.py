"""Incremental fetches: an API source asks only for the records updated since its last
accepted fetch, and the delta is merged onto the snapshot that fetch left, so every batch
still describes the whole portfolio.

The rules, in one place:
- **Full, at least once a cycle.** The first fetch of a source in a cycle is full, and so
  is one forced (`btm run --force`, `fetch: full`), one after the source's entry in the
  sources file changed, and one whose snapshot is missing from the archive. Only a full
  fetch sees deletions: an issue deleted upstream, or one that no longer matches the
  query, stays in the merged snapshot until the next full fetch drops it.
- **The watermark is the start, minus the overlap.** A fetch leaves, for the next one,
  the moment it *started* less the source's `overlap_minutes`, so nothing updated while
  it ran, or not yet searchable when it asked, is missed. Only a fetch whose batch was
  accepted leaves one: a failed or quarantined fetch does not move it.
- **One form for a snapshot.** Records are kept once per key (the last one fetched wins)
  in key order, numbers in a key compared as numbers (`PRJ-9` before `PRJ-10`), and
  written as `write_records` writes: an unchanged portfolio has the same bytes and the
  same sha256, whichever way it was fetched, and is not validated again.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from btm.errors import EvidenceError
from btm.evidence.http import dig, write_records
from btm.evidence.payload import Payload
from btm.evidence.sources import FetchMode, JiraSource, RestSource, Source

JIRA_KEY = "key"  # every issue carries its key (PRJ-123)
DELTA_SUFFIX = ".delta.json"  # the name a delta is archived under, beside `<source>.json`


@dataclass(frozen=True)
class Snapshot:
    """A source's last accepted fetch in the cycle: the merged payload it left in the
    archive, where the next incremental fetch asks from, and the settings it ran on."""

    path: Path
    watermark: datetime
    settings_sha256: str


@dataclass(frozen=True)
class Increment:
    """How one fetch fetched, as its rows record it."""

    mode: FetchMode
    settings_sha256: str
    since: datetime | None = None  # incremental: what was updated from this moment on
    watermark: datetime | None = None  # where the next incremental fetch asks from
    delta_sha256: str | None = None  # incremental: the archived delta


def settings_digest(source: Source) -> str:
    """A digest of the source's entry: a delta merges only onto a snapshot fetched under
    the same settings (the same query, fields and location)."""
    return hashlib.sha256(source.model_dump_json().encode()).hexdigest()


def merge_key(source: Source) -> str | None:
    """The dotted path a source's records are kept by, None for a source whose records
    are kept as fetched: a Jira issue's key; a REST record's `record_key`."""
    if isinstance(source, JiraSource):
        return JIRA_KEY
    if isinstance(source, RestSource):
        return source.record_key
    return None


def can_fetch_since(source: Source) -> bool:
    """Whether the source can ask for what changed: Jira always, REST with `since_param`."""
    if isinstance(source, JiraSource):
        return True
    return isinstance(source, RestSource) and source.since_param is not None


def plan_increment(
    source: Source, *, started: datetime, previous: Snapshot | None, full: bool = False
) -> Increment:
    """How a fetch starting at `started` fetches, given the source's last accepted fetch
    in the cycle (`previous`), and the watermark it leaves for the next one."""
    digest = settings_digest(source)
    if not can_fetch_since(source):
        return Increment(FetchMode.FULL, digest)
    assert isinstance(source, JiraSource | RestSource)
    watermark = started - timedelta(minutes=source.overlap_minutes)
    incremental = (
        source.fetch == FetchMode.INCREMENTAL
        and not full
        and previous is not None
        and previous.settings_sha256 == digest
    )
    if not incremental:
        return Increment(FetchMode.FULL, digest, watermark=watermark)
    assert previous is not None
    return Increment(FetchMode.INCREMENTAL, digest, since=previous.watermark, watermark=watermark)


_DIGITS = re.compile(r"(\d+)")


def _key_order(key: str) -> tuple[list[str | int], str]:
    # Split on runs of digits, text and numbers alternate from a text part (maybe empty)
    # on, so every position compares like with like; the key itself breaks ties (`01`, `1`).
    parts: list[str | int] = _DIGITS.split(key)
    parts[1::2] = [int(number) for number in parts[1::2]]
    return parts, key


def keyed(records: Iterable[Any], key: str | None, *, source: str) -> list[Any]:
    """The records once per key, the last one fetched winning, in key order; as they
    came when there is no key."""
    if key is None:
        return list(records)
    by_key: dict[str, Any] = {}
    for number, record in enumerate(records, start=1):
        value = dig(record, key)
        if value is None or value == "":
            raise EvidenceError(
                f"source {source!r}: record {number} has no {key!r}, which its records are "
                "kept by; point record_key at the dotted path of the record's id"
            )
        by_key[str(value)] = record
    return [by_key[k] for k in sorted(by_key, key=_key_order)]


def read_records(path: Path, *, source: str) -> list[Any]:
    """The record list a connector or an earlier fetch wrote."""
    try:
        records = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvidenceError(
            f"source {source!r}: cannot read the records in {path} ({exc}); run the fetch in "
            "full (btm run --force)"
        ) from None
    if not isinstance(records, list):
        raise EvidenceError(f"source {source!r}: {path} does not hold a record list")
    return records


def merge_onto(
    snapshot: Path, delta: Payload, *, key: str, staging: Path, source: str
) -> list[Payload]:
    """The snapshot with the delta's records in place of its own of the same key (and
    the delta's new ones added), written as a full fetch writes `<source>.json`."""
    merged = keyed(
        [*read_records(snapshot, source=source), *read_records(delta.path, source=source)],
        key,
        source=source,
    )
    folder = staging / "merged"
    folder.mkdir(exist_ok=True)
    return write_records(source, merged, folder)
