"""Evidence sources, as the PMO writes them in `sources.yaml`.

One entry per source: its name, the evidence kind it feeds, the connector that reads it,
where it lives, and how its columns and values map onto the kind's canonical fields.
Secrets are never written in the file: a source names an environment variable or a
Prefect Secret block, and the value is looked up only when the source is fetched.
Locations, queries and parameters may use `{cycle}`, `{cycle_start}`, `{as_of}` and
`{home}`, filled in for the cycle being gathered. An API source (Jira, REST) also says
how it may be fetched: incrementally or in full, with what overlap, and how many requests
may be in flight to its host at once.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from btm.catalog import read_yaml
from btm.errors import ConfigurationError
from btm.evidence.kinds import load_kinds
from btm.vocabulary import Connector

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(_Strict):
    """Where a secret is kept: an environment variable or a Prefect Secret block."""

    env: str | None = None
    block: str | None = None

    @model_validator(mode="after")
    def _one_place(self) -> SecretRef:
        if (self.env is None) == (self.block is None):
            raise ValueError("name exactly one of env (a variable) or block (a Prefect Secret)")
        return self

    def describe(self) -> str:
        return f"environment variable {self.env}" if self.env else f"Prefect Secret {self.block}"

    def resolve(self, read_block: BlockLoader | None = None) -> str:
        """The secret's value, read now; a block is read through `read_block`, which the
        flows hand down (Prefect's Secret blocks), so this library never imports Prefect."""
        if self.env is not None:
            value = os.environ.get(self.env)
            if not value:
                raise ConfigurationError(
                    f"the environment variable {self.env} is not set; export it with the secret"
                )
            return value
        if read_block is None:
            raise ConfigurationError(
                f"the secret is the Prefect Secret block {self.block!r}, which only the flows "
                "can read; run through `btm run` or the deployment, or name an env variable"
            )
        return read_block(str(self.block))


BlockLoader = Callable[[str], str]


class Auth(_Strict):
    """HTTP authentication. Jira Cloud: basic with the account email and an API token;
    Jira Data Center and most APIs: bearer with a personal access token."""

    type: Literal["bearer", "basic"]
    user: str | None = None
    token: SecretRef

    @model_validator(mode="after")
    def _user_for_basic(self) -> Auth:
        if self.type == "basic" and not self.user:
            raise ValueError("basic auth needs user (for Jira Cloud, the account's email)")
        return self


class _Source(_Strict):
    name: str
    kind: str
    location: str
    columns: dict[str, str] = Field(
        default_factory=dict, description="source column (or dotted JSON path) -> field"
    )
    values: dict[str, dict[str, str]] = Field(
        default_factory=dict, description="field -> {source value: canonical value}"
    )
    retries: int = Field(default=2, ge=0, le=10)
    retry_delay_seconds: list[float] = Field(default_factory=lambda: [5.0, 30.0])
    timeout_seconds: float = Field(default=600.0, gt=0)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use lower-case letters, digits, '-' and '_' (e.g. jira-projects)")
        return value

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        kinds = load_kinds()
        if value not in kinds:
            raise ValueError(f"unknown kind {value!r}; use one of {', '.join(kinds)}")
        return value

    @model_validator(mode="after")
    def _mapped_onto_fields(self) -> _Source:
        fields = set(load_kinds()[self.kind].field_names)
        for target in [*self.columns.values(), *self.values]:
            if target not in fields:
                raise ValueError(
                    f"{target!r} is not a field of {self.kind}; fields: {', '.join(sorted(fields))}"
                )
        return self


class FilesSource(_Source):
    """A drop folder: every file matching `pattern` is one batch, read when new or changed."""

    connector: Literal[Connector.FILES]
    pattern: str = "*"


class SqlSource(_Source):
    """Any SQLAlchemy URL and a query with bound `:parameters`, read in chunks."""

    connector: Literal[Connector.SQL]
    query: str
    params: dict[str, Any] = Field(default_factory=dict)
    password: SecretRef | None = None
    chunk_rows: int = Field(default=50_000, gt=0)


class FetchMode(StrEnum):
    """How an API source is fetched. `incremental` asks only for what changed since the
    source's last accepted fetch in the cycle and merges it onto that fetch's snapshot
    (the first fetch of a cycle is full all the same); `full` asks for everything on
    every run."""

    INCREMENTAL = "incremental"
    FULL = "full"


DEFAULT_MAX_CONCURRENCY = 4
# Jira Cloud's search is eventually consistent: most changes are searchable within
# seconds, a bulk edit may take minutes (Atlassian, "Search and reconcile"). Half an hour
# also covers the clocks of this machine and the system disagreeing, for the cost of
# asking again for what changed in the half hour before the previous fetch.
DEFAULT_OVERLAP_MINUTES = 30.0


class _ApiSource(_Source):
    """What the web API connectors share: how a fetch is bounded and made incremental."""

    auth: Auth | None = None
    fetch: FetchMode = FetchMode.INCREMENTAL
    overlap_minutes: float = Field(
        default=DEFAULT_OVERLAP_MINUTES,
        ge=0,
        description="how far before the previous fetch's start an incremental fetch asks from",
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        ge=1,
        le=64,
        description="requests in flight to the source's host at once, across sources",
    )


class JiraSource(_ApiSource):
    """Jira's issue search: Cloud (`/rest/api/3/search/jql`, page tokens) or Data Center
    (`/rest/api/2/search`, startAt)."""

    connector: Literal[Connector.JIRA]
    jql: str
    api: Literal["cloud", "datacenter"] = "cloud"
    page_size: int = Field(default=100, gt=0, le=5000)
    time_zone: str | None = Field(
        default=None,
        description="the time zone of the account's Jira profile, which JQL dates are read "
        "in; asked of Jira when unset",
    )

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(
                    f"unknown time zone {value!r}; use a name such as Europe/Berlin or UTC "
                    "(the zone in the Jira account's profile)"
                ) from None
        return value


class RestSource(_ApiSource):
    """A paginated JSON endpoint: follows a next link or steps an offset. It fetches
    incrementally once it names the query parameter that asks for records updated since
    a moment (`since_param`) and the key its records merge on (`record_key`)."""

    connector: Literal[Connector.REST]
    records: str | None = Field(default=None, description="dotted path to the record list")
    pagination: Literal["next_link", "offset", "none"] = "next_link"
    next_link: str = Field(default="next", description="dotted path to the next page's URL")
    offset_param: str = "offset"
    limit_param: str = "limit"
    page_size: int = Field(default=100, gt=0)
    params: dict[str, Any] = Field(default_factory=dict)
    since_param: str | None = Field(
        default=None, description="the query parameter for 'updated since', e.g. updated_since"
    )
    since_format: str = Field(
        default="%Y-%m-%dT%H:%M:%SZ",
        description="how the moment is written: a strftime format (in UTC), unix or unix_ms",
    )
    record_key: str | None = Field(
        default=None, description="dotted path of the record's id, which a delta merges on"
    )

    @model_validator(mode="after")
    def _key_for_increments(self) -> RestSource:
        if self.since_param and not self.record_key:
            raise ValueError(
                "since_param needs record_key: the dotted path of the record's id (e.g. id), "
                "which the records fetched since the last fetch replace earlier ones by"
            )
        return self


class SurveySource(_Source):
    """The questionnaires of the cycle's campaign (`btm survey open`) as respondents
    return them: the newest `questionnaire-*.xlsx` of each respondent, from `location` or
    `inbox`; a folder that does not exist yet holds no return."""

    connector: Literal[Connector.SURVEY]
    kind: str = "survey"
    location: str = "{home}/survey/{cycle}/returned"
    inbox: str = "{home}/inbox/{cycle}"

    @field_validator("kind")
    @classmethod
    def _survey_only(cls, value: str) -> str:
        if value != "survey":
            raise ValueError("a survey source reads survey answers; set kind: survey")
        return value


SURVEY_RETURNS = "survey-returns"  # the name of the survey source every home has


def survey_returns() -> SurveySource:
    """The source of returned questionnaires, when the sources file names none."""
    return SurveySource(connector=Connector.SURVEY, name=SURVEY_RETURNS)


Source = Annotated[
    FilesSource | SqlSource | JiraSource | RestSource | SurveySource,
    Field(discriminator="connector"),
]


class SourcesFile(_Strict):
    sources: list[Source]

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesFile:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return self


def _explain(error: ValidationError, raw: Mapping[str, Any]) -> str:
    lines = []
    listed = raw.get("sources")
    entries: list[Any] = listed if isinstance(listed, list) else []
    for problem in error.errors():
        where = list(problem["loc"])
        if len(where) >= 2 and where[0] == "sources" and isinstance(where[1], int):
            index = where[1]
            entry = entries[index] if index < len(entries) else {}
            name = entry.get("name") if isinstance(entry, dict) else None
            label = f"source {name!r}" if name else f"source #{index + 1}"
            # the discriminated union adds the connector's name to the path; drop it
            rest = [str(p) for p in where[2:] if p not in set(Connector)]
            where_text = f"{label}, {'.'.join(rest)}" if rest else label
        else:
            where_text = ".".join(str(p) for p in where) or "the file"
        message = problem["msg"].removeprefix("Value error, ")
        if problem["type"] == "extra_forbidden":
            message = "is not a setting of this connector; check its spelling"
        elif problem["type"] == "union_tag_invalid":
            message = f"connector must be one of {', '.join(Connector)}"
        lines.append(f"{where_text}: {message}")
    return "; ".join(lines)


def load_sources(path: Path) -> list[Source]:
    """Read and check a sources file; every mistake is named with its source and setting."""
    raw = read_yaml(path)
    if not isinstance(raw, dict):
        raise ConfigurationError(f"{path}: expected a mapping with a 'sources:' list")
    try:
        return list(SourcesFile.model_validate(raw).sources)
    except ValidationError as exc:
        raise ConfigurationError(f"{path}: {_explain(exc, raw)}") from None


def default_sources(inbox: Path) -> list[Source]:
    """Without a sources file: one drop-folder source per kind, files named `<kind>-*`."""
    return [
        FilesSource(
            connector=Connector.FILES, name=kind, kind=kind, location=str(inbox), pattern=f"{kind}*"
        )
        for kind in load_kinds()
    ]


@dataclass(frozen=True)
class Templating:
    """The values a source's location, query and parameters may refer to."""

    cycle: str
    cycle_start: date
    as_of: date
    home: Path
    read_block: BlockLoader | None = None  # how `{block: NAME}` secrets are read

    def fill(self, text: str, *, source: str, setting: str) -> str:
        values = {
            "cycle": self.cycle,
            "cycle_start": self.cycle_start.isoformat(),
            "as_of": self.as_of.isoformat(),
            "home": str(self.home),
        }
        known = ", ".join("{" + v + "}" for v in values)
        try:
            names = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
            unknown = sorted(names - values.keys())
            if not unknown:
                return text.format(**values)
        except (ValueError, IndexError, KeyError) as exc:
            unknown = [f"({exc})"]
        raise ConfigurationError(
            f"source {source!r}, {setting}: unknown placeholder {{{unknown[0]}}}; use {known}, "
            "and write a literal brace as {{ or }}"
        )

    def fill_params(self, params: Mapping[str, Any], *, source: str) -> dict[str, Any]:
        """Fill the placeholders of a source's string parameters; others pass as they are."""
        return {
            key: self.fill(value, source=source, setting=f"params.{key}")
            if isinstance(value, str)
            else value
            for key, value in params.items()
        }
