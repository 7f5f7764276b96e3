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

A hostile file is refused in bounded time and memory, before the part that would blow
up reads it: a file over the byte limit by its size, a workbook by its members' declared
sizes and compression ratios and by any XML entity declaration (XML is parsed through
defusedxml), a CSV or sheet past the row or column limit as soon as the reader passes
it, a JSON document nesting past the depth limit. The limits come in as `ReadLimits`,
from the settings at the door; each refusal names the file, the limit and its setting.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import uuid
import zipfile
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import iterparse

from btm.errors import EvidenceError
from btm.evidence.kinds import EvidenceKind, load_kinds
from btm.evidence.limits import (
    DEFAULT_LIMITS,
    MAX_COLUMNS_SETTING,
    MAX_FILE_BYTES_SETTING,
    MAX_JSON_DEPTH_SETTING,
    MAX_ROWS_SETTING,
    MAX_XLSX_INFLATED_BYTES_SETTING,
    MAX_XLSX_RATIO_SETTING,
    ReadLimits,
)
from btm.timing import stage

# pandas and pyarrow are imported where a file is read: the read commands, which load this
# module through btm.evidence.gather, never pay for them.
if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa

    from btm.evidence.payload import Payload

ROW_COLUMN = "_row"
# The type of the field a source's header maps onto ("decimal", "date", ...), if any.
FieldTypeOf = Callable[[str], "str | None"]
# What Python's `\s` and `str.strip` take as space (and Arrow's utf8_trim_whitespace, the
# same 29 characters), spelt out as a regex class RE2 reads as Python's `re` does.
PYTHON_SPACE = "[ \t\n\r\f\v\x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f"})
DELIMITERS = (",", ";", "\t", "|")
_CHUNK = 1 << 20
EXPECTED_TEXT = {
    "decimal": "a number",
    "date": "an ISO 8601 date (YYYY-MM-DD)",
    "boolean": "true/false, yes/no, y/n or 1/0",
}


