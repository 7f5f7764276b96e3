"""The connector registry: which function fetches each kind of source.

A connector only fetches raw bytes; archiving, reading, mapping and validating are
shared (btm.evidence.gather). Adding a connector is a module with its fetch function,
its source model in `btm.evidence.sources` and its member of `Connector`, and one entry
here.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from btm.evidence.drop_folder import fetch_files
from btm.evidence.jira import fetch_jira
from btm.evidence.payload import Payload
from btm.evidence.rest import fetch_rest
from btm.evidence.sources import Source, Templating
from btm.evidence.sql import fetch_sql
from btm.vocabulary import Connector

Fetch = Callable[[Any, Templating, Path], list[Payload]]

FETCHERS: dict[Connector, Fetch] = {
    Connector.FILES: fetch_files,
    Connector.SQL: fetch_sql,
    Connector.JIRA: fetch_jira,
    Connector.REST: fetch_rest,
}


def connector_for(source: Source) -> Fetch:
    """The fetch function of a source's connector."""
    return FETCHERS[Connector(source.connector)]
