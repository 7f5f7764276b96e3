"""A payload: raw evidence as a connector fetched it, before anything reads it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Payload:
    """Raw evidence as fetched, before anything reads it."""

    source: str
    part: str  # the file's name within a drop folder, or `<source>.<ext>` for one fetch
    path: Path

    @property
    def suffix(self) -> str:
        return self.path.suffix.lower()
