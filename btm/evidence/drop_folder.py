"""The files connector: every readable file of a drop folder that matches the source's
pattern, as it lies on disk.
"""

from __future__ import annotations

from pathlib import Path

from btm.errors import EvidenceError
from btm.evidence.payload import Payload
from btm.evidence.sources import FilesSource, Templating

READABLE_SUFFIXES = (".csv", ".xlsx", ".json")


def fetch_files(source: FilesSource, templating: Templating, staging: Path) -> list[Payload]:
    """Every readable file of the drop folder that matches the source's pattern."""
    folder = Path(templating.fill(source.location, source=source.name, setting="location"))
    if not folder.is_dir():
        raise EvidenceError(
            f"source {source.name!r}: the folder {folder} does not exist; create it or fix "
            "location in the sources file"
        )
    matches = sorted(p for p in folder.glob(source.pattern) if p.is_file())
    return [
        Payload(source.name, path.name, path)
        for path in matches
        if path.suffix.lower() in READABLE_SUFFIXES and not path.name.startswith(".")
    ]
