"""The payload readers on real files carrying the quirks real exports carry.

Every file here is written by the test as the exporting tool would write it (bytes for
CSV, openpyxl for XLSX, json for JSON) and read through the same path as a gathered
payload: archived by sha256, then parsed from the archive.
"""

from __future__ import annotations

import json
import re
import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook, load_workbook

from btm.errors import EvidenceError
from btm.evidence.files import (
    ArchivedFile,
    ParsedEvidence,
    apply_mapping,
    archive_payload,
    parse_file,
    read_payload,
)
from btm.evidence.payload import Payload
from btm.validation import validate_frame
from tests.factories import rows

PROJECT_HEADER = list(rows("projects", 1)[0])


def _archive(path: Path, tmp_path: Path, *, kind: str = "projects") -> ArchivedFile:
    payload = Payload("ppm", path.name, path)
    return archive_payload(payload, kind=kind, archive_dir=tmp_path / "archive")


def _parse(
    path: Path,
    tmp_path: Path,
    *,
    kind: str = "projects",
    columns: dict[str, str] | None = None,
    values: dict[str, dict[str, str]] | None = None,
) -> ParsedEvidence:
    return parse_file(_archive(path, tmp_path, kind=kind), columns=columns, values=values)


def _csv_bytes(lines: list[str], *, bom: bool = True) -> bytes:
    """Records as a spreadsheet saves them: CRLF line ends, a byte-order mark."""
    return (("\ufeff" if bom else "") + "\r\n".join(lines) + "\r\n").encode("utf-8")


def _line(record: dict[str, str], *, sep: str = ";") -> str:
    return sep.join(record.values())


def _texts(cells: pd.Series) -> list[str | None]:
    """A raw column's cells, missing ones as None whatever pandas' missing marker."""
    return [None if pd.isna(cell) else cell for cell in cells]


