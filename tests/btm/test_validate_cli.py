"""`btm validate` on a corpus of broken exports, and on the quirks real exports carry.

Every file is written by its case (as bytes where the encoding is the point). A broken
file exits 1 with the explanation on stdout naming the row or column at fault, and the
value and the fix where there is one; a file with warnings only exits 0 and still says
them; a mistake in the command itself exits 2. No case may end in an exception:
CliRunner catches one and reports exit code 1, so `_validate` looks for it rather than
trusting the exit code alone.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner, Result

from btm.cli import app
from btm.evidence.kinds import kind_named
from tests.btm.evidence.test_hostile_files import (
    SHARED,
    billion_laughs_xlsx,
    deep_json,
    inflating_xlsx,
    long_csv,
    long_xlsx,
    very_deep_json,
    wide_csv,
    wide_xlsx,
)
from tests.factories import rows, write_csv

runner = CliRunner()
CYCLE = ("--cycle", "2026-Q1")  # dates are judged against a fixed cycle, not today
Writer = Callable[[Path], object]

# One valid row of each kind the factories do not cover; `_valid` numbers the ids.
TEMPLATES: dict[str, dict[str, str]] = {
    "applications": {
        "application_id": "APP",
        "business_unit": "Retail",
        "name": "Core ledger",
        "owner": "CIO office",
        "lifecycle_decision": "invest",
        "standards_compliant": "yes",
        "annual_cost": "12000",
        "capability_served": "MTI-1",
        "last_reviewed": "2026-01-20",
    },
    "decisions": {
        "decision_id": "DEC",
        "business_unit": "Retail",
        "title": "Fund the payments API",
        "decision_body": "Business Technology Investment Board",
        "body_type": "participative",
        "decision_object": "investment",
        "decision_date": "2026-02-03",
        "rationale": "Aligned with Digital first",
    },
    "risks": {
        "risk_id": "RSK",
        "business_unit": "Retail",
        "title": "Vendor lock-in",
        "owner": "CTO",
        "severity": "high",
        "mitigation": "Exit plan",
        "review_date": "2026-02-15",
        "status": "open",
    },
    "survey": {
        "response_id": "R",
        "respondent_role": "pmo",
        "business_unit": "Retail",
        "capability": "MTI-1",
        "dimension": "process",
        "score": "3",
        "comment": "",
        "answered_on": "2026-01-10",
    },
}


def _valid(kind: str, count: int = 3) -> list[dict[str, str]]:
    if kind not in TEMPLATES:
        return rows(kind, count)
    id_field = kind_named(kind).id_field
    template = TEMPLATES[kind]
    return [{**template, id_field: f"{template[id_field]}-{i + 1}"} for i in range(count)]


def _csv_text(records: list[dict[str, str]], *, sep: str = ",") -> str:
    return pd.DataFrame(records).to_csv(index=False, sep=sep, lineterminator="\n")


def _header(kind: str = "projects", *, sep: str = ",") -> str:
    return sep.join(_valid(kind, 1)[0])


# Writers: each takes the path the case's file goes to ------------------------------------


def _raw(content: bytes | str) -> Writer:
    data = content.encode("utf-8") if isinstance(content, str) else content
    return lambda path: path.write_bytes(data)


def _broken(kind: str, row: int, **cells: str) -> Writer:
    """Three valid rows of a kind, with `cells` set in spreadsheet row `row` (2 to 4)."""

    def write(path: Path) -> Path:
        records = _valid(kind)
        records[row - 2].update(cells)
        if path.suffix == ".json":
            path.write_text(json.dumps(records), encoding="utf-8")
        elif path.suffix == ".xlsx":
            _write_xlsx(path, [list(records[0]), *(list(r.values()) for r in records)])
        else:
            write_csv(path, records)
        return path

    return write


def _encoded(encoding: str, row: int, **cells: str) -> Writer:
    def write(path: Path) -> None:
        records = _valid("projects")
        records[0]["name"] = "Payments API\nphase 2, the two-line cell is one row"
        records[row - 2].update(cells)
        path.write_bytes(_csv_text(records).encode(encoding))

    return write


def _lines(edit: Callable[[list[str]], object]) -> Writer:
    """Valid projects as CSV lines (the header first), changed by `edit` in place."""

    def write(path: Path) -> None:
        lines = _csv_text(_valid("projects")).splitlines()
        edit(lines)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    return write


def _without(column: str) -> Writer:
    return lambda path: write_csv(
        path, [{k: v for k, v in r.items() if k != column} for r in _valid("projects")]
    )


def _write_xlsx(path: Path, table: list[list[Any]]) -> None:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for line in table:
        sheet.append(line)
    workbook.save(path)


def _xlsx_bytes() -> bytes:
    buffer = io.BytesIO()
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    records = _valid("projects")
    for line in [list(records[0]), *(list(r.values()) for r in records)]:
        sheet.append(line)
    workbook.save(buffer)
    return buffer.getvalue()


def _mashed(sep: str) -> Writer:
    return lambda path: path.write_text(_csv_text(_valid("projects"), sep=sep), encoding="utf-8")


def _split_header(lines: list[str]) -> None:
    lines[0] = lines[0].replace(",", ";")


def _stray_cell(lines: list[str]) -> None:
    lines[2] += ",stray"


def _open_quote(lines: list[str]) -> None:
    lines[2] = lines[2].replace("Payments API", '"Payments API')


def _twin_id(lines: list[str]) -> None:
    """A second id column, headed as a person would head it."""
    lines[0] = lines[0].replace("investment_id", "Project ID")


def _duplicate(path: Path) -> None:
    records = _valid("projects")
    records[2]["project_id"] = records[0]["project_id"]
    write_csv(path, records)


def _json_of(*records: Any) -> Writer:
    return _raw(json.dumps(list(records)))


PROJECT = _valid("projects", 1)[0]
SURROGATE = (
    '[{"project_id": "PRJ-1", "name": "Payments"},\n {"project_id": "PRJ-2", "name": "\\udc9e"}]'
)
BIG_CELL = ('A long "note", pasted; ' * 46_000)[: 1 << 20]  # 1 MB, quotes and delimiters


# The corpus -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One file, what `btm validate` must answer for it, and what the answer must say."""

    id: str
    file: str
    write: Writer
    exit_code: int
    says: tuple[str, ...]
    investments: bool = False  # pass --investments with INV-1 and INV-2
    env: tuple[tuple[str, str], ...] = ()  # settings for the run: the limits, set low
    # a hostile file's: the setting its refusal names ("" for XML entities, never allowed)
    limit: str | None = None


