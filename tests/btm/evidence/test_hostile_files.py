"""Hostile evidence files: refused in bounded time and memory, with one line naming the
file, the limit and the setting, in the reader and in a whole cycle.

The builders below write each hostile kind small: the limits are set low for the test
(a workbook inflating to 10 MB against a 1 MB limit), so nothing ever inflates
gigabytes, and the check is shown to come before the reading it guards (openpyxl is
never opened on a zip bomb; pandas never reads past the row limit). The CLI corpus in
tests/btm/test_validate_cli.py uses the same builders.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa
from openpyxl import Workbook

from btm import store
from btm.errors import EvidenceError
from btm.evidence.files import ReadLimits, read_payload
from btm.evidence.gather import evidence_plan
from btm.settings import Settings
from btm.vocabulary import BatchStatus
from tests.factories import rows, write_csv, write_quarter
from tests.pipeline import run_cycle

# lol9 expands to 10^9 "lol"s: 3 GB from a few hundred bytes
LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol0 "lol">'
    + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, 10))
    + "]>"
)


def _workbook_bytes(table: list[list[Any]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    for line in table:
        sheet.append(line)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _rewrite(valid: bytes, path: Path, edit: dict[str, Callable[[str], str]]) -> Path:
    """The workbook `valid` with members changed by `edit` (name -> old text -> new text);
    a member `valid` lacks is added, edited from the empty text."""
    with (
        zipfile.ZipFile(io.BytesIO(valid)) as source,
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        names = source.namelist()
        for name in [*names, *(n for n in edit if n not in names)]:
            content = source.read(name).decode("utf-8") if name in names else ""
            target.writestr(name, edit.get(name, str)(content))
    return path


def _records(kind: str = "risks", count: int = 3) -> list[list[Any]]:
    records = rows(kind, count) if kind != "risks" else _risks(count)
    return [list(records[0]), *(list(r.values()) for r in records)]


def _risks(count: int) -> list[dict[str, str]]:
    """Valid risks of two units, as a register holds them."""
    records = rows("risks", count)
    for i, record in enumerate(records):
        record["business_unit"] = ("Retail", "Wealth")[i % 2]
    return records


SHEET = "xl/worksheets/sheet1.xml"
SHARED = "xl/sharedStrings.xml"
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELATIONS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
SHARED_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"


def billion_laughs_xlsx(path: Path, *, member: str = SHEET) -> Path:
    """A valid workbook whose first data cell is the entity expanding to 10^9 laughs,
    declared in the worksheet's XML or in the shared strings (added for the purpose:
    openpyxl writes its strings inline)."""
    laugh = "<t>&lol9;</t>"
    if member == SHEET:
        edit = {SHEET: lambda xml: LAUGHS + xml.replace("<t>RSK-1</t>", laugh)}
    else:
        edit = {
            SHARED: lambda _: (
                f'{LAUGHS}<sst xmlns="{MAIN}" count="1" uniqueCount="1"><si>{laugh}</si></sst>'
            ),
            "[Content_Types].xml": lambda xml: xml.replace(
                "</Types>", f'<Override PartName="/{SHARED}" ContentType="{SHARED_TYPE}"/></Types>'
            ),
            "xl/_rels/workbook.xml.rels": lambda xml: xml.replace(
                "</Relationships>",
                f'<Relationship Type="{RELATIONS}/sharedStrings" Target="sharedStrings.xml" '
                'Id="rId99"/></Relationships>',
            ),
            SHEET: lambda xml: xml.replace(
                '<c r="A2" t="inlineStr"><is><t>RSK-1</t></is></c>', '<c r="A2" t="s"><v>0</v></c>'
            ),
        }
    return _rewrite(_workbook_bytes(_records()), path, edit)


def inflating_xlsx(path: Path, *, inflated: int = 10_000_000) -> Path:
    """A valid workbook whose first sheet's XML is padded with `inflated` bytes of
    whitespace before its root closes: a zip bomb compressing about 1 000 to 1."""
    return _rewrite(
        _workbook_bytes(_records()),
        path,
        {SHEET: lambda xml: xml.replace("</worksheet>", " " * inflated + "</worksheet>")},
    )


def wide_xlsx(path: Path, *, columns: int) -> Path:
    table = _records()
    table = [[*line, *(f"extra_{i}" for i in range(columns - len(line)))] for line in table]
    path.write_bytes(_workbook_bytes(table))
    return path


def long_xlsx(path: Path, *, count: int) -> Path:
    path.write_bytes(_workbook_bytes(_records(count=count)))
    return path


def long_csv(path: Path, *, count: int, kind: str = "projects") -> Path:
    return write_csv(path, rows(kind, count))


def wide_csv(path: Path, *, columns: int) -> Path:
    records = rows("projects", 3)
    extra = {f"extra_{i}": "x" for i in range(columns - len(records[0]))}
    return write_csv(path, [{**r, **extra} for r in records])


def deep_json(path: Path, *, depth: int) -> Path:
    """Project records whose first one holds a field nested `depth` levels in all."""
    records: list[dict[str, Any]] = list(rows("projects", 3))
    value: Any = "Payments API"
    for _ in range(depth - 2):  # level 1 is the array, level 2 a record
        value = {"part": value}
    records[0]["name"] = value
    path.write_text(json.dumps(records))
    return path


def very_deep_json(path: Path, *, depth: int = 200_000) -> Path:
    """Nesting far past Python's recursion limit, which a recursive reader dies on."""
    path.write_text("[" * depth + "]" * depth)
    return path