def _write(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


# CSV ----------------------------------------------------------------------------------


def test_a_spreadsheet_export_is_read_with_its_quirks(tmp_path: Path) -> None:
    records = rows("projects", 5)
    records[0]["health"] = ""  # an optional cell left empty
    records[0]["forecast_end"] = ""
    quoted = '"Branch ""refresh""; phase 2\nsecond line, with a comma"'
    records[1]["name"] = quoted
    records[3]["budget"] = "12k"  # the row after the multi-line record: row 5
    path = _write(
        tmp_path / "projects.csv",
        _csv_bytes([";".join(PROJECT_HEADER), *(_line(r) for r in records)]),
    )

    parsed = _parse(path, tmp_path)

    frame = parsed.frame
    assert frame["project_id"].tolist() == ["PRJ-1", "PRJ-2", "PRJ-3", "PRJ-4", "PRJ-5"]
    assert frame["name"].iloc[1] == 'Branch "refresh"; phase 2\nsecond line, with a comma'
    assert frame["_row"].tolist() == [2, 3, 4, 5, 6]  # the two-line record is one row
    assert frame["health"].isna().tolist() == [True, False, False, False, False]
    assert pd.isna(frame["forecast_end"].iloc[0])
    assert frame["planned_start"].iloc[0] == pd.Timestamp("2026-01-01")
    (problem,) = parsed.problems
    assert (problem.column, problem.rows, problem.values) == ("budget", (5,), ("12k",))
    assert problem.expected == "a number"
    outcome = validate_frame(frame, "projects", cell_problems=parsed.problems)
    assert not outcome.accepted
    assert "column budget" in outcome.sentences()[0] and "row 5" in outcome.sentences()[0]
    assert "'12k'" in outcome.sentences()[0]


def test_booleans_are_read_in_every_spelling_and_case(tmp_path: Path) -> None:
    spellings = ["TRUE", "false", "Yes", "NO", "y", "N", "1", "0", "True", "no"]
    records = [
        {**r, "architecture_reviewed": s}
        for r, s in zip(rows("projects", len(spellings)), spellings, strict=True)
    ]
    path = _write(
        tmp_path / "projects.csv",
        _csv_bytes([",".join(PROJECT_HEADER), *(_line(r, sep=",") for r in records)]),
    )

    parsed = _parse(path, tmp_path)

    assert parsed.problems == ()
    assert parsed.frame["architecture_reviewed"].tolist() == [True, False] * 5


@pytest.mark.parametrize("header", ["Project ID", "project-id", " PROJECT  id "])
def test_human_headers_are_read_as_canonical_fields(tmp_path: Path, header: str) -> None:
    record = rows("projects", 1)[0]
    names = [header, *PROJECT_HEADER[1:]]
    path = _write(tmp_path / "projects.csv", _csv_bytes([";".join(names), _line(record)]))

    parsed = _parse(path, tmp_path)

    assert parsed.frame["project_id"].tolist() == ["PRJ-1"]
    assert parsed.unknown_columns == ()


def test_a_quoted_header_cell_does_not_decide_the_delimiter(tmp_path: Path) -> None:
    # two commas inside a quoted header cell, two semicolons between the cells
    path = _write(
        tmp_path / "projects.csv",
        _csv_bytes(['Project ID;"Name, as shown, in PPM";Business Unit', "P1;Payments;Retail"]),
    )
    frame = read_payload(path, name="projects.csv")
    assert frame.columns.tolist() == ["Project ID", "Name, as shown, in PPM", "Business Unit"]
    assert frame.iloc[0].tolist() == ["P1", "Payments", "Retail"]


def test_blank_rows_are_skipped_but_counted(tmp_path: Path) -> None:
    lines = [";".join(PROJECT_HEADER), *(_line(r) for r in rows("projects", 3))]
    lines.insert(2, "")  # a blank line: spreadsheet row 3
    lines.insert(4, ";" * (len(PROJECT_HEADER) - 1))  # a row of empty cells: row 5
    path = _write(tmp_path / "projects.csv", _csv_bytes(lines))

    parsed = _parse(path, tmp_path)

    assert parsed.frame["project_id"].tolist() == ["PRJ-1", "PRJ-2", "PRJ-3"]
    assert parsed.frame["_row"].tolist() == [2, 4, 6]


@pytest.mark.parametrize("row", [2, 4])
def test_a_row_with_more_cells_than_the_header_is_refused_by_row(tmp_path: Path, row: int) -> None:
    # In row 2, pandas on its own would take the first column as the index and shift
    # every cell of the file one column to the left.
    lines = ["project_id;name", "P1;One", '"P2";"Two,\nthree"', "P3;Three"]
    lines[row - 1] += ";stray"
    path = _write(tmp_path / "projects-ppm.csv", _csv_bytes(lines))
    with pytest.raises(EvidenceError) as raised:
        read_payload(path, name="projects-ppm.csv")
    assert str(raised.value) == (
        f"projects-ppm.csv: row {row} has 3 cells but the header has 2; "
        "check that row's delimiters and quoting"
    )


def test_an_unclosed_quote_is_refused_by_row_not_swallowed(tmp_path: Path) -> None:
    lines = ["project_id;name", "P1;One", 'P2;"Two', "P3;Three"]
    path = _write(tmp_path / "projects.csv", _csv_bytes(lines))
    with pytest.raises(EvidenceError, match=r"row 3 opens a quote that is never closed"):
        read_payload(path, name="projects.csv")


def test_a_cp1252_file_is_refused_naming_the_row(tmp_path: Path) -> None:
    text = 'project_id;name\r\nP1;"two\r\nlines"\r\nP2;Café Zürich\r\n'
    path = _write(tmp_path / "projects-emea.csv", text.encode("cp1252"))
    with pytest.raises(EvidenceError) as raised:
        _parse(path, tmp_path)
    message = str(raised.value)
    assert "projects-emea.csv" in message
    assert "row 3 is not valid UTF-8 (byte 0xe9)" in message  # the two-line record is one row
    assert "save the export as UTF-8" in message


def test_a_cp1252_line_in_a_utf8_file_is_placed_after_the_byte_order_mark(
    tmp_path: Path,
) -> None:
    # a UTF-8 export with a line added by an editor saving cp1252
    content = "\ufeffproject_id;name\r\nP1;Zürich\r\n".encode() + "P2;Zü1Café\r\n".encode("cp1252")
    path = _write(tmp_path / "projects.csv", content)
    with pytest.raises(EvidenceError, match=r"row 3 is not valid UTF-8 \(byte 0xfc\)"):
        _parse(path, tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf\r\n\r\n", "the file is empty"),
        (_csv_bytes([";".join(PROJECT_HEADER)]), "has a header but no data rows"),
        (_csv_bytes([";".join(PROJECT_HEADER), ";;;", ""]), "has a header but no data rows"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
        ("project_id\r\nP1\r\n".encode("utf-16"), "UTF-16"),
    ],
    ids=["empty", "blank-lines", "header-only", "header-and-blank-rows", "png", "utf-16"],
)
def test_files_with_no_evidence_are_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = _write(tmp_path / "projects-ppm.csv", content)
    with pytest.raises(EvidenceError, match=message) as raised:
        _parse(path, tmp_path)
    assert "projects-ppm.csv" in str(raised.value)


def test_a_workbook_saved_as_csv_is_refused_as_binary(tmp_path: Path) -> None:
    workbook = Workbook()
    workbook.worksheets[0].append(PROJECT_HEADER)
    workbook.save(tmp_path / "projects.csv")
    with pytest.raises(EvidenceError, match="binary file, not text"):
        _parse(tmp_path / "projects.csv", tmp_path)


def test_two_columns_reading_as_one_field_are_refused(tmp_path: Path) -> None:
    lines = ["Project ID;project_id;name", "P1;P9;One"]
    path = _write(tmp_path / "projects-ppm.csv", _csv_bytes(lines))
    with pytest.raises(EvidenceError, match="more than one column reads as 'project_id'") as raised:
        _parse(path, tmp_path)
    assert "projects-ppm.csv" in str(raised.value)


def test_repeated_columns_that_no_field_reads_do_not_stop_the_file(tmp_path: Path) -> None:
    # Jira's CSV export repeats a header once per value of a multi-valued field
    record = rows("projects", 1)[0]
    lines = [";".join([*PROJECT_HEADER, "Labels", "Labels"]), _line(record) + ";a;b"]
    parsed = _parse(_write(tmp_path / "projects.csv", _csv_bytes(lines)), tmp_path)
    assert parsed.problems == () and parsed.unknown_columns == ("labels",)


# XLSX ---------------------------------------------------------------------------------


def _workbook(path: Path, lines: list[list[Any]], *, first_row: int = 1) -> Path:
    workbook = Workbook()
    sheet = workbook.worksheets[0]
    for offset, line in enumerate(lines):
        for column, value in enumerate(line, start=1):
            sheet.cell(row=first_row + offset, column=column, value=value)
    workbook.save(path)
    return path


def test_xlsx_cells_are_read_as_the_values_they_show(tmp_path: Path) -> None:
    columns: dict[str, list[Any]] = {
        "Project ID": ["P1", "P2", "P3"],
        "Business Unit": ["Retail", "Retail", "Wealth"],
        "Name": ["Payments", "Ledger", "CRM"],
        "Status": ["active", "completed", "active"],
        "Planned Start": [datetime(2026, 1, 5), 46022, date(2026, 2, 1)],  # a typed serial
        "Planned End": [date(2026, 6, 30), "2026-03-31", date(2026, 9, 1)],  # a date as text
        "Budget": [3.0, 1250.5, 0],
        "Percent Complete": [40, "=40/2", None],  # a formula never calculated
        "Architecture Reviewed": [True, False, "yes"],
        "Actual End": [None, 46112.5, None],  # a date-time serial: noon on 2026-03-31
    }
    lines = [list(columns), *(list(row) for row in zip(*columns.values(), strict=True))]
    path = _workbook(tmp_path / "projects-ppm.xlsx", lines)
    # Trailing rows formatted but empty, as a spreadsheet leaves them.
    workbook = load_workbook(path)
    for row in range(5, 40):
        workbook.worksheets[0].cell(row=row, column=7).number_format = "#,##0.00"
    workbook.save(path)
    with zipfile.ZipFile(path) as archive:
        assert '<row r="39"' in archive.read("xl/worksheets/sheet1.xml").decode()
    # What openpyxl gives for a formula with no cached value: None, not "=40/2".
    assert load_workbook(path, data_only=True).active["H3"].value is None  # type: ignore[index]

    raw = read_payload(path, name="projects-ppm.xlsx")
    assert raw["Budget"].tolist() == ["3", "1250.5", "0"]
    assert _texts(raw["Percent Complete"]) == ["40", None, None]
    assert raw["Planned Start"].tolist() == ["2026-01-05", "46022", "2026-02-01"]

    parsed = _parse(path, tmp_path)

    assert parsed.problems == () and parsed.unknown_columns == ()
    frame = parsed.frame
    assert frame["_row"].tolist() == [2, 3, 4]
    assert frame["planned_start"].tolist() == [
        pd.Timestamp("2026-01-05"),
        pd.Timestamp("2025-12-31"),
        pd.Timestamp("2026-02-01"),
    ]
    assert frame["planned_end"].iloc[1] == pd.Timestamp("2026-03-31")
    assert frame["actual_end"].iloc[1] == pd.Timestamp("2026-03-31")  # 46112.5: the day
    assert frame["budget"].tolist() == [3.0, 1250.5, 0.0]
    assert frame["percent_complete"].isna().tolist() == [False, True, True]
    assert frame["architecture_reviewed"].tolist() == [True, False, True]
    assert validate_frame(frame, "projects", cell_problems=parsed.problems).accepted


def test_xlsx_rows_keep_their_spreadsheet_numbers(tmp_path: Path) -> None:
    first, second = (list(r.values()) for r in rows("projects", 2))
    second[PROJECT_HEADER.index("budget")] = "lots"
    # two blank rows above the header, one blank row between the records
    path = _workbook(tmp_path / "projects.xlsx", [PROJECT_HEADER, first, [], second], first_row=3)

    parsed = _parse(path, tmp_path)

    assert parsed.frame["project_id"].tolist() == ["PRJ-1", "PRJ-2"]
    assert parsed.frame["_row"].tolist() == [4, 6]
    assert [(p.column, p.rows) for p in parsed.problems] == [("budget", (6,))]


def test_a_workbook_declaring_the_wrong_size_loses_no_rows(tmp_path: Path) -> None:
    lines = [PROJECT_HEADER, *(list(r.values()) for r in rows("projects", 4))]
    path = _workbook(tmp_path / "projects.xlsx", lines)
    # Some exporters write <dimension ref="A1"/> whatever the sheet holds.
    with zipfile.ZipFile(path) as archive:
        parts = {n: archive.read(n) for n in archive.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    parts["xl/worksheets/sheet1.xml"] = re.sub(
        r'<dimension ref="[^"]*"\s*/>', '<dimension ref="A1"/>', sheet
    ).encode()
    assert b'<dimension ref="A1"/>' in parts["xl/worksheets/sheet1.xml"]
    with zipfile.ZipFile(path, "w") as archive:
        for name, content in parts.items():
            archive.writestr(name, content)

    parsed = _parse(path, tmp_path)

    assert parsed.frame["project_id"].tolist() == ["PRJ-1", "PRJ-2", "PRJ-3", "PRJ-4"]
    assert parsed.frame["budget"].tolist() == [500.0] * 4


def test_a_file_named_xlsx_that_is_not_a_workbook_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "projects-ppm.xlsx", _csv_bytes(["project_id;name", "P1;One"]))
    with pytest.raises(EvidenceError) as raised:
        _parse(path, tmp_path)
    message = str(raised.value)
    assert "projects-ppm.xlsx" in message
    assert "not a readable XLSX workbook" in message and "Excel Workbook (.xlsx)" in message


@pytest.mark.parametrize("second_sheet", [False, True])
def test_an_empty_first_sheet_is_refused(tmp_path: Path, second_sheet: bool) -> None:
    workbook = Workbook()
    if second_sheet:  # the data are on a later sheet: still refused, the first is read
        workbook.create_sheet("Projects").append(PROJECT_HEADER)
    workbook.save(tmp_path / "projects.xlsx")
    with pytest.raises(EvidenceError, match=r"projects\.xlsx: the first worksheet is empty"):
        _parse(tmp_path / "projects.xlsx", tmp_path)


def test_an_xlsx_header_without_rows_is_refused(tmp_path: Path) -> None:
    path = _workbook(tmp_path / "projects.xlsx", [["Project ID", "Business Unit", "Name"]])
    with pytest.raises(EvidenceError, match="has a header but no data rows"):
        _parse(path, tmp_path)


# JSON ---------------------------------------------------------------------------------


def _typed(record: dict[str, str]) -> dict[str, Any]:
    """A factory record as an API returns it: numbers, booleans and nulls typed."""
    out: dict[str, Any] = dict(record)
    for field in ("budget", "actual_cost", "percent_complete"):
        out[field] = float(record[field]) if "." in record[field] else int(record[field])
    out["architecture_reviewed"] = record["architecture_reviewed"] in ("yes", "true")
    out["actual_end"] = None
    return out


def _json_file(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "wrap",
    [
        lambda records: records,
        lambda records: {"data": records},
        lambda records: {"issues": records, "warningMessages": [], "total": len(records)},
    ],
    ids=["array", "object-holding-an-array", "jira-search-answer"],
)
def test_json_records_are_read_as_text_the_coercion_reads(tmp_path: Path, wrap: Any) -> None:
    records = [_typed(r) for r in rows("projects", 3, percent_complete="40.5")]
    records[2]["architecture_reviewed"] = False
    path = _json_file(tmp_path / "projects.json", wrap(records))

    raw = read_payload(path, name="projects.json")
    assert raw["budget"].tolist() == ["500"] * 3
    assert raw["percent_complete"].tolist() == ["40.5"] * 3
    assert raw["architecture_reviewed"].tolist() == ["true", "true", "false"]
    assert _texts(raw["actual_end"]) == [None] * 3

    parsed = _parse(path, tmp_path)

    assert parsed.problems == ()
    assert parsed.frame["budget"].tolist() == [500.0] * 3
    assert parsed.frame["architecture_reviewed"].tolist() == [True, True, False]
    assert parsed.frame["_row"].tolist() == [2, 3, 4]
    assert validate_frame(parsed.frame, "projects").accepted


def _issue(key: str, status: str, category: str, **fields: Any) -> dict[str, Any]:
    """A Jira issue as its REST API returns it."""
    return {
        "id": "10001",
        "key": key,
        "fields": {
            "summary": f"Project {key}",
            "status": {"name": status, "statusCategory": {"key": category, "id": 4}},
            "customfield_10100": {"value": "Retail"},
            "customfield_10200": "2026-01-01",
            "duedate": "2026-06-30",
            "labels": ["payments", "q3"],
            "assignee": None,
            **fields,
        },
    }


JIRA_COLUMNS = {
    "key": "project_id",
    "fields.summary": "name",
    "fields.status.statusCategory.key": "status",  # mixed case, as Jira spells it
    "fields.customfield_10100.value": "business_unit",
    "Fields.CustomField_10200": "planned_start",
    "fields.duedate": "planned_end",
    "fields.updated": "last_status_update",
}
JIRA_VALUES = {"status": {"new": "not_started", "indeterminate": "active", "done": "completed"}}


def test_nested_json_is_mapped_by_dotted_paths(tmp_path: Path) -> None:
    issues = [
        _issue("PRJ-1", "In Progress", "indeterminate", updated="2026-03-02T09:15:00.000+0100"),
        _issue("PRJ-2", "Done", "done", updated="2026-07-01T00:30:00.000+0200"),
        _issue("PRJ-3", "To Do", "new", updated="2026-09-30T23:59:00Z"),
    ]
    path = _json_file(tmp_path / "jira-projects.json", {"issues": issues, "total": 3})

    raw = read_payload(path, name="jira-projects.json")
    assert raw["fields.labels"].tolist() == ['["payments", "q3"]'] * 3  # a list as JSON text
    assert _texts(raw["fields.assignee"]) == [None] * 3

    parsed = _parse(path, tmp_path, columns=JIRA_COLUMNS, values=JIRA_VALUES)

    frame = parsed.frame
    assert parsed.problems == ()
    assert frame["project_id"].tolist() == ["PRJ-1", "PRJ-2", "PRJ-3"]
    assert frame["status"].tolist() == ["active", "completed", "not_started"]
    assert frame["business_unit"].tolist() == ["Retail"] * 3
    assert frame["planned_start"].tolist() == [pd.Timestamp("2026-01-01")] * 3
    # offsets differ through the year (+01:00, +02:00, Z): each date stays as written
    assert frame["last_status_update"].dt.date.tolist() == [
        date(2026, 3, 2),
        date(2026, 7, 1),
        date(2026, 9, 30),
    ]
    assert "fields.labels" in parsed.unknown_columns


def test_json_ids_keep_every_digit(tmp_path: Path) -> None:
    # an integer column with a gap must not pass through floats
    records = [{"project_id": 12345678901234567, "budget": 7}, {"name": "no id"}]
    frame = read_payload(_json_file(tmp_path / "p.json", records), name="p.json")
    assert _texts(frame["project_id"]) == ["12345678901234567", None]
    assert _texts(frame["budget"]) == ["7", None]


def test_invalid_json_is_refused_naming_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "projects-ppm.json"
    path.write_text('[\n  {"project_id": "P1"},\n  {"project_id": "P2",}\n]\n')
    with pytest.raises(EvidenceError) as raised:
        _parse(path, tmp_path)
    message = str(raised.value)
    assert "projects-ppm.json: not valid JSON at line 3 column" in message
    assert "export it again as JSON" in message


def test_a_json_file_in_another_encoding_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = tmp_path / "projects.json"
    path.write_bytes('[\n{"name": "Café"}\n]'.encode("cp1252"))
    with pytest.raises(EvidenceError, match="line 2 is not valid UTF-8"):
        _parse(path, tmp_path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([{"project_id": "P1"}, "P2", {"project_id": "P3"}], r"record 2 \(row 3\) is not a JSON"),
        ([], "holds no records"),
        ({"data": []}, "holds no records"),
        ({"project_id": "P1"}, "expected a JSON array of records"),
        ({"data": [{"a": 1}], "included": [{"b": 2}]}, "expected a JSON array of records"),
        ("P1", "expected a JSON array of records"),
    ],
    ids=["not-an-object", "empty", "empty-in-object", "one-object", "two-arrays", "a-string"],
)
def test_json_that_holds_no_records_is_refused(tmp_path: Path, document: Any, message: str) -> None:
    path = _json_file(tmp_path / "projects-ppm.json", document)
    with pytest.raises(EvidenceError, match=message) as raised:
        _parse(path, tmp_path)
    assert "projects-ppm.json" in str(raised.value)