def _refused(id: str, file: str, write: Writer, *says: str) -> Case:
    return Case(id, file, write, 1, says)


def _hostile(id: str, file: str, write: Writer, setting: str, *says: str, low: int = 0) -> Case:
    """A hostile file, refused in one line naming the file, the limit and its setting;
    `low` sets that limit low, so the test never builds a file of gigabytes."""
    env = ((setting, str(low)),) if low else ()
    return Case(id, file, write, 1, (f"{file}: ", *says, setting), env=env, limit=setting)


def _accepted(id: str, file: str, write: Writer, *says: str, investments: bool = False) -> Case:
    """A file that is accepted, with what it must still say (its warnings, its notes)."""
    return Case(id, file, write, 0, says, investments)


def _formula(id: str, formula: str) -> Case:
    return _refused(
        id,
        "projects.csv",
        _broken("projects", 3, name=formula),
        "column name, no spreadsheet formula: row 3",
        "ids PRJ-2",
        "fix: 'name' holds a spreadsheet formula; export the value, not the formula",
    )


def _out_of_range(id: str, column: str, value: str, fix: str, *, row: int = 3) -> Case:
    return _refused(
        id,
        "projects.csv",
        _broken("projects", row, **{column: value}),
        f"column {column}, value out of range: row {row}",
        f"ids PRJ-{row - 1}",
        f"fix: {fix}",
    )


