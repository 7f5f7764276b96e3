"""What the evidence says about itself: quarantined and stale batches, warnings, the
quality trend and each source's provenance. Reports and the CLI show these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True)
class QuarantineNote:
    """An evidence batch refused by validation this cycle."""

    source: str
    file_name: str
    sha256: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class StaleNote:
    """Evidence carried forward from an earlier cycle: this cycle's batch was refused, or
    the source could not be reached."""

    source: str
    from_cycle: str
    reason: str = "its new batch was quarantined"


@dataclass(frozen=True)
class DataQualityNote:
    """An accepted batch that carries warnings: it moves scores, with these caveats."""

    source: str
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class QualityPoint:
    """One cycle's gathered batches: accepted clean, accepted with warnings, quarantined,
    and sources that could not be reached."""

    cycle_id: str
    accepted: int
    warned: int
    quarantined: int
    unreachable: int


@dataclass(frozen=True)
class SourceNote:
    """A source's provenance: its last fetch, and its last successful one with its age."""

    source: str
    connector: str
    last_attempt: datetime
    reachable: bool
    error: str | None
    last_success: datetime | None
    age: timedelta | None
    rows: int

    @property
    def age_text(self) -> str:
        if self.age is None:
            return "never fetched"
        hours = self.age.total_seconds() / 3600
        if hours < 1:
            return f"{max(int(hours * 60), 0)} min"
        if hours < 48:
            return f"{int(hours)} h"
        return f"{int(hours // 24)} days"

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "connector": self.connector,
            "reachable": self.reachable,
            "error": self.error,
            "last_success": self.last_success.isoformat() if self.last_success else None,
            "age_seconds": self.age.total_seconds() if self.age else None,
            "rows": self.rows,
        }

    @property
    def last_success_text(self) -> str:
        return self.last_success.strftime("%Y-%m-%d %H:%M UTC") if self.last_success else "never"