# Mapping ------------------------------------------------------------------------------


def test_a_mapped_column_wins_over_a_column_with_the_fields_name() -> None:
    frame = pd.DataFrame(
        {"Key": ["P1", "P2"], "project_id": ["old-1", "old-2"], "Summary": ["A", "B"]}
    )
    mapped = apply_mapping(frame, columns={"key": "project_id", "SUMMARY": "name"}, values={})
    assert mapped.columns.tolist() == ["project_id", "name"]
    assert mapped["project_id"].tolist() == ["P1", "P2"]


def test_values_map_exactly_then_ignoring_case_and_others_are_kept() -> None:
    frame = pd.DataFrame({"status": ["In Progress", "IN PROGRESS", " Done ", "Blocked", None]})
    mapped = apply_mapping(
        frame,
        columns={},
        values={"status": {"In Progress": "active", "done": "completed"}},
    )
    assert mapped["status"].tolist() == ["active", "active", "completed", "Blocked", None]


def test_two_source_columns_mapped_onto_one_field_are_refused(tmp_path: Path) -> None:
    lines = ["Key;Issue Key;Summary", "P1;P1;One"]
    path = _write(tmp_path / "projects.csv", _csv_bytes(lines))
    with pytest.raises(EvidenceError, match=r"projects\.csv: more than one column reads as"):
        _parse(path, tmp_path, columns={"Key": "project_id", "Issue Key": "project_id"})