def _wrong_type(id: str, column: str, value: str, expected: str) -> Case:
    return _refused(
        id,
        "projects.csv",
        _broken("projects", 3, **{column: value}),
        f"column {column}, value of the wrong type: row 3",
        f"values {value!r}",
        f"fix: write {expected} in '{column}'",
    )


DATE_FIX = "must be a real date between 1990 and 25 years after the cycle"

CORPUS = [
    # files that hold no evidence, or are not what they claim to be
    _refused("empty", "projects.csv", _raw(b""), "projects.csv: the file is empty"),
    _refused("whitespace-only", "projects.csv", _raw(b" \r\n\t\n   "), "the file is empty"),
    _refused("byte-order-mark-only", "projects.csv", _raw(b"\xef\xbb\xbf"), "the file is empty"),
    _refused(
        "header-only",
        "projects.csv",
        _raw(_header() + "\n"),
        "projects.csv: has a header but no data rows",
    ),
    _refused(
        "header-and-blank-lines",
        "projects.csv",
        _raw(_header() + "\r\n\r\n   \r\n,,,\r\n \t , ,\r\n\n"),
        "projects.csv: has a header but no data rows",
    ),
    _refused(
        "one-mashed-column",  # a delimiter the reader does not split on
        "projects.csv",
        _mashed("~"),
        "column project_id, required column is missing",
        "column planned_end, required column is missing",
        "fix: add the column 'project_id' to the export",
    ),
    _refused(
        "header-and-rows-split-differently",
        "projects.csv",
        _lines(_split_header),
        "row 2 has 1 cell but the header has 15",
        "the header is split by ';' and the rows by ','",
        "one delimiter throughout",
    ),
    _refused(
        "cp1252",
        "projects.csv",
        _encoded("cp1252", 3, name="Caf\u00e9 \u2013 phase 2"),
        "projects.csv: row 3 is not valid UTF-8 (byte 0xe9)",
        "save the export as UTF-8",
    ),
    _refused(
        "latin-1",
        "projects.csv",
        _encoded("latin-1", 4, business_unit="Z\u00fcrich"),
        "projects.csv: row 4 is not valid UTF-8 (byte 0xfc)",
        "save the export as UTF-8",
    ),
    _refused(
        "utf-16",
        "projects.csv",
        lambda path: path.write_bytes(_csv_text(_valid("projects")).encode("utf-16")),
        "this is UTF-16 text",
        "save the export as UTF-8",
    ),
    _refused(
        "png-named-csv",
        "projects.csv",
        _raw(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))),
        "projects.csv: this is a binary file, not text",
        "export it as CSV (UTF-8)",
    ),
    _refused(
        "csv-named-xlsx",
        "projects.xlsx",
        lambda path: write_csv(path, _valid("projects")),
        "projects.xlsx: not a readable XLSX workbook",
        "save it again from the spreadsheet as Excel Workbook (.xlsx)",
    ),
    _refused(
        "xlsx-named-csv",
        "projects.csv",
        lambda path: path.write_bytes(_xlsx_bytes()),
        "projects.csv: this is a binary file, not text",
    ),
    _refused(
        "text-file",
        "projects.txt",
        _raw(_csv_text(_valid("projects"))),
        "projects.txt: .txt files are not read; send CSV, XLSX or JSON",
    ),
    _refused(
        "invalid-json",
        "projects.json",
        _raw('[\n  {"project_id": "PRJ-1",}\n]'),
        "projects.json: not valid JSON at line 2 column",
        "export it again as JSON",
    ),
    _refused(
        "json-array-of-non-objects",
        "projects.json",
        _json_of(PROJECT, "PRJ-2", 3),
        "projects.json: record 2 (row 3) is not a JSON object",
    ),
    _refused(
        "json-object-without-records",
        "projects.json",
        _raw('{"total": 3, "page": 1}'),
        "expected a JSON array of records",
    ),
    _refused(
        "json-half-surrogate-pair",
        "projects.json",
        _raw(SURROGATE),
        "projects.json: record 2 (row 3) holds a \\u escape that is half of a UTF-16",
    ),
    # CSV structure
    _refused(
        "more-cells-than-header",
        "projects.csv",
        _lines(_stray_cell),
        "row 3 has 16 cells but the header has 15",
        "check that row's delimiters and quoting",
    ),
    _refused(
        "unclosed-quote",
        "projects.csv",
        _lines(_open_quote),
        "row 3 opens a quote that is never closed",
    ),
    _refused(
        "missing-required-column",
        "projects.csv",
        _without("status"),
        "column status, required column is missing",
        "fix: add the column 'status' to the export",
    ),
    _refused(
        "two-columns-read-as-one-field",
        "projects.csv",
        _lines(_twin_id),
        "more than one column reads as 'project_id'",
    ),
    # rules of the projects suite
    _refused(
        "unknown-status",
        "projects.csv",
        _broken("projects", 3, status="in_progress"),
        "column status, value not allowed: row 3",
        "ids PRJ-2",
        "fix: use one of not_started, active, on_hold, completed, cancelled in 'status'",
    ),
    _refused(
        "duplicate-id",
        "projects.csv",
        _duplicate,
        "column project_id, duplicate id: rows 2, 4",
        "ids PRJ-1",
        "fix: give every row its own 'project_id'",
    ),
    _out_of_range("negative-budget", "budget", "-5", "amounts in 'budget' must be 0 or more"),
    _refused(
        "end-before-start",
        "projects.csv",
        _broken("projects", 4, planned_end="2025-12-31"),
        "column planned_end, planned_start, end before start: row 4",
        "ids PRJ-3",
        "fix: planned_end must be on or after planned_start",
    ),
    _wrong_type("number-with-unit", "budget", "12k", "a number"),
    _wrong_type("european-amount", "actual_cost", "1.000,00 EUR", "a number"),
    _wrong_type("infinite-amount", "budget", "inf", "a number"),
    _wrong_type("day-first-date", "planned_start", "31/02/2026", "an ISO 8601 date (YYYY-MM-DD)"),
    _out_of_range("date-in-2090", "planned_end", "2090-06-30", f"'planned_end' {DATE_FIX}"),
    _out_of_range("date-before-1990", "planned_start", "1985-01-01", f"'planned_start' {DATE_FIX}"),
    _refused(
        "completed-without-actual-end",
        "projects.csv",
        _broken("projects", 3, status="completed", actual_end=""),
        "column actual_end, required value is empty: row 3",
        "ids PRJ-2",
        "fix: a completed project needs its actual_end date",
    ),
    _out_of_range("percent-complete-150", "percent_complete", "150", "percent_complete is a"),
    _formula("formula-hyperlink", '=HYPERLINK("http://x","y")'),
    _formula("formula-plus-sum", "+SUM(A1:A2)"),
    _formula("formula-at-sum", "@SUM(1)"),
    _formula("formula-dde", "=cmd|' /C calc'!A0"),
    # the other kinds' suites, in their formats
    _refused(
        "approval-date-on-proposed-investment",
        "investments-finance.csv",
        _broken("investments", 3, status="proposed"),
        "column approval_date, value must be empty here: row 3",
        "ids INV-2",
        "fix: approval_date must be empty while the status is proposed or rejected",
    ),
    _refused(
        "survey-score-7",
        "survey.csv",
        _broken("survey", 3, score="7"),
        "column score, value out of range: row 3",
        "ids R-2",
        "fix: 'score' is the self-assessed maturity level, 1 to 5",
    ),
    _refused(
        "survey-unknown-capability",
        "survey.csv",
        _broken("survey", 4, capability="XYZ-9"),
        "column capability, value not allowed: row 4",
        "ids R-3",
        "fix: use a capability id of the BTM catalogue",
    ),
    _refused(
        "risk-severity-urgent",
        "risks.xlsx",
        _broken("risks", 3, severity="urgent"),
        "column severity, value not allowed: row 3",
        "ids RSK-2",
        "fix: use one of low, medium, high, critical in 'severity'",
    ),
    _refused(
        "decision-unknown-body-type",
        "decisions.json",
        _broken("decisions", 3, body_type="committee"),
        "column body_type, value not allowed: row 3",
        "ids DEC-2",
        "fix: use one of participative",
    ),
    _refused(
        "application-negative-annual-cost",
        "applications.csv",
        _broken("applications", 3, annual_cost="-1200"),
        "column annual_cost, value out of range: row 3",
        "ids APP-2",
        "must be 0 or more",
    ),
    # warnings: accepted, and said
    _accepted(
        "html-in-name",
        "projects.csv",
        _broken("projects", 3, name="<script>alert(1)</script>"),
        "warning: column name, no HTML markup: row 3",
        "ids PRJ-2",
        "fix: 'name' contains HTML markup",
    ),
    _accepted(
        "investment-not-in-investments-file",
        "projects.csv",
        _broken("projects", 3, investment_id="INV-99"),
        "warning: column investment_id, not a known investments id: row 3",
        "ids PRJ-2",
        "fix: investment_id should name an investment",
        investments=True,
    ),
    _accepted(
        "investments-not-given",
        "projects.csv",
        _broken("projects", 3, investment_id="INV-99"),
        "not checked: column investment_id: not checked against known investments",
    ),
    # The product documents no size limit for a cell (pandas' C reader has none): a 1 MB
    # cell is read whole and the file accepted.
    _accepted("one-megabyte-cell", "projects.csv", _broken("projects", 3, name=BIG_CELL)),
    # hostile files (tests/btm/evidence/test_hostile_files.py builds them)
    _hostile(
        "billion-laughs-in-the-sheet",
        "risks.xlsx",
        billion_laughs_xlsx,
        "",
        "xl/worksheets/sheet1.xml in the workbook declares XML entities",
        "none is read, whatever the settings",
    ),
    _hostile(
        "billion-laughs-in-the-shared-strings",
        "risks.xlsx",
        lambda path: billion_laughs_xlsx(path, member=SHARED),
        "",
        "xl/sharedStrings.xml in the workbook declares XML entities",
    ),
    _hostile(
        "zip-bomb-past-the-inflated-size",
        "risks.xlsx",
        inflating_xlsx,
        "BTM_MAX_XLSX_INFLATED_BYTES",
        "the workbook inflates to 10.0 MB, over the 1.0 MB limit",
        low=1_000_000,
    ),
    _hostile(
        "zip-bomb-past-the-ratio",
        "risks.xlsx",
        inflating_xlsx,
        "BTM_MAX_XLSX_RATIO",
        "xl/worksheets/sheet1.xml inflates",
        "over the limit of 200",
    ),
    _hostile(
        "file-past-the-byte-limit",
        "projects.csv",
        lambda path: long_csv(path, count=20),
        "BTM_MAX_FILE_BYTES",
        "over the 1.0 kB limit",
        low=1_000,
    ),
    _hostile(
        "csv-past-the-row-limit",
        "projects.csv",
        lambda path: long_csv(path, count=11),
        "BTM_MAX_ROWS",
        "holds more than 10 data rows",
        low=10,
    ),
    _hostile(
        "sheet-past-the-row-limit",
        "risks.xlsx",
        lambda path: long_xlsx(path, count=11),
        "BTM_MAX_ROWS",
        "holds more than 10 data rows",
        low=10,
    ),
    _hostile(
        "csv-past-the-column-limit",
        "projects.csv",
        lambda path: wide_csv(path, columns=30),
        "BTM_MAX_COLUMNS",
        "the header has 30 columns, over the limit of 20",
        low=20,
    ),
    _hostile(
        "sheet-past-the-column-limit",
        "risks.xlsx",
        lambda path: wide_xlsx(path, columns=30),
        "BTM_MAX_COLUMNS",
        "the header has 30 columns, over the limit of 20",
        low=20,
    ),
    _hostile(
        "json-past-the-depth-limit",
        "projects.json",
        lambda path: deep_json(path, depth=65),
        "BTM_MAX_JSON_DEPTH",
        "the JSON nests deeper than 64 levels",
    ),
    _hostile(
        "json-past-the-recursion-limit",
        "projects.json",
        very_deep_json,
        "BTM_MAX_JSON_DEPTH",
        "the JSON nests deeper than 64 levels",
    ),
]


