"""Arrow's reader and casts take the common file; the careful reader keeps every other.

Whatever Arrow reads must read exactly as the careful reader reads it (the same columns,
the same cells, the same row numbers, the same typed values and named bad cells), and
every file Arrow could misread (a quote never closed, a ragged row, a bad byte) must go
to the careful reader, which names the fault.
"""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from btm.errors import EvidenceError
from btm.evidence.files import (
    ParsedEvidence,
    _decode,
    _numbers,
    _plain_dates,
    _stripped,
    apply_mapping,
    coerce,
    read_csv_fast,
    read_csv_text,
    read_evidence,
)
from btm.evidence.kinds import kind_named


def _careful(raw: bytes) -> pd.DataFrame:
    return read_csv_text(_decode(raw, "x.csv"), name="x.csv")


def _same(raw: bytes) -> pd.DataFrame:
    fast = read_csv_fast(raw, name="x.csv")
    assert fast is not None, "the common file should take Arrow's path"
    careful = _careful(raw)
    pd.testing.assert_frame_equal(fast, careful, check_dtype=False, check_index_type=False)
    assert list(fast.index) == list(careful.index)
    return fast


def test_a_plain_export_reads_as_the_careful_reader_reads_it() -> None:
    raw = (
        b'\xef\xbb\xbfProject ID,Name,Budget\r\nP1,One,10\r\nP2,,\r\n,,\r\nP4,"Four, quoted",40\r\n'
    )
    frame = _same(raw)
    # the row of empty cells is dropped and the rows after it keep their numbers
    assert list(frame.index) == [2, 3, 5]
    assert frame.loc[5, "Name"] == "Four, quoted"


@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_a_blank_line_is_dropped_and_the_rows_after_it_keep_their_numbers(newline: bytes) -> None:
    frame = _same(newline.join([b"id,name", b"P1,One", b"", b"P3,Three", b""]))
    assert list(frame.index) == [2, 4]


def test_a_quoted_line_break_is_one_row_numbered_as_a_spreadsheet_numbers_it() -> None:
    frame = _same(b'id;note\nP1;"two\nlines"\nP2;plain\n')
    assert list(frame.index) == [2, 3]
    assert frame.loc[2, "note"] == "two\nlines"


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\nid,name\nP1,One\n", id="blank line before the header"),
        pytest.param(b'id,name\nP1,"One\nP2,Two\n', id="quote never closed"),
        pytest.param(b"id,name\nP1,One,extra\n", id="row wider than the header"),
        pytest.param(b"id,name\nP1\n", id="row narrower than the header"),
        pytest.param(b"id,name\nP1,\xff\n", id="not UTF-8"),
        pytest.param(b"id,name\nP1,O\x00ne\n", id="NUL byte"),
        pytest.param(b"id\nP1\n", id="one column"),
        pytest.param(b"id,name\n", id="header only"),
    ],
)
def test_a_file_arrow_could_misread_goes_to_the_careful_reader(raw: bytes) -> None:
    assert read_csv_fast(raw, name="x.csv") is None


_CELL = st.text(alphabet=st.sampled_from(list("ab 1,.;\"'-\n\té")), min_size=0, max_size=6).filter(
    lambda cell: not cell.strip() or cell == cell.strip()
)


def _field(cell: str) -> str:
    return '"' + cell.replace('"', '""') + '"' if any(c in cell for c in ',"\n') else cell


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_CELL, min_size=3, max_size=3), min_size=1, max_size=6))
def test_whatever_arrow_reads_the_careful_reader_reads_the_same(rows: list[list[str]]) -> None:
    lines = ["first,second,third", *(",".join(_field(c) for c in row) for row in rows)]
    raw = ("\n".join(lines) + "\n").encode()
    try:
        careful = _careful(raw)
    except EvidenceError as refused:  # blank rows only: Arrow leaves it, or refuses alike
        with pytest.raises(EvidenceError, match=re.escape(str(refused))):
            if read_csv_fast(raw, name="x.csv") is None:
                raise EvidenceError(str(refused)) from None
        return
    fast = read_csv_fast(raw, name="x.csv")
    if fast is not None:
        pd.testing.assert_frame_equal(fast, careful, check_dtype=False, check_index_type=False)


@pytest.mark.parametrize(
    "cells",
    [
        ["1", "2", "3"],
        ["1", "2.5", None],
        ["+5", ".5", "5.", "1e3", "-0"],
        ["1", "1,000", "0x10"],  # not numbers: pandas finds the cells
        ["1", "0x10", "0XFF"],  # whole numbers to Arrow, not numbers to pandas
        ["inf", "nan", "7"],
    ],
)
def test_numbers_cast_at_once_read_as_pandas_reads_them(cells: list[str | None]) -> None:
    raw = pd.Series(cells, dtype="str")
    expected = pd.to_numeric(raw, errors="coerce")
    pd.testing.assert_series_equal(_numbers(raw), expected, check_dtype=True)