def test_a_jira_like_export_passes_mapping_and_validation(tmp_path: Path) -> None:
    issues = [
        _issue("PRJ-1", "In Progress", "indeterminate"),
        _issue("PRJ-2", "Blocked", "Blocked"),
    ]
    path = _json_file(tmp_path / "jira.json", {"issues": issues})
    # Jira's status names, not their categories, mapped with a value table
    columns = {**JIRA_COLUMNS, "fields.status.name": "status"}
    del columns["fields.status.statusCategory.key"]
    values = {"status": {"in progress": "active", "BLOCKED": "on_hold"}}

    archived = archive_payload(
        Payload("jira-projects", "jira-projects.json", path),
        kind="projects",
        archive_dir=tmp_path / "archive",
    )
    parsed = parse_file(archived, columns=columns, values=values)
    outcome = validate_frame(parsed.frame, "projects", cell_problems=parsed.problems)

    assert outcome.accepted, outcome.sentences()
    assert parsed.frame["status"].tolist() == ["active", "on_hold"]

    # A status the table does not name reaches validation as it is, and is refused there.
    issues.append(_issue("PRJ-3", "Waiting for vendor", "indeterminate"))
    path = _json_file(tmp_path / "jira.json", {"issues": issues})
    archived = archive_payload(
        Payload("jira-projects", "jira-projects.json", path),
        kind="projects",
        archive_dir=tmp_path / "archive",
    )
    parsed = parse_file(archived, columns=columns, values=values)
    outcome = validate_frame(parsed.frame, "projects", cell_problems=parsed.problems)
    assert not outcome.accepted
    (failure,) = outcome.failures
    assert (failure.column, failure.rows, failure.ids) == ("status", (4,), ("PRJ-3",))


