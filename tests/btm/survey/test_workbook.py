"""The questionnaire workbook: written locked but for the answers, read back as the
respondent left it, and refused, with the file, the cell and the fix, when a cell a
respondent cannot edit through the spreadsheet was changed or an answer is not a level.
Every workbook is a real file, filled in through openpyxl as a spreadsheet would."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.workbook.workbook import Workbook as OpenWorkbook

from btm.errors import EvidenceError
from btm.survey.bank import Question
from btm.survey.workbook import (
    QUESTIONNAIRE_SHEET,
    Answer,
    Marker,
    is_questionnaire,
    questionnaire_name,
    read_questionnaire,
    write_questionnaire,
)

MARKER = Marker(
    campaign_id="c7f3a9",
    cycle_id="2026-Q3",
    respondent_id="ana-lima-example-com",
    unit="Retail",
    role="business",
    name="Ana Lima",
    email="ana.lima@example.com",
    closes_on=date(2026, 9, 30),
)
DIMENSIONS = ("process", "organization", "information")
LEVELS = ("Disaggregated", "Functional", "Integrated", "Synchronized", "Converged")


def _question(capability: str, name: str, dimension: str) -> Question:
    return Question(
        capability=capability,
        capability_name=name,
        dimension=dimension,
        text=f"How does {name.lower()} work for {dimension} in your unit?",
        descriptors=(
            f"{LEVELS[0]}: each team decides alone on {dimension}.",
            f"{LEVELS[1]}: functions decide on {dimension} in their own silo.",
            f"{LEVELS[2]}: one enterprise practice for {dimension}.",
            f"{LEVELS[3]}: business and technology plan {dimension} together.",
            f"{LEVELS[4]}: {dimension} is one with the business.",
        ),
        roles=("business",),
    )


# rows 13 to 18: MTI-2 process, organization, information; SP-1 the same
QUESTIONS = tuple(
    _question(capability, name, dimension)
    for capability, name in (("MTI-2", "Portfolio Management"), ("SP-1", "Strategic Planning"))
    for dimension in DIMENSIONS
)
ANSWER_CELLS = {f"J{row}" for row in range(13, 19)}
COMMENT_CELLS = {f"K{row}" for row in range(13, 19)}
NAME = "questionnaire.xlsx (from ana.lima@example.com)"


@pytest.fixture
def sent(tmp_path: Path) -> Path:
    return write_questionnaire(
        tmp_path / questionnaire_name(MARKER), marker=MARKER, questions=QUESTIONS
    )


def _fill(path: Path, cells: dict[str, Any]) -> Path:
    """Open `path`, set `cells` of the questionnaire sheet as a respondent would, save."""
    workbook = load_workbook(path)
    sheet = workbook[QUESTIONNAIRE_SHEET]
    for ref, value in cells.items():
        sheet[ref] = value
    workbook.save(path)
    return path


def _edit(path: Path, change: Callable[[OpenWorkbook], None]) -> Path:
    workbook = load_workbook(path)
    change(workbook)
    workbook.save(path)
    return path


def test_the_name_says_cycle_campaign_and_respondent() -> None:
    assert questionnaire_name(MARKER) == "questionnaire-2026-Q3-c7f3a9-ana-lima-example-com.xlsx"


def test_only_the_answer_and_comment_cells_can_be_edited(sent: Path) -> None:
    workbook = load_workbook(sent)
    sheet = workbook[QUESTIONNAIRE_SHEET]
    assert sheet.protection.sheet
    assert sheet.protection.password  # the hash of one: no blank password to guess
    unlocked = {
        cell.coordinate for row in sheet.iter_rows() for cell in row if not cell.protection.locked
    }
    assert unlocked == ANSWER_CELLS | COMMENT_CELLS
    filled = {cell.coordinate for row in sheet.iter_rows() for cell in row if cell.value}
    assert not filled & unlocked  # nothing written into an editable cell
    assert {"A1", "A2", "B4", "D13", "I18"} <= filled
    assert workbook.security is not None and workbook.security.lockStructure


def test_the_answers_offer_the_levels_1_to_5_and_nothing_else(sent: Path) -> None:
    sheet = load_workbook(sent)[QUESTIONNAIRE_SHEET]
    (validation,) = sheet.data_validations.dataValidation
    assert validation.type == "list"
    assert validation.formula1 == '"1,2,3,4,5"'
    assert validation.allow_blank
    assert validation.showErrorMessage and validation.error
    covered = {
        f"{get_column_letter(column)}{row}"
        for cells in validation.sqref.ranges
        for row, column in cells.cells
    }
    assert covered == ANSWER_CELLS


def test_the_sheet_shows_whom_it_is_for_and_each_question_with_its_levels(sent: Path) -> None:
    sheet = load_workbook(sent)[QUESTIONNAIRE_SHEET]
    labels = {sheet[f"A{row}"].value: sheet[f"B{row}"].value for row in range(4, 11)}
    assert labels["Respondent"] == "Ana Lima"
    assert labels["Email"] == "ana.lima@example.com"
    assert labels["Business unit"] == "Retail"
    assert labels["Role"] == "business"
    assert labels["Cycle"] == "2026-Q3"
    assert labels["Campaign"] == "c7f3a9"
    assert labels["Closes on"].date() == date(2026, 9, 30)
    assert "2026-09-30" in sheet["A2"].value
    header = [sheet.cell(12, column).value for column in range(1, 12)]
    assert header[:4] == ["Capability", "Capability name", "Dimension", "Question"]
    assert header[9:] == ["Answer (1-5)", "Comment"]
    row = [sheet.cell(17, column).value for column in range(1, 10)]
    assert row[:3] == ["SP-1", "Strategic Planning", "organization"]
    assert row[4:] == list(QUESTIONS[4].descriptors)
    assert all(sheet.cell(17, column).alignment.wrap_text for column in range(5, 10))
    assert sheet.freeze_panes == "E13"
    assert sheet.column_dimensions["D"].width > sheet.column_dimensions["A"].width


def test_the_marker_is_hidden_in_the_workbook_and_in_its_properties(sent: Path) -> None:
    workbook = load_workbook(sent)
    assert workbook.sheetnames == [QUESTIONNAIRE_SHEET, "btm"]
    marker = workbook["btm"]
    assert marker.sheet_state == "hidden"
    assert marker.protection.sheet
    values = {marker[f"A{row}"].value: marker[f"B{row}"].value for row in range(1, 10)}
    assert values["campaign_id"] == "c7f3a9"
    assert values["respondent_id"] == "ana-lima-example-com"
    keys = [marker[f"B{row}"].value for row in range(10, 16)]
    assert keys == [q.key for q in QUESTIONS]
    assert workbook.properties.identifier == "c7f3a9"
    assert "c7f3a9" in (workbook.properties.keywords or "")


def test_a_text_starting_with_equals_is_written_as_text(tmp_path: Path) -> None:
    marker = Marker(**{**MARKER.__dict__, "name": '=HYPERLINK("http://evil.example","x")'})
    path = write_questionnaire(tmp_path, marker=marker, questions=QUESTIONS)
    assert path == tmp_path / questionnaire_name(marker)
    cell = load_workbook(path)[QUESTIONNAIRE_SHEET]["B4"]
    assert cell.data_type == "s"
    assert read_questionnaire(path, name=NAME).marker == marker


def test_the_answers_are_read_back_with_their_cells(sent: Path) -> None:
    _fill(
        sent, {"J13": 3, "J14": 4, "K14": "- not yet agreed", "J16": "2", "K17": "unsure", "J18": 5}
    )
    returned = read_questionnaire(sent, name=NAME)
    assert returned.marker == MARKER
    assert returned.answers == (
        Answer("MTI-2", "process", 3, None, "Questionnaire!J13"),
        Answer("MTI-2", "organization", 4, "- not yet agreed", "Questionnaire!J14"),
        Answer("MTI-2", "information", None, None, "Questionnaire!J15"),
        Answer("SP-1", "process", 2, None, "Questionnaire!J16"),
        Answer("SP-1", "organization", None, "unsure", "Questionnaire!J17"),
        Answer("SP-1", "information", 5, None, "Questionnaire!J18"),
    )
    assert [a.cell for a in returned.answered] == [
        "Questionnaire!J13",
        "Questionnaire!J14",
        "Questionnaire!J16",
        "Questionnaire!J18",
    ]


def test_a_questionnaire_left_blank_has_every_question_and_no_answer(sent: Path) -> None:
    returned = read_questionnaire(sent, name=NAME)
    assert len(returned.answers) == len(QUESTIONS)
    assert returned.answered == ()


def _set(sheet: str, ref: str, value: Any) -> Callable[[OpenWorkbook], None]:
    def change(workbook: OpenWorkbook) -> None:
        workbook[sheet][ref] = value

    return change


def _text(ref: str, value: str) -> Callable[[OpenWorkbook], None]:
    """`value` stored as text even though it starts with "=", as a pasted one may be."""

    def change(workbook: OpenWorkbook) -> None:
        cell = workbook[QUESTIONNAIRE_SHEET][ref]
        cell.value = value
        cell.data_type = "s"

    return change


def _delete_row(row: int) -> Callable[[OpenWorkbook], None]:
    def change(workbook: OpenWorkbook) -> None:
        workbook[QUESTIONNAIRE_SHEET].delete_rows(row)

    return change


Q = QUESTIONNAIRE_SHEET
TAMPERING: dict[str, tuple[Callable[[OpenWorkbook], None], str, str]] = {
    # an answer that is no level
    "seven": (_set(Q, "J14", 7), "Questionnaire!J14", "choose 1-5 from the list"),
    "zero": (_set(Q, "J13", 0), "Questionnaire!J13", "choose 1-5 from the list"),
    "two and a half": (_set(Q, "J15", 2.5), "Questionnaire!J15", "choose 1-5 from the list"),
    "a word": (_set(Q, "J16", "three"), "Questionnaire!J16", "choose 1-5 from the list"),
    "a boolean": (_set(Q, "J17", True), "Questionnaire!J17", "choose 1-5 from the list"),
    # formulas where a respondent types
    "answer formula": (_set(Q, "J18", "=1+2"), "Questionnaire!J18", "formula"),
    "comment formula": (_set(Q, "K13", '=HYPERLINK("x")'), "Questionnaire!K13", "formula"),
    "comment as =text": (_text("K15", "=cmd|' /C calc'!A0"), "Questionnaire!K15", "formula"),
    # the respondent cells no longer match the invitation
    "campaign changed": (_set(Q, "B9", "other"), "Questionnaire!B9", "'c7f3a9'"),
    "email cleared": (_set(Q, "B5", None), "Questionnaire!B5", "ana.lima@example.com"),
    "closing date moved": (_set(Q, "B10", date(2026, 12, 31)), "Questionnaire!B10", "2026-09-30"),
    "cycle changed": (_set(Q, "B8", "2026-Q4"), "Questionnaire!B8", "'2026-Q3'"),
    "hidden campaign changed": (_set("btm", "B2", "forged"), "Questionnaire!B9", "'forged'"),
    # the question rows
    "capability changed": (_set(Q, "A16", "MTI-3"), "Questionnaire!A16", "SP-1"),
    "dimension changed": (_set(Q, "C14", "technology"), "Questionnaire!C14", "organization"),
    "row removed": (_delete_row(14), "Questionnaire!C14", "organization"),
    "last row removed": (_delete_row(18), "Questionnaire!A18", "SP-1"),
    # the hidden marker itself
    "format cleared": (_set("btm", "B1", None), "btm!B1", "new copy"),
    "marker key renamed": (_set("btm", "A3", "cycle"), "btm!A3", "new copy"),
    "closing date garbled": (_set("btm", "B9", "soon"), "btm!B9", "new copy"),
    "respondent id cleared": (_set("btm", "B4", None), "btm!B4", "new copy"),
    "question key dropped": (_set("btm", "A15", None), "Questionnaire!A18", "does not list"),
    "a level in another script": (_set(Q, "J13", "३"), "Questionnaire!J13", "choose 1-5"),
}


@pytest.mark.parametrize("case", TAMPERING, ids=list(TAMPERING))
def test_a_tampered_or_mistaken_cell_is_refused_by_its_address(sent: Path, case: str) -> None:
    change, cell, fix = TAMPERING[case]
    _edit(sent, change)
    with pytest.raises(EvidenceError) as refused:
        read_questionnaire(sent, name=NAME)
    message = str(refused.value)
    assert message.startswith(f"{NAME}: {cell} ")
    assert fix in message
    assert "\n" not in message


def test_a_level_typed_as_text_or_as_a_whole_float_is_read(sent: Path) -> None:
    _fill(sent, {"J13": " 4 ", "J14": 2.0})
    scores = [a.score for a in read_questionnaire(sent, name=NAME).answered]
    assert scores == [4, 2]


def test_a_workbook_without_the_marker_is_not_a_questionnaire(tmp_path: Path) -> None:
    path = _plain_workbook(tmp_path / "risks.xlsx")
    assert not is_questionnaire(path)
    with pytest.raises(EvidenceError, match=r"^risks\.xlsx: not a BTM questionnaire .*'btm'"):
        read_questionnaire(path, name="risks.xlsx")


def test_a_renamed_questionnaire_sheet_is_refused(sent: Path) -> None:
    def rename(workbook: OpenWorkbook) -> None:
        workbook[QUESTIONNAIRE_SHEET].title = "Answers"

    _edit(sent, rename)
    assert is_questionnaire(sent)  # still ours: reading says what is wrong
    with pytest.raises(EvidenceError, match="'Questionnaire' sheet is missing or was renamed"):
        read_questionnaire(sent, name=NAME)


def test_a_file_that_is_no_workbook_is_refused_and_is_not_a_questionnaire(tmp_path: Path) -> None:
    text = tmp_path / "answers.xlsx"
    text.write_text("capability,score\nMTI-2,3\n", encoding="utf-8")
    assert not is_questionnaire(text)
    assert not is_questionnaire(tmp_path / "missing.xlsx")
    with pytest.raises(EvidenceError, match=r"^answers\.xlsx: not a readable XLSX workbook"):
        read_questionnaire(text, name="answers.xlsx")


def test_a_zip_that_is_no_workbook_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "archive.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("notes.txt", "hello")
    assert not is_questionnaire(path)
    with pytest.raises(EvidenceError, match=r"^archive\.xlsx: not a readable XLSX workbook"):
        read_questionnaire(path, name="archive.xlsx")


def test_a_hostile_questionnaire_is_refused_before_it_is_opened(sent: Path) -> None:
    entities = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
    raw = sent.read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as source, zipfile.ZipFile(sent, "w") as target:
        for member in source.infolist():
            body = source.read(member)
            if member.filename == "xl/workbook.xml":
                # openpyxl writes no XML declaration: the prolog is the start
                body = entities.encode("utf-8") + body
            target.writestr(member, body)
    assert not is_questionnaire(sent)
    with pytest.raises(EvidenceError, match="declares XML entities"):
        read_questionnaire(sent, name=NAME)


def test_a_written_questionnaire_is_one(sent: Path) -> None:
    assert is_questionnaire(sent)
    _fill(sent, {"J13": 1})
    assert is_questionnaire(sent)  # and still is once answered and saved again


def _plain_workbook(path: Path) -> Path:
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet.append(["Risk ID", "Title"])
    sheet.append(["R-1", "Vendor lock-in"])
    workbook.save(path)
    return path