def _validate(*args: str, env: tuple[tuple[str, str], ...] = ()) -> Result:
    """`btm validate` with its output; an exception is a failure whatever the exit code."""
    result = runner.invoke(app, ["validate", *args], env={"COLUMNS": "400", **dict(env)})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    assert "Traceback" not in result.output
    return result


def _run(case: Case, tmp_path: Path, *extra: str) -> Result:
    path = tmp_path / case.file
    case.write(path)
    args = [str(path), *CYCLE, *extra]
    if case.investments:
        args += [
            "--investments",
            str(write_csv(tmp_path / "investments.csv", _valid("investments", 2))),
        ]
    return _validate(*args, env=case.env)


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.id)
def test_a_bad_file_is_explained_by_row_or_column(case: Case, tmp_path: Path) -> None:
    result = _run(case, tmp_path)
    assert result.exit_code == case.exit_code, result.output
    verdict = "would be accepted" if case.exit_code == 0 else "would be quarantined"
    assert f"{tmp_path / case.file}: " in result.stdout and verdict in result.stdout
    for text in case.says:
        assert text in result.stdout, f"{text!r} not in:\n{result.stdout}"


HOSTILE = [case for case in CORPUS if case.limit is not None]


@pytest.mark.parametrize("case", HOSTILE, ids=lambda case: case.id)
def test_a_hostile_file_is_refused_in_one_line(case: Case, tmp_path: Path) -> None:
    result = _run(case, tmp_path)
    assert result.exit_code == 1, result.output
    (problem,) = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert problem.startswith(f"- {tmp_path / case.file}: "), problem
    if case.limit:
        assert f"({case.limit}=" in problem and f"raise {case.limit}" in problem, problem