# Archive ------------------------------------------------------------------------------


def test_the_same_bytes_are_archived_once(tmp_path: Path) -> None:
    content = _csv_bytes([";".join(PROJECT_HEADER), _line(rows("projects", 1)[0])])
    first = _write(tmp_path / "drop" / "projects.csv", content)
    again = _write(tmp_path / "other" / "projects-copy.csv", content)

    one = _archive(first, tmp_path)
    two = _archive(first, tmp_path)
    three = _archive(again, tmp_path)

    assert one.archived == two.archived == three.archived
    assert one.sha256 == three.sha256 == one.archived.stem
    archived = [p for p in (tmp_path / "archive").rglob("*") if p.is_file()]
    assert archived == [one.archived]  # no partial copies left behind
    assert one.archived.read_bytes() == content


def test_the_archived_copy_is_what_is_parsed(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "projects.csv",
        _csv_bytes([";".join(PROJECT_HEADER), _line(rows("projects", 1)[0])]),
    )
    archived = _archive(path, tmp_path)
    path.write_text("project_id;name\r\nCHANGED;after archiving\r\n", encoding="utf-8")

    parsed = parse_file(archived)

    assert parsed.frame["project_id"].tolist() == ["PRJ-1"]
    assert parsed.frame["name"].tolist() == ["Payments API"]


def test_a_nul_byte_deep_in_a_text_file_is_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "projects.csv"
    lines = ["project_id,name"] + [f"PRJ-{i},Project {i}" for i in range(2000)]
    text = "\n".join(lines).encode()
    path.write_bytes(text + b"\nPRJ-X,bro\x00ken\n")
    with pytest.raises(EvidenceError, match=r"line 2002 holds a NUL byte"):
        read_payload(path, name=str(path))
