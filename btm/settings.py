"""Settings, read once from the environment (prefix `BTM_`) through pydantic-settings.

Secrets (the SMTP password) are `SecretStr`, so they never print in logs or reprs.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

import pydantic
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from btm.catalog import Catalog, load_catalog
from btm.errors import ConfigurationError
from btm.evidence.limits import DEFAULT_LIMITS, ReadLimits
from btm.fiscal import SETTING as FISCAL_SETTING
from btm.fiscal import FiscalCalendar
from btm.resources import data_file


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="BTM_", extra="ignore")

    home: Path = Field(default=Path(".btm"), description="Data directory (BTM_HOME)")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; SQLite in BTM_HOME when unset "
        "(e.g. postgresql+psycopg://user@host/btm)",
    )
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["starttls", "ssl", "none"] = "starttls"
    smtp_block: str | None = Field(
        default=None,
        description="A Prefect EmailServerCredentials block to send through (BTM_SMTP_BLOCK); "
        "when set, its server, port, mode, user and password replace BTM_SMTP_*",
    )
    report_from: str = "btm@example.org"
    ops_email: str | None = Field(
        default=None, description="Who is told when a flow run fails (BTM_OPS_EMAIL)"
    )
    report_to: Annotated[list[str], NoDecode] = ["pmo@example.org"]
    target_state: str = Field(
        default="alignment",
        description="The state the enterprise pursues (BTM_TARGET_STATE), one of the "
        "catalogue's states; it sets every capability's target level",
    )

    fiscal_year_start_month: int = Field(
        default=1,
        description="The first month of the fiscal year, 1-12 (BTM_FISCAL_YEAR_START_MONTH); "
        "cycle ids name fiscal quarters, the fiscal year by the calendar year it ends in",
    )
    organisation: str = Field(
        default="default",
        min_length=1,
        description="The organisation this BTM_HOME belongs to (BTM_ORGANISATION); two flow "
        "runs for the same organisation never overlap",
    )
    pmo: str = Field(
        default="the PMO",
        description="Who approves the improvement backlog, as shown in status and reports",
    )
    audiences_file: Path | None = Field(
        default=None,
        description="The audiences file (BTM_AUDIENCES); BTM_HOME/audiences.yaml when unset",
    )
    report_base_url: str | None = Field(
        default=None,
        description="Where BTM_HOME/reports is served (BTM_REPORT_BASE_URL); emails link to "
        "the standalone report there",
    )
    # How much one evidence file may hold; a file past a limit is quarantined (or, in
    # `btm validate`, refused) with one line naming the limit and its setting.
    max_file_bytes: int = Field(
        default=DEFAULT_LIMITS.max_file_bytes,
        gt=0,
        description="The largest evidence file read, in bytes (BTM_MAX_FILE_BYTES)",
    )
    max_xlsx_inflated_bytes: int = Field(
        default=DEFAULT_LIMITS.max_xlsx_inflated_bytes,
        gt=0,
        description="The most an XLSX workbook may inflate to, in bytes, summed over its "
        "zip members (BTM_MAX_XLSX_INFLATED_BYTES)",
    )
    max_xlsx_ratio: int = Field(
        default=DEFAULT_LIMITS.max_xlsx_ratio,
        gt=0,
        description="The most a workbook member over 1 MB may inflate, as a multiple of its "
        "compressed size (BTM_MAX_XLSX_RATIO)",
    )
    max_rows: int = Field(
        default=DEFAULT_LIMITS.max_rows,
        gt=0,
        description="The most data rows (records, in JSON) one evidence file may hold "
        "(BTM_MAX_ROWS)",
    )
    max_columns: int = Field(
        default=DEFAULT_LIMITS.max_columns,
        gt=0,
        description="The most columns one evidence file may hold (BTM_MAX_COLUMNS)",
    )
    max_json_depth: int = Field(
        default=DEFAULT_LIMITS.max_json_depth,
        gt=0,
        description="How deep a JSON evidence file may nest (BTM_MAX_JSON_DEPTH)",
    )

    @field_validator("report_to", mode="before")
    @classmethod
    def _split_recipients(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("fiscal_year_start_month", mode="before")
    @classmethod
    def _a_month(cls, value: object) -> int:
        text = str(value).strip()
        if text.isdigit() and 1 <= int(text) <= 12:
            return int(text)
        raise ConfigurationError(
            f"{FISCAL_SETTING}={value!r} is not a month; set {FISCAL_SETTING} to 1-12, the "
            "month the fiscal year starts in (1 = January, 4 = April)"
        )

    @model_validator(mode="after")
    def _known_state(self) -> Settings:
        # A ConfigurationError, not a ValueError: pydantic lets it through unwrapped, so
        # the user sees the one line naming the setting and its allowed values. The
        # catalogue is this home's: the PMO's copy when there is one.
        self.target_state = self.catalog.state_id(self.target_state)
        return self

    @property
    def catalog(self) -> Catalog:
        """The catalogue: `BTM_HOME/catalog.yaml` when the PMO keeps one, else the shipped."""
        return load_catalog(data_file("catalog.yaml", self.resolved_home))

    @property
    def read_limits(self) -> ReadLimits:
        """The limits every evidence reader is handed."""
        return ReadLimits(
            max_file_bytes=self.max_file_bytes,
            max_xlsx_inflated_bytes=self.max_xlsx_inflated_bytes,
            max_xlsx_ratio=self.max_xlsx_ratio,
            max_rows=self.max_rows,
            max_columns=self.max_columns,
            max_json_depth=self.max_json_depth,
        )

    @cached_property
    def calendar(self) -> FiscalCalendar:
        return FiscalCalendar(self.fiscal_year_start_month)

    @cached_property
    def resolved_home(self) -> Path:
        return self.home.expanduser().resolve()

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.resolved_home / 'btm.db'}"

    @property
    def archive_dir(self) -> Path:
        return self.resolved_home / "archive"

    @property
    def quarantine_dir(self) -> Path:
        return self.resolved_home / "quarantine"

    @property
    def outbox_dir(self) -> Path:
        return self.resolved_home / "outbox"

    @property
    def reports_dir(self) -> Path:
        return self.resolved_home / "reports"

    @property
    def inbox_dir(self) -> Path:
        return self.resolved_home / "inbox"


def load_settings() -> Settings:
    """The settings from the environment; a value pydantic refuses is one
    ConfigurationError naming the variable, what it holds and what it must be."""
    try:
        return Settings()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        name = "BTM_" + "_".join(str(part) for part in first["loc"]).upper()
        raise ConfigurationError(
            f"{name}={first.get('input')!r}: {first['msg'].lower()}; "
            f"see `btm --help` and the README's settings"
        ) from None