def test_the_corpus_covers_thirty_bad_files_with_unique_names() -> None:
    assert len(CORPUS) >= 30
    assert len({case.id for case in CORPUS}) == len(CORPUS)


JSON_CASES = [
    "empty",
    "png-named-csv",
    "unknown-status",
    "duplicate-id",
    "day-first-date",
    "html-in-name",
    "investment-not-in-investments-file",
]


@pytest.mark.parametrize("case_id", JSON_CASES)
def test_json_gives_the_verdict_and_each_failure_with_its_fix(case_id: str, tmp_path: Path) -> None:
    case = next(c for c in CORPUS if c.id == case_id)
    result = _run(case, tmp_path, "--json")
    assert result.exit_code == case.exit_code, result.output
    verdict = json.loads(result.stdout)
    assert verdict["accepted"] is (case.exit_code == 0)
    assert {"file", "kind", "accepted", "errors", "warnings"} <= set(verdict)
    if "unreadable" in verdict:
        assert verdict["errors"] == 1 and str(tmp_path / case.file) in verdict["unreadable"]
        return
    failures = verdict["failures"]
    assert failures and verdict["errors"] + verdict["warnings"] == len(failures)
    for failure in failures:
        assert failure["column"] and failure["rows"] and failure["fix"]
    assert [f["severity"] == "critical" for f in failures].count(True) == verdict["errors"]


