"""The file connector: archive an evidence file by content hash, then read it onto its kind.

Reading accepts what real exports carry (a UTF-8 byte-order mark, `;` or tab delimiters,
quoted fields with embedded delimiters and newlines, booleans spelt yes/no, y/n, 1/0 in
any case, empty optional cells) and refuses, with the file, row and column named, what
cannot be evidence: an empty or binary file, a wrong encoding, text where a number or a
date belongs. Rows are numbered as a spreadsheet shows them: the header is row 1.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from btm.errors import EvidenceError
from btm.evidence.kinds import EvidenceKind, load_kinds

ROW_COLUMN = "_row"
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20
EXPECTED_TEXT = {
    "decimal": "a number",
    "date": "an ISO 8601 date (YYYY-MM-DD)",
    "boolean": "true/false, yes/no, y/n or 1/0",
}


@dataclass(frozen=True)
class ArchivedFile:
    source: str
    kind: str
    original: Path
    archived: Path
    sha256: str
    size: int


@dataclass(frozen=True)
class CellProblem:
    """Cells of one column that could not be read as the field's type."""

    column: str
    expected: str
    rows: tuple[int, ...]
    values: tuple[str, ...]
    count: int


@dataclass(frozen=True)
class ParsedEvidence:
    frame: pd.DataFrame
    problems: tuple[CellProblem, ...]
    unknown_columns: tuple[str, ...]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def kind_of_file(path: Path) -> str:
    """A file's kind is its name up to the first '-' or '.': `projects-retail.csv` -> projects."""
    stem = path.name.split(".", 1)[0]
    kind = stem.split("-", 1)[0].lower()
    kinds = load_kinds()
    if kind not in kinds:
        raise EvidenceError(
            f"{path}: cannot tell the evidence kind from the file name; name it "
            f"<kind>[-<source>].csv with kind one of {', '.join(kinds)}"
        )
    return kind


def archive_file(path: Path, *, archive_dir: Path) -> ArchivedFile:
    """Copy the file into the content-addressed archive before anything reads it."""
    try:
        sha = sha256_of(path)
        size = path.stat().st_size
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    target = archive_dir / sha[:2] / f"{sha}{path.suffix.lower()}"
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        shutil.copyfile(path, partial)
        partial.replace(target)
    return ArchivedFile(
        source=path.name.split(".", 1)[0],
        kind=kind_of_file(path),
        original=path,
        archived=target,
        sha256=sha,
        size=size,
    )


def _decode(raw: bytes, name: str) -> str:
    if not raw.strip():
        raise EvidenceError(f"{name}: the file is empty; export the evidence again")
    if b"\x00" in raw[:8192]:
        raise EvidenceError(
            f"{name}: this is a binary file, not CSV text; export it as CSV (UTF-8)"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EvidenceError(
            f"{name}: row {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "save the export as CSV UTF-8"
        ) from exc


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def _canonical_header(name: str) -> str:
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def read_csv_text(text: str, *, name: str) -> pd.DataFrame:
    """Read CSV text with every column as strings and empty cells as missing."""
    header = text.split("\n", 1)[0]
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=_delimiter(header),
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skipinitialspace=False,
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise EvidenceError(f"{name}: not readable as CSV ({exc}); check quoting") from exc
    except pd.errors.EmptyDataError as exc:
        raise EvidenceError(f"{name}: the file is empty; export the evidence again") from exc
    frame.columns = [_canonical_header(c) for c in frame.columns]
    if frame.empty:
        raise EvidenceError(
            f"{name}: has a header but no data rows; export the evidence again with its rows"
        )
    return frame


def coerce(frame: pd.DataFrame, kind: EvidenceKind) -> ParsedEvidence:
    """Turn string columns into the kind's types, collecting cells that do not fit."""
    rows = pd.Series(range(2, len(frame) + 2), index=frame.index)
    typed = pd.DataFrame(index=frame.index)
    problems: list[CellProblem] = []
    known = set(kind.field_names)
    for field in kind.fields:
        if field.name not in frame.columns:
            continue
        raw = frame[field.name].str.strip()
        raw = raw.mask(raw == "")
        if field.type == "text":
            typed[field.name] = raw
            continue
        if field.type == "decimal":
            values = pd.to_numeric(raw, errors="coerce")
        elif field.type == "date":
            values = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        else:
            lowered = raw.str.lower()
            values = pd.Series(pd.NA, index=raw.index, dtype="boolean")
            values[lowered.isin(TRUE_WORDS)] = True
            values[lowered.isin(FALSE_WORDS)] = False
        bad = raw.notna() & values.isna()
        if bad.any():
            problems.append(
                CellProblem(
                    column=field.name,
                    expected=EXPECTED_TEXT[field.type],
                    rows=tuple(int(r) for r in rows[bad].head(10)),
                    values=tuple(str(v)[:40] for v in raw[bad].head(10)),
                    count=int(bad.sum()),
                )
            )
        typed[field.name] = values
    typed[ROW_COLUMN] = rows
    unknown = tuple(c for c in frame.columns if c not in known)
    return ParsedEvidence(typed, tuple(problems), unknown)


def parse_file(archived: ArchivedFile) -> ParsedEvidence:
    """Read an archived evidence file onto its kind."""
    name = str(archived.original)
    if archived.archived.suffix.lower() != ".csv":
        raise EvidenceError(f"{name}: only .csv evidence files are read; export it as CSV")
    text = _decode(archived.archived.read_bytes(), name)
    frame = read_csv_text(text, name=name)
    return coerce(frame, load_kinds()[archived.kind])