# the reader ----------------------------------------------------------------------------


def _refusal(path: Path, limits: ReadLimits, *says: str) -> str:
    with pytest.raises(EvidenceError) as caught:
        read_payload(path, name=str(path), limits=limits)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path}: ")
    for text in says:
        assert text in message, message
    return message


def test_a_billion_laughs_workbook_is_refused_in_either_member(tmp_path: Path) -> None:
    for member in (SHARED, SHEET):
        path = billion_laughs_xlsx(tmp_path / "risks.xlsx", member=member)
        _refusal(path, ReadLimits(), f"{member} in the workbook declares XML entities")


def test_openpyxl_itself_reads_workbooks_through_defusedxml(tmp_path: Path) -> None:
    """The second line of defence, should a workbook get past the reader's own check."""
    from defusedxml import DefusedXmlException

    assert openpyxl.DEFUSEDXML
    for member in (SHARED, SHEET):
        path = billion_laughs_xlsx(tmp_path / "risks.xlsx", member=member)
        with pytest.raises(ValueError) as caught:
            workbook = openpyxl.load_workbook(path, read_only=True)
            list(workbook.worksheets[0].iter_rows(values_only=True))
        refused = caught.value
        assert isinstance(refused, DefusedXmlException) or isinstance(
            refused.__cause__, DefusedXmlException
        )


def test_a_workbook_inflating_past_the_limit_is_refused_before_openpyxl_opens_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = inflating_xlsx(tmp_path / "risks.xlsx")
    assert path.stat().st_size < 100_000  # 10 MB inflated from a few kB
    monkeypatch.setattr(openpyxl, "load_workbook", _never_called)
    limits = ReadLimits(max_xlsx_inflated_bytes=1_000_000, max_xlsx_ratio=10_000)
    _refusal(
        path,
        limits,
        "the workbook inflates to 10.0 MB, over the 1.0 MB limit",
        "(BTM_MAX_XLSX_INFLATED_BYTES=1000000)",
        "raise BTM_MAX_XLSX_INFLATED_BYTES",
    )
    # under the default limits, its compression ratio gives it away
    _refusal(
        path,
        ReadLimits(),
        "xl/worksheets/sheet1.xml inflates",
        "over the limit of 200",
        "(BTM_MAX_XLSX_RATIO=200)",
    )


def _never_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("openpyxl opened a workbook the size check should have refused")


def test_a_file_over_the_byte_limit_is_refused_by_its_size_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = long_csv(tmp_path / "projects.csv", count=20)
    monkeypatch.setattr(Path, "read_bytes", _never_called)
    _refusal(
        path,
        ReadLimits(max_file_bytes=1_000),
        "over the 1.0 kB limit",
        "(BTM_MAX_FILE_BYTES=1000)",
        "raise BTM_MAX_FILE_BYTES",
    )


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("projects.csv", lambda p: long_csv(p, count=11)),
        ("risks.xlsx", lambda p: long_xlsx(p, count=11)),
        ("projects.json", lambda p: p.write_text(json.dumps(rows("projects", 11))) and p),
    ],
)
def test_a_file_past_the_row_limit_is_refused(name: str, build: Any, tmp_path: Path) -> None:
    path = build(tmp_path / name)
    limits = ReadLimits(max_rows=10)
    _refusal(path, limits, "more than 10 data rows", "(BTM_MAX_ROWS=10)", "raise BTM_MAX_ROWS")
    assert len(read_payload(path, name=name, limits=ReadLimits(max_rows=11))) == 11