def test_plain_dates_cast_at_once_and_any_other_date_goes_to_pandas() -> None:
    plain = _plain_dates(pd.Series(["2026-01-31", None, "2025-12-01"], dtype="str"))
    assert plain is not None
    assert list(plain.dropna()) == [pd.Timestamp("2026-01-31"), pd.Timestamp("2025-12-01")]
    assert str(plain.dtype) == "datetime64[us]"
    for odd in (["2026-1-31"], ["2026-02-30"], ["2026-01-31T10:00:00+01:00"], ["31/01/2026"]):
        assert _plain_dates(pd.Series(odd, dtype="str")) is None


def test_bad_cells_are_named_whichever_path_reads_the_column() -> None:
    frame = pd.DataFrame(
        {
            "project_id": ["P1", "P2", "P3"],
            "budget": ["10", "ten", "30"],
            "planned_start": ["2026-01-01", "2026-13-01", "2026-03-01"],
        },
        dtype="str",
    )
    parsed = coerce(frame, kind_named("projects"))
    assert {(p.column, p.rows) for p in parsed.problems} == {
        ("budget", (3,)),
        ("planned_start", (3,)),
    }


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(alphabet=" \t\u00a0\u2003\v\nab", max_size=4))))
def test_a_text_column_is_kept_as_it_is_only_when_stripping_changes_nothing(
    cells: list[str | None],
) -> None:
    values = pd.Series(cells, dtype="str")
    stripped = values.str.strip()
    pd.testing.assert_series_equal(_stripped(values), stripped.mask(stripped == ""))


_NUMBERS = [
    "1",
    "-3",
    "+5",
    ".5",
    "5.",
    "1e3",
    "1.0",
    "007",
    "9223372036854775808",
    "NaN",
    "inf",
    "-Infinity",
    "1,000",
    "0x10",
    " 7",
    "true",
    "2026-01-01",
    "",
]
_DATES = [
    "2026-01-31",
    "2025-12-01",
    "2026-02-30",
    "2026-1-31",
    "2026-01-31T10:00:00+01:00",
    "2026-01-31 10:00",
    "31/01/2026",
    "20260131",
    " 2026-01-31",
    "",
]


def _both_ways(raw: bytes, tmp: Path, **mapping: Any) -> ParsedEvidence:
    """The evidence as the whole read path types it, checked against the careful reader
    and `coerce` alone: the same frame, dtypes included, and the same bad cells."""
    path = tmp / "projects.csv"
    path.write_bytes(raw)
    fast = read_evidence(path, name="projects.csv", kind="projects", **mapping)
    frame = apply_mapping(
        _careful(raw), columns=mapping.get("columns", {}), values=mapping.get("values", {})
    )
    careful = coerce(frame, kind_named("projects"))
    pd.testing.assert_frame_equal(fast.frame, careful.frame, check_dtype=True)
    assert fast.problems == careful.problems
    assert fast.unknown_columns == careful.unknown_columns
    return fast


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from(_NUMBERS), st.sampled_from(_NUMBERS), st.sampled_from(_DATES)),
        min_size=1,
        max_size=6,
    )
)
def test_numbers_and_dates_typed_while_reading_read_as_coerce_reads_them(
    rows: list[tuple[str, str, str]],
) -> None:
    lines = ["project_id,Budget,percent_complete,planned_start,note"]
    lines += [f"P{i},{_field(a)},{_field(b)},{_field(d)},n" for i, (a, b, d) in enumerate(rows)]
    with tempfile.TemporaryDirectory() as tmp:
        _both_ways(("\n".join(lines) + "\n").encode(), Path(tmp))


def test_a_clean_export_is_typed_by_arrow_and_a_bad_cell_still_named(tmp_path: Path) -> None:
    clean = _both_ways(
        b"project_id,budget,planned_start\nP1,10,2026-01-31\nP2,,2026-02-01\n", tmp_path
    )
    assert str(clean.frame["budget"].dtype) == "float64"  # a missing cell: as pandas reads it
    assert str(clean.frame["planned_start"].dtype) == "datetime64[us]"
    # Arrow typed them as it read: its own frame carries the types, not text
    types = {"budget": "decimal", "planned_start": "date"}
    read = read_csv_fast(
        b"project_id,budget,planned_start\nP1,10,2026-01-31\n", name="x", field_type=types.get
    )
    assert read is not None
    assert [str(t) for t in read.dtypes] == ["str", "int64", "datetime64[us]"]
    bad = _both_ways(b"project_id,budget\nP1,10\nP2,ten\n", tmp_path)
    assert [(p.column, p.rows, p.values) for p in bad.problems] == [("budget", (3,), ("ten",))]


def test_a_mapped_header_is_typed_as_its_field_and_a_translated_field_stays_text(
    tmp_path: Path,
) -> None:
    raw = b"Key,Cost,Start\nP1,10,2026-01-31\nP2,20,2026-02-01\n"
    columns = {"key": "project_id", "cost": "budget", "start": "planned_start"}
    mapped = _both_ways(raw, tmp_path, columns=columns)
    assert list(mapped.frame["budget"]) == [10, 20]
    translated = _both_ways(raw, tmp_path, columns=columns, values={"budget": {"10": "11"}})
    assert list(translated.frame["budget"]) == [11, 20]