# Usage errors --------------------------------------------------------------------------


def _projects(tmp_path: Path, name: str = "projects.csv") -> str:
    return str(write_csv(tmp_path / name, _valid("projects")))


def _empty(path: Path) -> str:
    path.write_bytes(b"")
    return str(path)


USAGE_ERRORS: list[tuple[str, Callable[[Path], list[str]], str]] = [
    (
        "unknown-kind",
        lambda tmp: [_projects(tmp), "--kind", "widgets"],
        "unknown evidence kind 'widgets'; known: investments, projects",
    ),
    ("missing-file", lambda tmp: [str(tmp / "projects.csv")], "does not exist"),
    ("directory", lambda tmp: [str(tmp)], "is a directory"),
    (
        "name-without-kind",
        lambda tmp: [_projects(tmp, "export-2026.csv")],
        "cannot tell the evidence kind from the file name; name it <kind>[-<source>].csv",
    ),
    (
        "malformed-cycle",
        lambda tmp: [_projects(tmp), "--cycle", "Q3-2026"],
        "write it as YYYY-Qn",
    ),
    (
        "missing-investments-file",
        lambda tmp: [_projects(tmp), "--investments", str(tmp / "investments.csv")],
        "does not exist",
    ),
    (
        "unreadable-investments-file",
        lambda tmp: [_projects(tmp), "--investments", _empty(tmp / "investments.csv")],
        "investments.csv: the file is empty",
    ),
]