def test_the_csv_reader_stops_at_the_row_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pandas as pd

    asked: list[int | None] = []
    real = pd.read_csv

    def spy(*args: Any, **kwargs: Any) -> Any:
        asked.append(kwargs.get("nrows"))
        return real(*args, **kwargs)

    monkeypatch.setattr(pd, "read_csv", spy)
    path = long_csv(tmp_path / "projects.csv", count=50)
    _refusal(path, ReadLimits(max_rows=10), "more than 10 data rows")
    assert asked == [12]  # the header, ten rows and the one over


@pytest.mark.parametrize(
    ("name", "build"),
    [
        ("projects.csv", lambda p: wide_csv(p, columns=30)),
        ("risks.xlsx", lambda p: wide_xlsx(p, columns=30)),
    ],
)
def test_a_file_past_the_column_limit_is_refused(name: str, build: Any, tmp_path: Path) -> None:
    path = build(tmp_path / name)
    _refusal(
        path,
        ReadLimits(max_columns=20),
        "the header has 30 columns, over the limit of 20",
        "(BTM_MAX_COLUMNS=20)",
        "raise BTM_MAX_COLUMNS",
    )


def test_json_nested_past_the_depth_limit_is_refused(tmp_path: Path) -> None:
    path = deep_json(tmp_path / "projects.json", depth=65)
    _refusal(path, ReadLimits(), "nests deeper than 64 levels", "(BTM_MAX_JSON_DEPTH=64)")
    assert len(read_payload(path, name="p", limits=ReadLimits(max_json_depth=65))) == 3


def test_json_nested_past_the_recursion_limit_is_refused_with_the_limit(tmp_path: Path) -> None:
    path = very_deep_json(tmp_path / "projects.json")
    assert sys.getrecursionlimit() < 200_000
    _refusal(path, ReadLimits(), "nests deeper than 64 levels", "raise BTM_MAX_JSON_DEPTH")


def test_the_settings_hand_the_readers_their_limits(btm_home: Path, monkeypatch: Any) -> None:
    assert Settings().read_limits == ReadLimits()
    monkeypatch.setenv("BTM_MAX_ROWS", "7")
    monkeypatch.setenv("BTM_MAX_JSON_DEPTH", "9")
    limits = Settings().read_limits
    assert (limits.max_rows, limits.max_json_depth) == (7, 9)


def test_the_default_limits_admit_the_benchmarks_million_rows() -> None:
    limits = ReadLimits()
    assert limits.max_rows >= 1_000_000 and limits.max_file_bytes >= 500_000_000


# a whole cycle -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "says"),
    [
        (billion_laughs_xlsx, "declares XML entities"),
        (inflating_xlsx, "BTM_MAX_XLSX_RATIO"),
    ],
    ids=["billion-laughs", "zip-bomb"],
)
def test_a_hostile_risks_workbook_is_quarantined_and_the_cycle_goes_on(
    build: Any, says: str, engine: sa.Engine, btm_home: Path, tmp_path: Path
) -> None:
    settings = Settings()
    inbox = write_quarter(tmp_path / "inbox", case_share=0.85)
    build(inbox / "risks.xlsx")

    run_cycle("2026-Q1", inbox, engine, settings)

    plan = evidence_plan(engine=engine, cycle_id="2026-Q1")
    (note,) = plan.quarantined
    assert note.source == "risks/risks.xlsx"
    (problem,) = note.problems
    assert says in problem and "risks.xlsx: " in problem
    assert {b.kind for b in plan.batches} == {"investments", "projects"}
    assert all(b.status == BatchStatus.ACCEPTED for b in plan.batches)
    explained = settings.quarantine_dir / "2026-Q1" / "risks" / "risks.xlsx.problems.txt"
    assert says in explained.read_text()

    with store.session_scope(engine) as session:
        scored = {s.unit for s in store.get_scores(session=session, cycle_id="2026-Q1")}
    assert scored == {"Retail", "Wealth"}
