"""The connector registry: which function fetches each kind of source.

A connector only fetches raw bytes; archiving, reading, mapping and validating are
shared (btm.evidence.gather). Adding a connector is a module with its fetch function,
its source model in `btm.evidence.sources` and its member of `Connector`, and one entry
here; a connector that can ask for only what changed since a moment is also listed in
`SINCE_FETCHERS` (btm.evidence.incremental says when it is asked to).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from btm.evidence.drop_folder import fetch_files
from btm.evidence.jira import fetch_jira
from btm.evidence.payload import Payload
from btm.evidence.rest import fetch_rest
from btm.evidence.sources import Source, Templating
from btm.evidence.sql import fetch_sql
from btm.evidence.survey_returns import fetch_returns
from btm.vocabulary import Connector

Fetch = Callable[[Any, Templating, Path], list[Payload]]


class FetchSince(Protocol):
    """A connector's fetch of the records updated from `since` on."""

    def __call__(
        self, source: Any, templating: Templating, staging: Path, /, *, since: datetime
    ) -> list[Payload]: ...


FETCHERS: dict[Connector, Fetch] = {
    Connector.FILES: fetch_files,
    Connector.SQL: fetch_sql,
    Connector.JIRA: fetch_jira,
    Connector.REST: fetch_rest,
    Connector.SURVEY: fetch_returns,
}

SINCE_FETCHERS: dict[Connector, FetchSince] = {
    Connector.JIRA: fetch_jira,
    Connector.REST: fetch_rest,
}


def connector_for(source: Source) -> Fetch:
    """The fetch function of a source's connector."""
    return FETCHERS[Connector(source.connector)]


def since_connector_for(source: Source) -> FetchSince:
    """The fetch of what changed, of a connector that can fetch incrementally."""
    return SINCE_FETCHERS[Connector(source.connector)]