def _size_text(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"


def _over_limit(name: str, what: str, setting: str, value: int, fix: str) -> EvidenceError:
    """The one line of a refusal for size: the file, what is over, the limit and its
    setting, and what to do."""
    return EvidenceError(f"{name}: {what} ({setting}={value}); {fix}, or raise {setting}")


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
    with stage("hash and archive"):
        return _archive(payload, kind=kind, archive_dir=archive_dir)


def _archive(payload: Payload, *, kind: str, archive_dir: Path) -> ArchivedFile:
    path = payload.path
    try:
        sha = sha256_of(path)
        size = path.stat().st_size
    except OSError as exc:
        raise EvidenceError(f"{path}: cannot read ({exc.strerror}); check the path") from exc
    target = archive_dir / sha[:2] / f"{sha}{path.suffix.lower()}"
    if not target.exists():
        # Sources are fetched concurrently and two may carry the same bytes: each copy
        # goes through its own partial file, so neither can rename the other's half copy.
        partial = target.with_name(f"{target.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, partial)
            partial.replace(target)
        except OSError as exc:
            partial.unlink(missing_ok=True)
            raise EvidenceError(
                f"{path}: cannot copy it into the archive {archive_dir} ({exc.strerror}); "
                "check that the archive folder is writable and has space"
            ) from None
    return ArchivedFile(payload.source, payload.part, kind, path, target, sha, size)


def archive_file(path: Path, *, archive_dir: Path) -> ArchivedFile:
    """Archive a loose file whose name says its kind (`projects-retail.csv`)."""
    from btm.evidence.payload import Payload

    kind = kind_of_file(path)
    return archive_payload(
        Payload(path.name.split(".", 1)[0], path.name, path), kind=kind, archive_dir=archive_dir
    )


# A quoted CSV cell (`""` inside one reads as two adjacent cells, which is as good for
# skipping them), or an unterminated one running to the end of the text.
_QUOTED_CELL = re.compile(r'"[^"]*(?:"|$)')


def _unquoted(text: str) -> str:
    return _QUOTED_CELL.sub("", text)


def _decode(raw: bytes, name: str, *, csv_rows: bool = True) -> str:
    """Bytes as text; a bad byte is placed by its CSV row (records, so a quoted multi-line
    cell is one row) or, for JSON, by its line."""
    if not raw.strip():
        raise EvidenceError(f"{name}: the file is empty; export the evidence again")
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise EvidenceError(
            f"{name}: this is UTF-16 text (Excel's 'Unicode Text'); save the export as UTF-8"
        )
    if b"\x00" in raw[:8192]:
        raise EvidenceError(f"{name}: this is a binary file, not text; export it as CSV (UTF-8)")
    if (nul := raw.find(b"\x00")) >= 0:
        # a NUL deep in a text file: a truncated or corrupted export
        line = raw[:nul].count(b"\n") + 1
        raise EvidenceError(
            f"{name}: line {line} holds a NUL byte, which no text export contains; the file "
            "is corrupted: export it again"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # exc.object is the input after its byte-order mark; exc.start counts from there
        before = exc.object[: exc.start].decode("utf-8")  # valid up to the bad byte
        newlines = (_unquoted(before) if csv_rows else before).count("\n")
        where = f"row {newlines + 1}" if csv_rows else f"line {newlines + 1}"
        raise EvidenceError(
            f"{name}: {where} is not valid UTF-8 (byte 0x{exc.object[exc.start]:02x}); "
            "save the export as UTF-8"
        ) from None


def _delimiter(text: str) -> str:
    """The delimiter the header line uses most; quoted header cells do not count."""
    header = _unquoted(text[:65536]).split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    return max(counts, key=lambda d: counts[d]) if any(counts.values()) else ","


def canonical_header(name: object) -> str:
    """`Project Key` and `project-key` -> `project_key`; dotted JSON paths keep their dots."""
    return "_".join(str(name).strip().lower().replace("-", " ").split())


def _no_rows(name: str) -> EvidenceError:
    return EvidenceError(
        f"{name}: has a header but no data rows; export the evidence again with its rows"
    )


def _blank(cells: Any) -> bool:
    return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in cells)


def _header_names(cells: Any) -> list[str]:
    return [
        text if (text := _cell_text(cell)) is not None and text.strip() else f"column_{i + 1}"
        for i, cell in enumerate(cells)
    ]


_TOO_MANY_CELLS = re.compile(r"Expected (\d+) fields in line (\d+), saw (\d+)")
_OPEN_QUOTE = re.compile(r"EOF inside string starting at row (\d+)")


def _csv_fault(exc: pd.errors.ParserError, lines_before: int) -> str:
    """pandas' tokenizer error in the user's terms; its `line` counts records, as a
    spreadsheet counts rows, and its `row` counts them from 0."""
    message = str(exc).strip()
    if too_many := _TOO_MANY_CELLS.search(message):
        width, row, seen = (int(n) for n in too_many.groups())
        return (
            f"row {row + lines_before} has {seen} cells but the header has {width}; "
            "check that row's delimiters and quoting"
        )
    if open_quote := _OPEN_QUOTE.search(message):
        return (
            f"row {int(open_quote[1]) + 1 + lines_before} opens a quote that is never "
            "closed, which swallows the rows after it; check that row's quoting"
        )
    return f"not readable as CSV ({message}); check quoting"


def read_csv_text(text: str, *, name: str, limits: ReadLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Read CSV text with every column as strings and empty cells as missing.

    Like every reader, it indexes the rows by the number a spreadsheet shows for them
    (index name `_row`), which `coerce` carries into the `_row` column. The header is
    read as a row like the others, so that a data row with more cells than the header is
    refused by its number (pandas would otherwise take the first column as the index
    when the first data row has one cell more). Blank lines are read and then dropped,
    so the rows after them keep their numbers.
    """
    import pandas as pd

    body = text.lstrip("\r\n")
    lines_before = text[: len(text) - len(body)].count("\n")
    sep = _delimiter(body)
    # A row wider than the header is refused by the tokenizer, so the header bounds every
    # row's width; a header cell quoted over two lines only makes this count lower.
    end = body.find("\n")
    width = _unquoted(body if end < 0 else body[:end]).count(sep) + 1
    _refuse_wide(width, name=name, limits=limits)
    try:
        cells = pd.read_csv(
            io.StringIO(body),
            sep=sep,
            header=None,
            dtype=str,
            keep_default_na=False,
            na_values=[""],
            skip_blank_lines=False,
            nrows=limits.max_rows + 2,  # the header, the limit, and one row to tell
        )
    except pd.errors.ParserError as exc:
        raise EvidenceError(f"{name}: {_csv_fault(exc, lines_before)}") from None
    except pd.errors.EmptyDataError:
        raise EvidenceError(f"{name}: the file is empty; export the evidence again") from None
    _refuse_wide(cells.shape[1], name=name, limits=limits)
    if len(cells) > limits.max_rows + 1:
        raise _too_many_rows(name, limits)
    rows = pd.Index(cells.index[1:] + 1 + lines_before, name=ROW_COLUMN)
    frame = cells.iloc[1:].set_axis(_header_names(cells.iloc[0]), axis=1).set_axis(rows)
    return _tidy_rows(frame, name=name, delimiter=sep)


def _tidy_rows(frame: pd.DataFrame, *, name: str, delimiter: str) -> pd.DataFrame:
    """Drop the rows a spreadsheet shows as blank (their numbers stay with the rows after
    them), refuse a file with no rows left or with rows the header's delimiter does not
    split."""
    frame = frame.dropna(how="all")
    if len(spaces := _spaces_only(frame)):
        frame = frame.drop(index=spaces)
    if frame.empty:
        raise _no_rows(name)
    _refuse_unsplit_rows(frame, header_delimiter=delimiter, name=name)
    return frame


_BOM = b"\xef\xbb\xbf"


def read_csv_fast(
    raw: bytes,
    *,
    name: str,
    limits: ReadLimits = DEFAULT_LIMITS,
    field_type: FieldTypeOf | None = None,
) -> pd.DataFrame | None:
    """The common export, read by Arrow's multi-threaded reader into the frame
    `read_csv_text` would give; None for any file that needs the careful reader.

    Arrow reads a well-formed file five to ten times faster, but it cannot name a fault
    by its row. So it only takes a file that can hold none of the faults the careful
    reader names: valid UTF-8 with no NUL byte, its quotes paired, every row as wide as
    the header, within the row and column limits. Anything else, Arrow's refusal
    included, goes to the careful reader, which reads it the same way or says what is
    wrong. A blank line is kept as a row of empty cells, as the careful reader keeps it,
    so that the rows after it keep their numbers when it is dropped.

    `field_type` names the type of the field a header maps onto. Arrow types a number or
    a date column while it parses (in parallel, with no text kept), when every cell
    reads as `coerce` would read it; any other column stays text for `coerce` to judge."""
    import pandas as pd

    body = raw.removeprefix(_BOM)
    if (
        not body
        or body[:1] in b"\r\n"
        or b"\x00" in body
        or body.startswith((b"\xff\xfe", b"\xfe\xff"))
    ):
        return None
    quoted = b'"' in body
    if quoted and body.count(b'"') % 2:  # a quote never closed: Arrow reads on to the end
        return None
    try:
        header = body[: body.find(b"\n")].decode("utf-8") if b"\n" in body else ""
    except UnicodeDecodeError:
        return None
    sep = _delimiter(header)
    width = _unquoted(header).count(sep) + 1
    if width < 2 or width > limits.max_columns:
        return None
    # A header without quotes is split here, so that Arrow can type the rows under it; a
    # quoted one is read by Arrow as a row like the others, and every column stays text.
    cells = None if '"' in header else header.removesuffix("\r").split(sep)
    typed = {} if cells is None or field_type is None else _typed_columns(cells, field_type)
    table = _arrow_csv(body, sep=sep, width=width, quoted=quoted, typed=typed, header=cells)
    if table is not None and typed:
        # a column Arrow took for another type, or a number no amount can be, is read
        # again as text, for `coerce` to name its cells
        # Arrow reads 0x10 as 16 where pandas refuses it: with an x in the file, a
        # column of whole numbers is read again as text
        hexadecimal = b"x" in body or b"X" in body
        odd = {i for i, to in typed.items() if not _typed_as(table.column(i), to, hexadecimal)}
        if odd:
            typed = {i: to for i, to in typed.items() if i not in odd}
            table = _arrow_csv(body, sep=sep, width=width, quoted=quoted, typed=typed, header=cells)
    header_rows = 0 if cells else 1
    if (
        table is None
        or table.num_columns != width
        or not header_rows < table.num_rows <= limits.max_rows + header_rows
    ):
        return None
    if cells is None:
        names = _header_names(table.slice(0, 1).to_pylist()[0].values())
        table = table.slice(1)
    else:
        names = _header_names(cell or None for cell in cells)
    for i, to in typed.items():
        table = table.set_column(i, table.field(i).name, _as_pandas_reads(table.column(i), to))
    frame = table.to_pandas(split_blocks=True, self_destruct=True)
    frame = frame.set_axis(names, axis=1)
    frame.index = pd.RangeIndex(2, len(frame) + 2, name=ROW_COLUMN)
    return _tidy_rows(frame, name=name, delimiter=sep)


def _typed_columns(cells: list[str], field_type: FieldTypeOf) -> dict[int, str]:
    """The columns, by position, whose header maps onto a number or a date field."""
    types = {i: field_type(cell) for i, cell in enumerate(cells)}
    return {i: to for i, to in types.items() if to in ("decimal", "date")}


def _arrow_csv(
    body: bytes,
    *,
    sep: str,
    width: int,
    quoted: bool,
    typed: Mapping[int, str],
    header: list[str] | None,
) -> pa.Table | None:
    """Arrow's read of the rows (and of the header, unless it was split already): each
    column typed by inference where `typed` names it, text otherwise; None when Arrow
    refuses the file."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    names = [f"f{i}" for i in range(width)]
    try:
        return pa_csv.read_csv(
            pa.BufferReader(body),
            # blocks of 16 MB: a column in a few chunks, not one per megabyte for every
            # later step to walk, and still enough blocks to keep the cores busy
            read_options=pa_csv.ReadOptions(
                column_names=names, skip_rows=0 if header is None else 1, block_size=1 << 24
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=sep,
                # a quoted cell may hold a line break; splitting rows without looking
                # for quotes is what makes the reader parallel, so only files with
                # quotes pay for looking
                newlines_in_values=quoted,
                ignore_empty_lines=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                # pandas keeps text as Arrow's large strings: read them so, uncast
                column_types={n: pa.large_string() for i, n in enumerate(names) if i not in typed},
                null_values=[""],
                strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # a later block that does not fit the type inferred from the first, or a file
        # Arrow cannot read at all
        return (
            None
            if not typed
            else _arrow_csv(body, sep=sep, width=width, quoted=quoted, typed={}, header=header)
        )


def _typed_as(column: pa.ChunkedArray, to: str, hexadecimal: bool) -> bool:
    """Arrow's inference read the column as `coerce` reads the field: whole numbers (not
    when they may be `hexadecimal`) or finite decimals for a number, YYYY-MM-DD for a
    date, or no cell at all."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = column.type
    if pa.types.is_null(kind):
        return True
    if to == "date":
        return pa.types.is_date32(kind)
    if pa.types.is_int64(kind):
        return not hexadecimal
    # "NaN" and "inf" read as numbers, but no amount is either: `coerce` names them
    return pa.types.is_float64(kind) and not pc.any(pc.invert(pc.is_finite(column))).as_py()


def _as_pandas_reads(column: pa.ChunkedArray, to: str) -> pa.ChunkedArray:
    """A typed column as `coerce` would leave it: dates at microseconds, a column with no
    cell as missing numbers or dates."""
    import pyarrow as pa

    if to == "date":
        return column.cast(pa.timestamp("us"))
    return column.cast(pa.float64()) if pa.types.is_null(column.type) else column


def _too_many_rows(name: str, limits: ReadLimits) -> EvidenceError:
    return _over_limit(
        name,
        f"holds more than {limits.max_rows} data rows, the limit",
        MAX_ROWS_SETTING,
        limits.max_rows,
        "split the export",
    )


def _refuse_wide(width: int, *, name: str, limits: ReadLimits) -> None:
    if width > limits.max_columns:
        raise _over_limit(
            name,
            f"the header has {width} columns, over the limit of {limits.max_columns}",
            MAX_COLUMNS_SETTING,
            limits.max_columns,
            "export only the columns the evidence needs",
        )


def _spaces_only(frame: pd.DataFrame) -> pd.Index:
    """Rows whose every cell is empty or spaces: a line of spaces is as blank as an empty
    one (the reader would otherwise keep it as a row with every required value missing).
    Only rows whose first cell is blank can be such a row, so only those are looked at."""
    candidates = _blank_cells(frame.iloc[:, 0])
    if not candidates.any():
        return frame.index[:0]
    maybe = frame[candidates]
    blank = maybe.apply(_blank_cells).all(axis=1)
    return maybe.index[blank]


def _blank_cells(cells: pd.Series) -> pd.Series:
    """Missing, or spaces only in a text column (a typed column has no spaces)."""
    import pandas as pd

    if pd.api.types.is_string_dtype(cells):
        return cells.isna() | cells.str.strip().eq("")
    return cells.isna()


def _refuse_unsplit_rows(frame: pd.DataFrame, *, header_delimiter: str, name: str) -> None:
    """A header split by one delimiter over rows written with another reads as rows of one
    cell holding the whole line; say so, rather than call every other column empty."""
    width = frame.shape[1]
    if width < 2:
        return
    row, cells = frame.index[0], frame.iloc[0]
    first = cells.iloc[0]
    if not isinstance(first, str) or cells.iloc[1:].notna().any():
        return
    other = max(DELIMITERS, key=first.count)
    if other != header_delimiter and first.count(other) >= width - 1:
        raise EvidenceError(
            f"{name}: row {row} has 1 cell but the header has {width}: the header is "
            f"split by {header_delimiter!r} and the rows by {other!r}; save the export "
            "again with one delimiter throughout"
        )


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


# The workbook's members an XLSX reader parses as XML.
_XML_MEMBERS = (".xml", ".rels", ".vml")


def check_workbook(path: Path, *, name: str, limits: ReadLimits) -> None:
    """Refuse a zip bomb and XML entities before openpyxl opens the workbook.

    The sizes checked are the ones the zip's directory declares: Python's zipfile never
    inflates a member past its declared size (a member that lies fails its CRC), so they
    bound what reading can cost. Entities are declared in a document's prolog, so each
    XML member is parsed (through defusedxml) only up to its root element."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            inflated = sum(m.file_size for m in members)
            if inflated > limits.max_xlsx_inflated_bytes:
                raise _over_limit(
                    name,
                    f"the workbook inflates to {_size_text(inflated)}, over the "
                    f"{_size_text(limits.max_xlsx_inflated_bytes)} limit",
                    MAX_XLSX_INFLATED_BYTES_SETTING,
                    limits.max_xlsx_inflated_bytes,
                    "split the workbook",
                )
            for member in members:
                # a small member may compress at any ratio and costs nothing to inflate
                ratio = member.file_size / max(member.compress_size, 1)
                if member.file_size > 1_000_000 and ratio > limits.max_xlsx_ratio:
                    raise _over_limit(
                        name,
                        f"{member.filename} inflates {ratio:.0f} times its compressed size, "
                        f"as a zip bomb does, over the limit of {limits.max_xlsx_ratio}",
                        MAX_XLSX_RATIO_SETTING,
                        limits.max_xlsx_ratio,
                        "save the workbook again from the spreadsheet",
                    )
            for member in members:
                if member.filename.lower().endswith(_XML_MEMBERS):
                    _refuse_entities(archive, member.filename, name=name)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, zlib.error) as exc:
        raise not_a_workbook(name, exc) from None


def _refuse_entities(archive: zipfile.ZipFile, member: str, *, name: str) -> None:
    with archive.open(member) as stream:
        try:
            for _ in iterparse(stream, events=("start",)):
                return  # the root element: the prolog, where entities live, is past
        except DefusedXmlException:
            raise _entities(name, member) from None
        except ParseError as exc:
            raise EvidenceError(
                f"{name}: {member} in the workbook is not well-formed XML ({exc}); save it "
                "again from the spreadsheet as Excel Workbook (.xlsx)"
            ) from None


def _entities(name: str, member: str) -> EvidenceError:
    return EvidenceError(
        f"{name}: {member} in the workbook declares XML entities, which no spreadsheet "
        "writes and which can expand without limit (a 'billion laughs' file); none is "
        "read, whatever the settings: save the workbook again from the spreadsheet as "
        "Excel Workbook (.xlsx)"
    )


def not_a_workbook(name: str, exc: BaseException) -> EvidenceError:
    # openpyxl wraps the parser's error in a ValueError of several lines; the cause says it
    cause = exc.__cause__ or exc
    if isinstance(cause, DefusedXmlException):
        return _entities(name, "a part")
    reason = " ".join(str(cause).split())
    return EvidenceError(
        f"{name}: not a readable XLSX workbook ({reason}); save it again from the "
        "spreadsheet as Excel Workbook (.xlsx)"
    )


def read_xlsx(path: Path, *, name: str, limits: ReadLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """The first worksheet, its first non-empty row as the header; date cells become ISO
    dates. A formula never calculated (a workbook written by a program, not saved from a
    spreadsheet) has no cached value and reads as an empty cell, not as its formula."""
    from openpyxl import load_workbook  # openpyxl only when a workbook arrives

    check_workbook(path, name=name, limits=limits)
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, ParseError, zlib.error) as exc:
        raise not_a_workbook(name, exc) from None
    try:
        return _sheet_frame(workbook, name=name, limits=limits)
    except (zipfile.BadZipFile, KeyError, ParseError, EOFError, zlib.error, ValueError) as exc:
        raise not_a_workbook(name, exc) from None
    finally:
        workbook.close()


def _sheet_frame(workbook: Any, *, name: str, limits: ReadLimits) -> pd.DataFrame:
    import pandas as pd

    header: list[str] | None = None
    header_number = 0
    records: list[list[str | None]] = []
    numbers: list[int] = []
    if not workbook.worksheets:
        raise EvidenceError(f"{name}: the workbook has no worksheet; export the evidence again")
    sheet = workbook.worksheets[0]
    # Read-only mode stops at the size the file declares, and exporters often declare
    # it wrong (`A1`): reading every row that is there loses none.
    sheet.reset_dimensions()
    for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
        if number - header_number > limits.max_rows + (header is None):
            raise _too_many_rows(name, limits)
        cells = [_cell_text(cell) for cell in row]
        if header is None:
            if not _blank(cells):
                width = max(i for i, cell in enumerate(cells) if not _blank([cell])) + 1
                _refuse_wide(width, name=name, limits=limits)
                header = _header_names(cells[:width])
                header_number = number
            continue
        cells = cells[: len(header)] + [None] * (len(header) - len(cells))
        if not _blank(cells):
            records.append(cells)
            numbers.append(number)
    if header is None:
        raise EvidenceError(f"{name}: the first worksheet is empty; export the evidence again")
    if not records:
        raise _no_rows(name)
    return pd.DataFrame(records, columns=header, index=pd.Index(numbers, name=ROW_COLUMN))


def _records_of(document: Any, name: str) -> list[Any]:
    if isinstance(document, list):
        return document
    if isinstance(document, dict):
        lists = {k: v for k, v in document.items() if isinstance(v, list)}
        if len(lists) > 1:
            # Jira's search answers `{"issues": [...], "warningMessages": []}`: the one
            # array of records is the one holding objects.
            lists = {k: v for k, v in lists.items() if v and isinstance(v[0], dict)}
        if len(lists) == 1:
            return next(iter(lists.values()))
    raise EvidenceError(
        f"{name}: expected a JSON array of records (or an object holding one array); "
        "export the records as a JSON array"
    )


def _flat(record: Mapping[str, Any], prefix: str = "") -> dict[str, str | None]:
    """A record's cells by dotted path, as text. (pandas' json_normalize would turn a
    column of integers with a gap into floats, and an id beyond 2**53 into another id.)"""
    cells: dict[str, str | None] = {}
    for key, value in record.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            cells.update(_flat(value, f"{path}."))
        else:
            cells[path] = None if value == {} else _cell_text(value)
    return cells


def _too_deep(name: str, limits: ReadLimits) -> EvidenceError:
    return _over_limit(
        name,
        f"the JSON nests deeper than {limits.max_json_depth} levels, the limit",
        MAX_JSON_DEPTH_SETTING,
        limits.max_json_depth,
        "export the records flatter",
    )


def _refuse_deep(document: Any, *, name: str, limits: ReadLimits) -> None:
    """Walk the document a level at a time (no recursion, so no depth can overflow the
    stack); the top-level array or object is level 1."""
    level, depth = [document], 0
    while level:
        depth += 1
        if depth > limits.max_json_depth:
            raise _too_deep(name, limits)
        level = [
            child
            for node in level
            if isinstance(node, dict | list)
            for child in (node.values() if isinstance(node, dict) else node)
            if isinstance(child, dict | list)
        ]


def read_json_text(text: str, *, name: str, limits: ReadLimits = DEFAULT_LIMITS) -> pd.DataFrame:
    """JSON records flattened with dotted paths: `{"fields": {"status": ..}}` gives the
    column `fields.status`."""
    import pandas as pd

    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EvidenceError(
            f"{name}: not valid JSON at line {exc.lineno} column {exc.colno} ({exc.msg}); "
            "export it again as JSON"
        ) from None
    except RecursionError:
        # json's C scanner stops at Python's recursion limit (about 1 000 levels)
        raise _too_deep(name, limits) from None
    _refuse_deep(document, name=name, limits=limits)
    records = _records_of(document, name)
    if not records:
        raise EvidenceError(f"{name}: the array holds no records; export the evidence again")
    if len(records) > limits.max_rows:
        raise _too_many_rows(name, limits)
    bad = next((i for i, r in enumerate(records) if not isinstance(r, dict)), None)
    if bad is not None:
        raise EvidenceError(
            f"{name}: record {bad + 1} (row {bad + 2}) is not a JSON object; every record "
            "must be an object of field: value"
        )
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(records, name)
    frame = pd.DataFrame([_flat(r) for r in records])
    _refuse_wide(frame.shape[1], name=name, limits=limits)
    frame.index = pd.RangeIndex(2, len(records) + 2, name=ROW_COLUMN)
    return frame


# JSON may spell a character as a UTF-16 surrogate pair (`\ud83d\ude00`); half of a pair
# decodes to a string that is not text and cannot be printed or stored.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")


def _refuse_lone_surrogates(records: list[Any], name: str) -> None:
    for number, record in enumerate(records, start=1):
        try:
            json.dumps(record, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise EvidenceError(
                f"{name}: record {number} (row {number + 1}) holds a \\u escape that is half "
                "of a UTF-16 surrogate pair, which is not a character; export it again "
                "as UTF-8 JSON"
            ) from None


def read_payload(
    path: Path,
    *,
    name: str,
    limits: ReadLimits = DEFAULT_LIMITS,
    field_type: FieldTypeOf | None = None,
) -> pd.DataFrame:
    """A payload's records as text columns, whatever its format; a common CSV file's
    number and date columns already typed where `field_type` names them."""
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".json", ".xlsx"):
        raise EvidenceError(f"{name}: {suffix or 'no'} files are not read; send CSV, XLSX or JSON")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise EvidenceError(f"{name}: cannot read ({exc.strerror}); check the path") from None
    if size > limits.max_file_bytes:
        raise _over_limit(
            name,
            f"the file is {_size_text(size)}, over the {_size_text(limits.max_file_bytes)} limit",
            MAX_FILE_BYTES_SETTING,
            limits.max_file_bytes,
            "split the export",
        )
    if suffix == ".xlsx":
        return read_xlsx(path, name=name, limits=limits)
    raw = path.read_bytes()
    if suffix == ".csv":
        fast = read_csv_fast(raw, name=name, limits=limits, field_type=field_type)
        if fast is not None:
            return fast
    text = _decode(raw, name, csv_rows=suffix == ".csv")
    if suffix == ".json":
        return read_json_text(text, name=name, limits=limits)
    return read_csv_text(text, name=name, limits=limits)


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
    renames = _renames(columns)
    present = {k: v for k, v in renames.items() if k in frame.columns}
    # A mapped column wins over a same-named column the source also carries.
    frame = frame.drop(
        columns=[v for v in present.values() if v in frame.columns and v not in present]
    )
    frame = frame.rename(columns=present)
    _refuse_twins(frame, [*present.values(), *values])
    for field, table in values.items():
        if field not in frame.columns or not table:
            continue
        text = frame[field].astype("string").str.strip()
        exact = text.map(dict(table))
        folded = text.str.lower().map({k.strip().lower(): v for k, v in table.items()})
        frame[field] = exact.fillna(folded).fillna(text).astype(object).where(text.notna(), None)
    return frame


def _renames(columns: Mapping[str, str]) -> dict[str, str]:
    """The column mapping by canonical header: `Project Key` and `project key` meet."""
    return {canonical_header(k): v for k, v in columns.items()}


def _field_types(
    kind: EvidenceKind, columns: Mapping[str, str], values: Mapping[str, Mapping[str, str]]
) -> FieldTypeOf:
    """The type of the field a source header maps onto; None for a field whose values
    the source translates (they are text until translated) or for no field."""
    renames = _renames(columns)
    types = {f.name: f.type for f in kind.fields if f.name not in values}

    def field_type(header: str) -> str | None:
        canonical = canonical_header(header)
        return types.get(renames.get(canonical, canonical))

    return field_type


def _refuse_twins(frame: pd.DataFrame, fields: Any) -> None:
    """Two columns reading as one field (`Project ID` beside `project_id`, or two source
    columns mapped onto one field) leave no way to tell which holds the evidence."""
    twins = set(frame.columns[frame.columns.duplicated()])
    clash = next((f for f in fields if f in twins), None)
    if clash is not None:
        raise EvidenceError(
            f"more than one column reads as {clash!r} (headers are compared in lower snake "
            "case, after the column mapping); keep one, or map the others onto other fields"
        )


_EXCEL_EPOCH = "1899-12-30"  # day 0 of a spreadsheet's date serial numbers
# The offset of an ISO 8601 date-time. A date field keeps the date as written where it
# was written; and pandas refuses a column mixing offsets (+01:00 in winter, +02:00 in
# summer, as any Jira export of a year does).
_OFFSET = re.compile(r"(?<=\d\d:\d\d)((?::\d\d)?(?:[.,]\d+)?)\s*(?:Z|[+-]\d\d(?::?\d\d)?)$")


def _dates(raw: pd.Series, *, serials: bool) -> pd.Series:
    import pandas as pd

    timed = raw.str.len().gt(10)  # a bare date is 10 characters; skip the regex for those
    local = raw.where(~timed, raw[timed].str.replace(_OFFSET, r"\1", regex=True))
    values = pd.to_datetime(local, errors="coerce", format="ISO8601")
    if serials:
        # Dates typed into a cell without a date format arrive as serial numbers; the
        # fraction is the time of day, so the day is the whole part.
        numbers = pd.to_numeric(raw.where(values.isna()), errors="coerce")
        plausible = numbers.between(1, 2_958_465)
        if plausible.any():
            days = pd.to_timedelta((numbers[plausible] + 1e-9) // 1, unit="D")
            values = values.copy()
            values[plausible] = pd.Timestamp(_EXCEL_EPOCH) + days
    return values


def _stripped(values: pd.Series) -> pd.Series:
    """The cells without their surrounding spaces, a cell of spaces as missing (a column
    with none is not copied again to say so)."""
    stripped = values.str.strip()
    empty = stripped == ""
    return stripped.mask(empty) if empty.any() else stripped


def _cast(raw: pd.Series, to: pa.DataType) -> pa.Array | None:
    """Arrow's cast of a whole text column, which succeeds only when every cell reads as
    `to`; None when one does not (or the column is not Arrow text), and the column goes
    to pandas, which finds the cells."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        return pc.cast(pa.array(raw.array), to)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError, TypeError):
        return None


def _numbers(raw: pd.Series) -> pd.Series:
    """Numbers as pandas reads them (whole numbers stay integers unless a cell is
    missing), through one Arrow cast when every cell is one."""
    import pandas as pd
    import pyarrow as pa

    whole = _cast(raw, pa.int64()) if not raw.hasnans else None
    if whole is not None and raw.str.contains("x", case=False, regex=False).any():
        whole = None  # Arrow reads 0x10 as 16; pandas refuses it, and names the cell
    cast = whole if whole is not None else _cast(raw, pa.float64())
    if cast is None:
        return pd.to_numeric(raw, errors="coerce")
    return pd.Series(cast.to_numpy(zero_copy_only=False), index=raw.index)


def _plain_dates(raw: pd.Series) -> pd.Series | None:
    """Dates written YYYY-MM-DD, all of them, through one Arrow cast; None otherwise."""
    import pandas as pd
    import pyarrow as pa

    cast = _cast(raw, pa.date32())
    if cast is None:
        return None
    values = cast.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    return pd.Series(values, index=raw.index)


def coerce(frame: pd.DataFrame, kind: EvidenceKind, *, serials: bool = False) -> ParsedEvidence:
    """Turn string columns into the kind's types, collecting cells that do not fit."""
    import pandas as pd

    if frame.index.name == ROW_COLUMN:  # numbered by the reader, blank rows counted
        numbers: Any = frame.index.to_numpy()
        frame = frame.reset_index(drop=True)
    else:
        numbers = range(2, len(frame) + 2)
    rows = pd.Series(numbers, index=frame.index, dtype="int64")
    _refuse_twins(frame, kind.field_names)
    typed = pd.DataFrame(index=frame.index)
    problems: list[CellProblem] = []
    known = set(kind.field_names)
    for field in kind.fields:
        if field.name not in frame.columns:
            continue
        if field.type in ("decimal", "date") and frame[field.name].dtype.kind in "iufM":
            typed[field.name] = frame[field.name]  # typed by Arrow as it read the file
            continue
        raw = _stripped(frame[field.name])
        if field.type == "text":
            typed[field.name] = raw
            continue
        if field.type == "decimal":
            values = _numbers(raw)
            # "inf", "Infinity" and 1e999 parse as numbers, but no amount is infinite
            values = values.mask(values.abs().eq(float("inf")))
        elif field.type == "date":
            plain = _plain_dates(raw)
            values = plain if plain is not None else _dates(raw, serials=serials)
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
    unknown = tuple(dict.fromkeys(c for c in frame.columns if c not in known))
    return ParsedEvidence(typed, tuple(problems), unknown)


def read_evidence(
    path: Path,
    *,
    name: str,
    kind: str,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ParsedEvidence:
    """Read a payload (`name` is how messages call it), map it onto its kind and type its
    cells."""
    columns, values = columns or {}, values or {}
    evidence_kind = load_kinds()[kind]
    field_type = _field_types(evidence_kind, columns, values)
    frame = read_payload(path, name=name, limits=limits, field_type=field_type)
    serials = path.suffix.lower() == ".xlsx"
    try:
        frame = apply_mapping(frame, columns=columns, values=values)
        return coerce(frame, evidence_kind, serials=serials)
    except EvidenceError as exc:
        raise EvidenceError(f"{name}: {exc}") from None


def parse_file(
    archived: ArchivedFile,
    *,
    columns: Mapping[str, str] | None = None,
    values: Mapping[str, Mapping[str, str]] | None = None,
    limits: ReadLimits = DEFAULT_LIMITS,
) -> ParsedEvidence:
    """Read an archived payload: the archived copy, named as the original in messages."""
    return read_evidence(
        archived.archived,
        name=str(archived.original),
        kind=archived.kind,
        columns=columns,
        values=values,
        limits=limits,
    )
