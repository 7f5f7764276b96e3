"""The questionnaire workbook of a self-assessment campaign: written for one respondent,
filled in by them in a spreadsheet, read back as their answers.

The sheet a respondent sees holds who it is for, one row per question with the five
level descriptors, and the Answer and Comment cells, the only cells they can edit (a
drop-down of 1-5 on each answer). A hidden, protected sheet holds the marker: the
invitation the workbook answers and the keys of its questions, in order. Protection only
guards against slips (its password is in this file); reading trusts no cell: it refuses,
naming the file, the cell and the fix, a workbook whose visible respondent cells or
question rows no longer match the marker, an answer that is not a level 1-5, and a
formula anywhere a respondent types. A hostile file is refused before openpyxl opens it,
by the same check as every other workbook of evidence.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from btm.errors import EvidenceError
from btm.evidence.files import check_workbook, not_a_workbook
from btm.evidence.limits import DEFAULT_LIMITS

# openpyxl is imported where a workbook is written or read: importing this module costs
# nothing to a command that never touches a questionnaire.
if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell
    from openpyxl.worksheet.worksheet import Worksheet

    from btm.survey.bank import Question

QUESTIONNAIRE_SHEET = "Questionnaire"
MARKER_SHEET = "btm"
# What the marker's first cell says; the number changes when the layout below does.
FORMAT_FAMILY = "btm-questionnaire/"
FORMAT = f"{FORMAT_FAMILY}1"
# Sheet protection stops a respondent overwriting a question by mistake; it is no secret,
# and reading checks every cell whatever protection the file still has.
PROTECTION_PASSWORD = "btm-questionnaire"

# The visible cells that say whom the workbook is for: (marker field, label, cell).
RESPONDENT_CELLS: tuple[tuple[str, str, str], ...] = (
    ("name", "Respondent", "B4"),
    ("email", "Email", "B5"),
    ("unit", "Business unit", "B6"),
    ("role", "Role", "B7"),
    ("cycle_id", "Cycle", "B8"),
    ("campaign_id", "Campaign", "B9"),
    ("closes_on", "Closes on", "B10"),
)
HEADER_ROW = 12
FIRST_QUESTION_ROW = HEADER_ROW + 1
CAPABILITY_COLUMN = "A"
DIMENSION_COLUMN = "C"
ANSWER_COLUMN = "J"
COMMENT_COLUMN = "K"
# The question table, column by column: (column, header, width).
COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("A", "Capability", 12),
    ("B", "Capability name", 28),
    ("C", "Dimension", 14),
    ("D", "Question", 50),
    ("E", "Level 1", 32),
    ("F", "Level 2", 32),
    ("G", "Level 3", 32),
    ("H", "Level 4", 32),
    ("I", "Level 5", 32),
    ("J", "Answer (1-5)", 13),
    ("K", "Comment", 44),
)
# The marker sheet: a field per row (key in A, value in B), then one row per question.
MARKER_FIELDS = (
    "campaign_id",
    "cycle_id",
    "respondent_id",
    "unit",
    "role",
    "name",
    "email",
    "closes_on",
)
REQUIRED_FIELDS = frozenset({"campaign_id", "cycle_id", "respondent_id", "closes_on"})
QUESTION_KEY = "question"
FIRST_MARKER_QUESTION_ROW = len(MARKER_FIELDS) + 2  # row 1 holds the format

_HEADER_FILL = "1F4E78"
_ANSWER_FILL = "FFF2CC"
_LABEL_FILL = "DDEBF7"


@dataclass(frozen=True)
class Marker:
    """What ties a returned workbook to its invitation."""

    campaign_id: str
    cycle_id: str
    respondent_id: str
    unit: str
    role: str
    name: str
    email: str
    closes_on: date


@dataclass(frozen=True)
class Answer:
    """One question of a returned workbook, as the respondent left it."""

    capability: str
    dimension: str
    score: int | None  # 1..5, None when left blank
    comment: str | None
    cell: str  # where the score is, e.g. "Questionnaire!J13"


@dataclass(frozen=True)
class Returned:
    """A returned questionnaire: its marker and every question, answered or not."""

    marker: Marker
    answers: tuple[Answer, ...]

    @property
    def answered(self) -> tuple[Answer, ...]:
        """The questions given a score (a comment alone is no answer)."""
        return tuple(a for a in self.answers if a.score is not None)


def questionnaire_name(marker: Marker) -> str:
    """The file name a questionnaire is sent under."""
    return f"questionnaire-{marker.cycle_id}-{marker.campaign_id}-{marker.respondent_id}.xlsx"


def write_questionnaire(path: Path, *, marker: Marker, questions: Sequence[Question]) -> Path:
    """Write the questionnaire for `marker`'s respondent at `path` (a folder: in it, under
    `questionnaire_name(marker)`) and return where it is. The file appears whole or not
    at all."""
    from openpyxl import Workbook
    from openpyxl.workbook.protection import WorkbookProtection

    if path.is_dir():
        path = path / questionnaire_name(marker)
    workbook = Workbook()
    sheet = workbook.active
    assert sheet is not None  # a new workbook has its one sheet
    sheet.title = QUESTIONNAIRE_SHEET
    _write_heading(sheet, marker=marker)
    _write_questions(sheet, questions)
    _write_marker(workbook.create_sheet(MARKER_SHEET), marker=marker, questions=questions)
    # a locked structure keeps the marker sheet hidden and the sheets' names as they are
    workbook.security = WorkbookProtection(workbookPassword=PROTECTION_PASSWORD, lockStructure=True)
    workbook.properties.title = f"BTM self-assessment {marker.cycle_id}"
    workbook.properties.subject = f"Self-assessment questionnaire for {marker.email}"
    workbook.properties.identifier = marker.campaign_id
    workbook.properties.keywords = f"{FORMAT} campaign={marker.campaign_id}"
    workbook.properties.creator = "BTM pipeline"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    workbook.save(partial)
    os.replace(partial, path)
    return path


def is_questionnaire(path: Path) -> bool:
    """Whether `path` is a workbook carrying a questionnaire's marker. Never raises: a
    missing, broken or hostile file is simply not one."""
    from openpyxl import load_workbook

    try:
        check_workbook(path, name=path.name, limits=DEFAULT_LIMITS)
        with path.open("rb") as stream:
            workbook = load_workbook(stream, read_only=True, data_only=False)
            try:
                if MARKER_SHEET not in workbook.sheetnames:
                    return False
                rows = workbook[MARKER_SHEET].iter_rows(max_row=1, max_col=2, values_only=True)
                first = next(iter(rows), ())
            finally:
                workbook.close()
    except Exception:  # openpyxl raises many kinds on a broken file; all of them mean no
        return False
    return len(first) == 2 and first[0] == "format" and str(first[1]).startswith(FORMAT_FAMILY)


def read_questionnaire(path: Path, *, name: str) -> Returned:
    """The marker and answers of a returned questionnaire; `name` is how messages call
    the file. Refuses, naming the cell and the fix, anything a respondent could not have
    done by choosing levels and typing comments."""
    from openpyxl import load_workbook

    check_workbook(path, name=name, limits=DEFAULT_LIMITS)
    try:
        with path.open("rb") as stream:
            workbook = load_workbook(stream, read_only=False, data_only=False)
    except Exception as exc:  # openpyxl refuses a broken file with errors of many kinds
        raise not_a_workbook(name, exc) from None
    if MARKER_SHEET not in workbook.sheetnames:
        raise EvidenceError(
            f"{name}: not a BTM questionnaire (it has no {MARKER_SHEET!r} sheet, so no "
            "campaign to answer); fill in and send back the questionnaire file you were "
            "sent, not a copy of its sheet in another workbook"
        )
    if QUESTIONNAIRE_SHEET not in workbook.sheetnames:
        raise EvidenceError(
            f"{name}: the {QUESTIONNAIRE_SHEET!r} sheet is missing or was renamed; give "
            f"the sheet its name {QUESTIONNAIRE_SHEET!r} back, or ask the PMO for a new copy"
        )
    marker, keys = _read_marker(workbook[MARKER_SHEET], name=name)
    sheet = workbook[QUESTIONNAIRE_SHEET]
    _check_respondent_cells(sheet, marker=marker, name=name)
    answers = tuple(
        _read_answer(sheet, row=FIRST_QUESTION_ROW + i, key=key, name=name)
        for i, key in enumerate(keys)
    )
    below = f"{CAPABILITY_COLUMN}{FIRST_QUESTION_ROW + len(keys)}"
    if _text(sheet[below].value):
        # its answer would be dropped unread: the marker lost a question, or the sheet gained one
        raise EvidenceError(
            f"{name}: {QUESTIONNAIRE_SHEET}!{below} holds a question the questionnaire's "
            "marker does not list; the question rows must stay as they were sent: ask the "
            "PMO for a new copy of the questionnaire"
        )
    return Returned(marker=marker, answers=answers)


def _write_heading(sheet: Worksheet, *, marker: Marker) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    sheet["A1"] = "BTM self-assessment questionnaire"
    sheet["A1"].font = Font(bold=True, size=16, color=_HEADER_FILL)
    sheet["A2"] = (
        "For each question, read the five level descriptions and choose, in the Answer "
        "column, the level (1 to 5) that best describes your business unit today. Leave "
        "the answer blank where you cannot judge. A comment is welcome but optional. Only "
        "the Answer and Comment cells can be changed. Save the file under the same name "
        f"and send it back by {marker.closes_on.isoformat()}."
    )
    sheet.merge_cells(f"A2:{COMMENT_COLUMN}2")
    sheet["A2"].alignment = Alignment(wrap_text=True, vertical="top")
    sheet.row_dimensions[2].height = 48
    label_fill = PatternFill("solid", fgColor=_LABEL_FILL)
    for field, label, ref in RESPONDENT_CELLS:
        label_cell = sheet[ref].offset(column=-1)
        label_cell.value = label
        label_cell.font = Font(bold=True)
        label_cell.fill = label_fill
        value = getattr(marker, field)
        if isinstance(value, date):
            sheet[ref] = value
            sheet[ref].number_format = "yyyy-mm-dd"
            sheet[ref].alignment = Alignment(horizontal="left")
        else:
            _put_text(sheet[ref], value)


def _write_questions(sheet: Worksheet, questions: Sequence[Question]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill, Protection
    from openpyxl.worksheet.datavalidation import DataValidation

    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor=_HEADER_FILL)
    for column, header, width in COLUMNS:
        cell = sheet[f"{column}{HEADER_ROW}"]
        cell.value = header
        cell.font = header_font
        cell.fill = header_fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
        sheet.column_dimensions[column].width = width
    wrapped = Alignment(wrap_text=True, vertical="top")
    answer_fill = PatternFill("solid", fgColor=_ANSWER_FILL)
    editable = Protection(locked=False)
    for i, question in enumerate(questions):
        row = FIRST_QUESTION_ROW + i
        texts = (
            question.capability,
            question.capability_name,
            question.dimension,
            question.text,
            *question.descriptors,
        )
        for (column, _, _), text in zip(COLUMNS, texts, strict=False):
            _put_text(sheet[f"{column}{row}"], text)
            sheet[f"{column}{row}"].alignment = wrapped
        for column in (ANSWER_COLUMN, COMMENT_COLUMN):
            cell = sheet[f"{column}{row}"]
            cell.protection = editable
            cell.fill = answer_fill
            cell.alignment = wrapped
        sheet[f"{ANSWER_COLUMN}{row}"].alignment = Alignment(horizontal="center", vertical="top")
    if questions:
        levels = DataValidation(
            type="list",
            formula1='"1,2,3,4,5"',
            allow_blank=True,
            showErrorMessage=True,
            errorStyle="stop",
            errorTitle="Not a level",
            error="Choose a level from 1 to 5 from the list, or leave the answer blank.",
            showInputMessage=True,
            promptTitle="Your answer",
            prompt="The level, 1 to 5, that best describes your business unit today.",
        )
        last = FIRST_QUESTION_ROW + len(questions) - 1
        levels.add(f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW}:{ANSWER_COLUMN}{last}")
        sheet.add_data_validation(levels)
    # the question itself stays in view while the level descriptions scroll past
    sheet.freeze_panes = f"E{FIRST_QUESTION_ROW}"
    _protect(sheet)


def _write_marker(sheet: Worksheet, *, marker: Marker, questions: Sequence[Question]) -> None:
    sheet["A1"] = "format"
    sheet["B1"] = FORMAT
    for row, field in enumerate(MARKER_FIELDS, start=2):
        sheet[f"A{row}"] = field
        value = getattr(marker, field)
        _put_text(sheet[f"B{row}"], value.isoformat() if isinstance(value, date) else value)
    for row, question in enumerate(questions, start=FIRST_MARKER_QUESTION_ROW):
        sheet[f"A{row}"] = QUESTION_KEY
        _put_text(sheet[f"B{row}"], question.key)
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 40
    sheet.sheet_state = "hidden"
    _protect(sheet)


def _protect(sheet: Worksheet) -> None:
    sheet.protection.sheet = True
    sheet.protection.password = PROTECTION_PASSWORD
    # resizing a column or a row to read a long description is harmless
    sheet.protection.formatColumns = False
    sheet.protection.formatRows = False


def _put_text(cell: Cell, text: str) -> None:
    """`text` as text, even when it starts with "=": a name from a respondent list must
    never reach a spreadsheet as a formula."""
    cell.value = text
    cell.data_type = "s"


def _read_marker(sheet: Worksheet, *, name: str) -> tuple[Marker, tuple[str, ...]]:
    if sheet["A1"].value != "format" or sheet["B1"].value != FORMAT:
        raise EvidenceError(
            f"{name}: {MARKER_SHEET}!B1 does not hold {FORMAT!r}: the workbook is not a "
            "questionnaire this version of BTM wrote, or its marker was changed; ask the "
            "PMO for a new copy of the questionnaire"
        )
    fields: dict[str, str] = {}
    for row, field in enumerate(MARKER_FIELDS, start=2):
        if sheet[f"A{row}"].value != field:
            raise _marker_changed(name, f"{MARKER_SHEET}!A{row}", f"the key {field!r}")
        value = _text(sheet[f"B{row}"].value)
        if not value and field in REQUIRED_FIELDS:
            what = f"the {field.replace('_', ' ')}"
            raise _marker_changed(name, f"{MARKER_SHEET}!B{row}", what)
        fields[field] = value
    try:
        closes_on = date.fromisoformat(fields["closes_on"])
    except ValueError:
        row = MARKER_FIELDS.index("closes_on") + 2
        raise _marker_changed(name, f"{MARKER_SHEET}!B{row}", "the closing date") from None
    keys: list[str] = []
    row = FIRST_MARKER_QUESTION_ROW
    while sheet[f"A{row}"].value == QUESTION_KEY:
        key = _text(sheet[f"B{row}"].value)
        if key.count("/") != 1:
            raise _marker_changed(name, f"{MARKER_SHEET}!B{row}", "a question key")
        keys.append(key)
        row += 1
    marker = Marker(
        campaign_id=fields["campaign_id"],
        cycle_id=fields["cycle_id"],
        respondent_id=fields["respondent_id"],
        unit=fields["unit"],
        role=fields["role"],
        name=fields["name"],
        email=fields["email"],
        closes_on=closes_on,
    )
    return marker, tuple(keys)


def _marker_changed(name: str, ref: str, what: str) -> EvidenceError:
    return EvidenceError(
        f"{name}: {ref} should hold {what} of the questionnaire's hidden marker and does "
        "not: the marker was changed; ask the PMO for a new copy of the questionnaire and "
        "fill that in"
    )


def _check_respondent_cells(sheet: Worksheet, *, marker: Marker, name: str) -> None:
    for field, label, ref in RESPONDENT_CELLS:
        value = getattr(marker, field)
        expected = value.isoformat() if isinstance(value, date) else value
        found = _text(sheet[ref].value)
        if found != expected:
            raise EvidenceError(
                f"{name}: {QUESTIONNAIRE_SHEET}!{ref} ({label}) reads {found!r} but the "
                f"questionnaire's marker says {expected!r}; these cells tie the answers to "
                f"the invitation: put {expected!r} back, or ask the PMO for a new copy"
            )


def _read_answer(sheet: Worksheet, *, row: int, key: str, name: str) -> Answer:
    capability, dimension = key.split("/")
    for column, expected in ((CAPABILITY_COLUMN, capability), (DIMENSION_COLUMN, dimension)):
        found = _text(sheet[f"{column}{row}"].value)
        if found != expected:
            raise EvidenceError(
                f"{name}: {QUESTIONNAIRE_SHEET}!{column}{row} reads {found!r} where the "
                f"questionnaire asked about {expected!r} ({key}): the question rows must "
                "stay as they were sent; undo the change, or ask the PMO for a new copy"
            )
    answer = sheet[f"{ANSWER_COLUMN}{row}"]
    comment = sheet[f"{COMMENT_COLUMN}{row}"]
    for cell in (answer, comment):
        if _is_formula(cell):
            raise EvidenceError(
                f"{name}: {QUESTIONNAIRE_SHEET}!{cell.coordinate} holds a formula; an "
                "answer is a level chosen from the list and a comment is plain text: type "
                "the value itself, without a leading '='"
            )
    comment_text = _text(comment.value)
    return Answer(
        capability=capability,
        dimension=dimension,
        score=_score(answer, name=name),
        comment=comment_text or None,
        cell=f"{QUESTIONNAIRE_SHEET}!{answer.coordinate}",
    )


def _score(cell: Cell, *, name: str) -> int | None:
    value = cell.value
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    level: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        level = value
    elif isinstance(value, float) and value.is_integer():
        level = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        # a cell formatted as text keeps the level it was given as text
        level = int(value.strip())
    if level is None or not 1 <= level <= 5:
        raise EvidenceError(
            f"{name}: {QUESTIONNAIRE_SHEET}!{cell.coordinate} holds {_text(value)!r}, not a "
            "level: choose 1-5 from the list in the Answer column, or leave it blank"
        )
    return level


def _is_formula(cell: Cell) -> bool:
    # "- not yet" is a comment: only "=" starts a formula a spreadsheet would run
    return cell.data_type == "f" or (isinstance(cell.value, str) and cell.value.startswith("="))


def _text(value: Any) -> str:
    """A cell's value as the text it shows; a date as an ISO date."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