@pytest.mark.parametrize(
    ("args", "message"),
    [pytest.param(args, message, id=id) for id, args, message in USAGE_ERRORS],
)
def test_a_mistake_in_the_command_is_a_usage_error(
    args: Callable[[Path], list[str]], message: str, tmp_path: Path
) -> None:
    result = _validate(*args(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.output


# Quirks of the contract: accepted with nothing to say -----------------------------------


def _quirk_lines(kind: str = "projects", *, sep: str = ",", end: str = "\n") -> Writer:
    return lambda path: path.write_bytes(
        _csv_text(_valid(kind), sep=sep).replace("\n", end).encode("utf-8")
    )


def _bom(path: Path) -> None:
    write_csv(path, _valid("projects"), sep=";", bom=True)


def _quoted(path: Path) -> None:
    records = _valid("projects")
    records[0]["name"] = 'Branch "refresh"; phase 2, part 1\nsecond line\r\nthird line'
    records[1]["sponsor"] = "COO, Retail"
    write_csv(path, records, sep=";")


BOOLEANS = ["true", "FALSE", "Yes", "no", "Y", "n", "1", "0", "True", "NO", "t", "F"]


def _booleans(path: Path) -> None:
    records = _valid("projects", len(BOOLEANS))
    for record, spelling in zip(records, BOOLEANS, strict=True):
        record["architecture_reviewed"] = spelling
    write_csv(path, records)


def _investment_booleans(path: Path) -> None:
    records = _valid("investments", len(BOOLEANS))
    for record, spelling in zip(records, BOOLEANS, strict=True):
        record["business_case"] = spelling
    write_csv(path, records)


def _optional_cells_empty(path: Path) -> None:
    records = _valid("projects")
    empty = ["investment_id", "forecast_end", "actual_end", "budget", "actual_cost"]
    empty += ["percent_complete", "last_status_update", "architecture_reviewed"]
    for record in records:
        record.update(dict.fromkeys(empty, ""))
    records[1].update(status="on_hold", health="")  # health may be empty when not active
    write_csv(path, records)


def _blank_lines_between(path: Path) -> None:
    lines = _csv_text(_valid("projects")).splitlines()
    lines[2:2] = ["", "   ", ",,,", "\t"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _xlsx_with_date_cells(path: Path) -> None:
    header = list(PROJECT)
    table: list[list[Any]] = [header]
    for record in _valid("projects"):
        cells: list[Any] = [record[h] or None for h in header]
        for field in ("planned_start", "planned_end", "forecast_end", "last_status_update"):
            cells[header.index(field)] = datetime.fromisoformat(record[field])
        cells[header.index("budget")] = 500
        cells[header.index("percent_complete")] = 40.0
        cells[header.index("architecture_reviewed")] = True
        table.append(cells)
    table[1][header.index("planned_start")] = 46023  # a date typed as its serial number
    _write_xlsx(path, table)


def _human_headers(path: Path) -> None:
    """Headers as a PPM tool writes them: `Project ID`, `Planned Start`, ..."""
    human = {field: field.replace("_", " ").title().replace(" Id", " ID") for field in PROJECT}
    write_csv(path, [{human[k]: v for k, v in r.items()} for r in _valid("projects")])


QUIRKS: list[tuple[str, str, Writer, int]] = [
    ("byte-order-mark-and-semicolons", "projects.csv", _bom, 3),
    ("tab-delimited", "projects.csv", _quirk_lines(sep="\t"), 3),
    ("pipe-delimited", "projects.csv", _quirk_lines(sep="|"), 3),
    ("crlf", "projects.csv", _quirk_lines(end="\r\n"), 3),
    ("quoted-delimiters-quotes-and-newlines", "projects.csv", _quoted, 3),
    ("booleans-in-every-spelling", "projects.csv", _booleans, len(BOOLEANS)),
    ("investment-booleans", "investments.csv", _investment_booleans, len(BOOLEANS)),
    ("empty-optional-cells", "projects.csv", _optional_cells_empty, 3),
    ("blank-and-space-only-lines", "projects.csv", _blank_lines_between, 3),
    ("xlsx-with-date-cells", "projects.xlsx", _xlsx_with_date_cells, 3),
    ("json-array-export", "projects.json", _json_of(*_valid("projects")), 3),
    (
        "json-object-holding-the-array",
        "projects.json",
        _raw(json.dumps({"issues": _valid("projects"), "warningMessages": []})),
        3,
    ),
    ("human-headers", "projects.csv", _human_headers, 3),
    ("json-surrogate-pair", "projects.json", _json_of({**PROJECT, "name": "\U0001f680"}), 1),
]


@pytest.mark.parametrize(
    ("file", "write", "count"),
    [pytest.param(file, write, count, id=id) for id, file, write, count in QUIRKS],
)
def test_a_quirk_of_real_exports_is_accepted(
    file: str, write: Writer, count: int, tmp_path: Path
) -> None:
    path = tmp_path / file
    write(path)
    result = _validate(str(path), *CYCLE)
    assert result.exit_code == 0, result.output
    assert f"{count} rows: would be accepted" in result.stdout
    said = [line for line in result.stdout.splitlines() if line.startswith("- ")]
    assert all(line.startswith("- not checked:") for line in said), result.stdout


# Known faults outside the reader: strict, so a fix turns them into failures to remove ----


def test_an_unknown_value_is_named_with_its_row(tmp_path: Path) -> None:
    path = _broken("projects", 3, status="in_progress")(tmp_path / "projects.csv")
    result = _validate(str(path), *CYCLE)
    assert "'in_progress'" in result.stdout


def test_an_investments_file_without_ids_is_a_usage_error(tmp_path: Path) -> None:
    investments = write_csv(tmp_path / "investments.csv", [{"name": "x", "status": "active"}])
    result = _validate(_projects(tmp_path), "--investments", str(investments))
    assert result.exit_code == 2 and "investment_id" in result.output


def test_a_file_name_with_brackets_is_printed_as_it_is(tmp_path: Path) -> None:
    path = _projects(tmp_path, "projects-[draft].csv")
    result = _validate(path, *CYCLE)
    assert f"{path}: projects, 3 rows" in result.stdout
