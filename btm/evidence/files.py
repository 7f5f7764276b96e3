"""Raw evidence onto its kind: archive a payload by content hash, then read it.

Payloads are CSV, XLSX or JSON, whichever connector fetched them. Reading accepts what
real exports carry (a UTF-8 byte-order mark, `;` or tab delimiters, quoted fields with
embedded delimiters and newlines, booleans spelt yes/no, y/n, 1/0 in any case, XLSX date
cells and date serial numbers, nested JSON reached by dotted paths, empty optional
cells), maps the source's columns and values onto the canonical fields, and refuses,
with the file, row and column named, what cannot be evidence: an empty or binary file, a
wrong encoding, a file that is not the format it claims, text where a number or a date
belongs. Rows are numbered as a spreadsheet shows them: the header is row 1 (in JSON,
record n is row n + 1, so the numbering reads the same).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from btm.errors import EvidenceError
from btm.evidence.kinds import EvidenceKind, load_kinds

if TYPE_CHECKING:
    from btm.evidence.connectors import Payload

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
    """A payload's bytes, safe in the archive under their sha256."""

    source: str
    part: str
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


def archive_payload(payload: Payload, *, kind: str, archive_dir: Path) -> ArchivedFile:
    """Copy the payload into the content-addressed archive before anything reads it."""
    path = payload.path
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
    return ArchivedFile(payload.source, payload.part, kind, path, target, sha, size)


def archive_file(path: Path, *, archive_dir: Path) -> ArchivedFile:
    """Archive a loose file whose name says its kind (`projects-retail.csv`)."""
    from btm.evidence.connectors import Payload

    kind = kind_of_file(path)
    return archive_payload(
        Payload(path.name.split(".", 1)[0], path.name, path), kind=kind, archive_dir=archive_dir
    )


def _decode(raw: bytes, name: str) -> str:
    if not raw.strip():
        raise EvidenceError(f"{name}: the file is empty; export the evidence again")
    if b"\x00" in raw[:8192]:
        raise EvidenceError(f"{name}: this is a binary file, not text; export it as CSV (UTF-8)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise EvidenceError(
            f"{name}: row {line} is not valid UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "save the export as UTF-8"
        ) from exc


def _delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in DELIMITERS}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def canonical_header(name: object) -> str:
    """`Project Key` and `project-key` -> `project_key`; dotted JSON paths keep their dots."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def _no_rows(name: str) -> EvidenceError:
    return EvidenceError(
        f"{name}: has a header but no data rows; export the evidence again with its rows"
    )


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
    if frame.empty:
        raise _no_rows(name)
    return frame


def _cell_text(value: Any) -> str | None:
    """A spreadsheet or JSON value as the text a CSV export would carry."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def read_xlsx(path: Path, *, name: str) -> pd.DataFrame:
    """The first worksheet, its first row as the header; date cells become ISO dates."""
    from openpyxl import load_workbook  # openpyxl only when a workbook arrives

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise EvidenceError(
            f"{name}: not a readable XLSX workbook ({exc}); save it again from the "
            "spreadsheet as Excel Workbook (.xlsx)"
        ) from None
    try:
        rows = workbook.worksheets[0].iter_rows(values_only=True)
        header = next(rows, None)
        if header is None or all(cell is None for cell in header):
            raise EvidenceError(f"{name}: the first worksheet is empty; export the evidence again")
        width = max(i for i, cell in enumerate(header) if cell is not None) + 1
        records = [
            [_cell_text(cell) for cell in row[:width]]
            for row in rows
            if any(cell is not None for cell in row[:width])
        ]
    finally:
        workbook.close()
    if not records:
        raise _no_rows(name)
    columns = [
        str(cell) if cell is not None else f"column_{i + 1}"
        for i, cell in enumerate(header[:width])
    ]
    return pd.DataFrame(records, columns=columns, dtype=object)


def _records_of(document: Any, name: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = [v for v in document.values() if isinstance(v, list)]
        if len(lists) == 1:
            return lists[0]
    raise EvidenceError(
        f"{name}: expected a JSON array of records (or an object holding one array); "
        "export the records as a JSON array"
    )


def read_json_text(text: str, *, name: str) -> pd.DataFrame:
    """JSON records flattened with dotted paths: `{"fields": {"status": ..}}` gives the
    column `fields.status`."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(
            f"{name}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "export it again as JSON"
        ) from None
    records = _records_of(document, name)
    if not records:
        raise _no_rows(name)
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise EvidenceError(
            f"{name}: record {bad + 1} (row {bad + 2}) is not a JSON object; every record "
            "must be an object of field: value"
        )
    frame = pd.json_normalize(records, sep=".")
    return frame.map(_cell_text).astype(object)


def read_payload(path: Path, *, name: str) -> pd.DataFrame:
    """A payload's records as text columns, whatever its format."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return read_xlsx(path, name=name)
    if suffix not in (".csv", ".json"):
        raise EvidenceError(f"{name}: {suffix or 'no'} files are not read; send CSV, XLSX or JSON")
    text = _decode(path.read_bytes(), name)
    return read_json_text(text, name=name) if suffix == ".json" else read_csv_text(text, name=name)


def apply_mapping(
    frame: pd.DataFrame,
    *,
    columns: Mapping[str, str],
    values: Mapping[str, Mapping[str, str]],
) -> pd.DataFrame:
    """Rename source columns to canonical fields and translate source values.

    Headers are compared in canonical form on both sides, so `Project Key` in the file
    and `project key` in the mapping meet. Values match exactly, then ignoring case;
    a value the mapping does not name is kept, for validation to judge.
    """
    frame = frame.rename(columns=canonical_header)
    renames = {canonical_header(k): v for k, v in columns.items()}
    present = {k: v for k, v in renames.items() if k in frame.columns}
    # A mapped column wins over a same-named column the source also carries.
    frame = frame.drop(
        columns=[v for v in present.values() if v in frame.columns and v not in present]
    )
    frame = frame.rename(columns=present)
    for field, table in values.items():
        if field not in frame.columns or not table:
            continue
        text = frame[field].astype("string").str.strip()
        exact = text.map(dict(table))
        folded = text.str.lower().map({k.strip().lower(): v for k, v in table.items()})
        frame[field] = exact.fillna(folded).fillna(text).astype(object).where(text.notna(), None)
    return frame


_EXCEL_EPOCH = pd.Timestamp("1899-12-30")


def _dates(raw: pd.Series, *, serials: bool) -> pd.Series:
    values = pd.to_datetime(raw, errors="coerce", format="ISO8601")
    if serials:
        # Dates typed into a cell without a date format arrive as serial numbers.
        numbers = pd.to_numeric(raw.where(values.isna()), errors="coerce")
        plausible = numbers.between(1, 2_958_465)
        if plausible.any():
            days = pd.to_timedelta(numbers[plausible].round(), unit="D")
            values = values.copy()
            values[plausible] = _EXCEL_EPOCH + days
    return values


def coerce(frame: pd.DataFrame, kind: EvidenceKind, *, serials: bool = False) -> ParsedEvidence:
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
            values = _dates(raw, serials=serials)
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


def parse_file(
    archived: ArchivedFile,
    *,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
) -> ParsedEvidence:
    """Read an archived payload, map it onto its kind and type its cells."""
    name = str(archived.original)
    frame = read_payload(archived.archived, name=name)
    frame = apply_mapping(frame, columns=columns or {}, values=values or {})
    serials = archived.archived.suffix.lower() == ".xlsx"
    return coerce(frame, load_kinds()[archived.kind], serials=serials)
