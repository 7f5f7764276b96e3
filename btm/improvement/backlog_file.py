"""The design phase's backlog as a file the PMO reviews, edits and imports back.

`write_backlog` exports a cycle's initiatives, in rank order, as CSV or YAML;
`read_backlog` reads the edited file back into `InitiativeEdit`s, checking every row
against the catalogue, the cycle's stored initiatives and the known projects, and refuses
the whole file, listing every problem by row and column, when any row is wrong.

Both formats carry the columns of `COLUMNS`, in that order. The PMO may edit `owner`,
`target_level` (1 to 5, above the initiative's current level), `due_cycle` (a later
quarter), `linked_projects` (project ids), `status`, `approver`, `cost_estimate`,
`effort_days` (person-days), `expected_gain` (levels) and `rank` (1 = first; may be left
empty). A status is the PMO's decision: approved, deferred or dropped, each with
`decided_by` and `decision_reason` (who and why; written empty on export, since they
belong to the change). Done and overdue are the review's, never written by hand.
`id`, `priority`, `capability`, `dimension`, `level`, `title`, `guidance` and
`priority_basis` are shown for context and ignored on import, except that a row's
capability and dimension must still be its initiative's. The decision and estimate
columns may be left out: the stored values then stay. A row with an empty id
adds an initiative: it gives capability, dimension, target_level, owner and due_cycle,
and its status, when empty, is proposed. One initiative per capability x dimension in a
cycle. To drop an initiative, set its status to dropped rather than deleting its row.

CSV: UTF-8 with a byte-order mark (so that Excel opens it as UTF-8), comma-delimited, a
header row; linked_projects are joined by "; " and guidance by " | ". Read back, the
file may be comma- or semicolon-delimited (Excel saves `;` where the decimal comma is
the custom), with or without the mark, its columns in any order and headers in any case
(`Target Level` reads as target_level); the context columns may be left out, and
columns the backlog does not have (a PMO's notes) are ignored. Linked projects may be
split by `;`, `,` or spaces. Rows are numbered as a spreadsheet shows them: the header is
row 1.

YAML: a mapping `{cycle: <cycle id>, initiatives: [...]}` under a comment that explains
the above, or a bare list of initiatives; linked_projects and guidance are lists.
Initiatives are numbered from 1 in the order of the list, and a field an entry leaves
out reads as empty.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from btm import store
from btm.errors import BtmError, ConfigurationError
from btm.evidence.files import canonical_header
from btm.fiscal import FiscalCalendar
from btm.vocabulary import InitiativeStatus

COLUMNS = (
    "id",
    "rank",
    "priority",
    "capability",
    "dimension",
    "level",
    "target_level",
    "owner",
    "due_cycle",
    "linked_projects",
    "status",
    "decided_by",
    "decision_reason",
    "approver",
    "cost_estimate",
    "effort_days",
    "expected_gain",
    "title",
    "guidance",
    "priority_basis",
)
ESTIMATES = ("approver", "cost_estimate", "effort_days", "expected_gain")
DECISION = ("decided_by", "decision_reason")
EDITABLE = (
    "owner",
    "target_level",
    "due_cycle",
    "linked_projects",
    "status",
    *DECISION,
    *ESTIMATES,
    "rank",
)
CONTEXT_ONLY = ("priority", "level", "title", "guidance", "priority_basis")
OPTIONAL = (*CONTEXT_ONLY, *DECISION, *ESTIMATES)  # a file without them still imports
REQUIRED = tuple(c for c in COLUMNS if c not in OPTIONAL)
STATUSES = tuple(InitiativeStatus)
DECISIONS = tuple(s for s in InitiativeStatus if s.decided_by_pmo)
WRITABLE = (InitiativeStatus.PROPOSED, *DECISIONS)  # done and overdue are the review's
FORMATS = (".csv", ".yaml", ".yml")
PROJECT_JOINER = "; "
GUIDANCE_JOINER = " | "
_PROJECT_SPLIT = re.compile(r"[;,\s]+")
_WHOLE = re.compile(r"[+-]?\d+")
_QUOTED = re.compile(r'"[^"]*(?:"|$)')


class InitiativeFileError(BtmError):
    """A backlog file cannot be written, or read back: every problem, one per line."""

    def __init__(self, path: Path, problems: Sequence[str]) -> None:
        self.path = path
        self.problems = tuple(problems)
        if len(self.problems) == 1:
            message = f"{path}: {self.problems[0]}"
        else:
            lines = "\n".join(f"  {p}" for p in self.problems)
            message = f"{path}: {len(self.problems)} problems; nothing was imported\n{lines}"
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        # the default would call the class with the message alone (Prefect pickles errors)
        return (type(self), (self.path, self.problems))


@dataclass(frozen=True)
class InitiativeEdit:
    """One row of an imported backlog: an edit of a stored initiative, or (id None) a new
    one. `row` is where it was in the file: the spreadsheet row for CSV, the 1-based
    position in the list for YAML."""

    id: str | None
    capability: str
    dimension: str
    target_level: int
    owner: str
    due_cycle: str
    linked_projects: tuple[str, ...]
    status: str
    rank: int | None
    row: int
    approver: str | None = None
    cost_estimate: float | None = None
    effort_days: float | None = None
    expected_gain: float | None = None
    decided_by: str = ""
    decision_reason: str = ""

    def decides(self, stored: store.Initiative | None) -> bool:
        """True when the row changes the initiative's status (or adds it decided)."""
        before = stored.status if stored is not None else InitiativeStatus.PROPOSED
        return self.status != before


@dataclass(frozen=True)
class BacklogContext:
    """What a backlog file is checked against."""

    cycle_id: str
    calendar: FiscalCalendar
    levels: Sequence[int]  # the catalogue's levels, lowest first
    capabilities: Mapping[str, str]  # id -> name, from the catalogue
    dimensions: Sequence[str]
    existing: Mapping[str, store.Initiative]  # the cycle's initiatives by id
    known_projects: frozenset[str] | None = None  # None: links are not checked


# writing ------------------------------------------------------------------------------


def write_backlog(
    initiatives: Sequence[store.Initiative], path: Path, *, cycle_id: str | None = None
) -> None:
    """Write the backlog of `cycle_id` (by default, the one cycle the initiatives belong
    to), in rank order, as CSV or YAML by the path's suffix."""
    writer = _WRITERS.get(path.suffix.lower())
    if writer is None:
        raise InitiativeFileError(
            path,
            [
                f"cannot write a backlog as {path.suffix or 'a file without suffix'!r}; "
                f"name the file {_either(FORMATS)}"
            ],
        )
    cycles = sorted({i.cycle_id for i in initiatives})
    if cycle_id is None and len(cycles) == 1:
        cycle_id = cycles[0]
    elsewhere = sorted({i.cycle_id for i in initiatives if not i.in_backlog_of(cycle_id or "")})
    if initiatives and elsewhere:
        raise InitiativeFileError(
            path,
            [
                f"the initiatives belong to the backlogs of cycles {', '.join(elsewhere)}"
                f"{f' as well as {cycle_id}' if cycle_id else ''}; a backlog file holds one "
                "cycle's backlog: export each cycle to its own file"
            ],
        )
    ordered = sorted(initiatives, key=lambda i: (i.rank, i.id))
    content = writer([_fields(i) for i in ordered], cycle_id)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # the byte-order mark tells Excel the CSV is UTF-8, where it would assume ANSI
        encoding = "utf-8-sig" if path.suffix.lower() == ".csv" else "utf-8"
        path.write_text(content, encoding=encoding, newline="")
    except OSError as exc:
        raise InitiativeFileError(
            path, [f"cannot write ({exc.strerror}); check that the folder is writable"]
        ) from exc


def _fields(initiative: store.Initiative) -> dict[str, Any]:
    return {
        "id": initiative.id,
        "rank": initiative.rank,
        "priority": _rounded(initiative.priority),
        "capability": initiative.capability,
        "dimension": initiative.dimension,
        "level": _rounded(initiative.level),
        "target_level": initiative.target_level,
        "owner": initiative.owner,
        "due_cycle": initiative.due_cycle,
        "linked_projects": list(initiative.linked_projects),
        "status": initiative.status,
        "decided_by": None,
        "decision_reason": None,
        "approver": initiative.approver,
        "cost_estimate": initiative.cost_estimate,
        "effort_days": initiative.effort_days,
        "expected_gain": initiative.expected_gain,
        "title": initiative.title,
        "guidance": list(initiative.guidance),
        "priority_basis": initiative.priority_basis,
    }


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _csv_text(rows: list[dict[str, Any]], _cycle: str | None) -> str:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        cells = {
            **row,
            "linked_projects": PROJECT_JOINER.join(row["linked_projects"]),
            "guidance": GUIDANCE_JOINER.join(row["guidance"]),
        }
        writer.writerow([_csv_cell(cells[c]) for c in COLUMNS])
    return buffer.getvalue()


def _yaml_header(cycle: str | None) -> str:
    of = f" of cycle {cycle}" if cycle else ""
    return f"""\
# The improvement backlog{of}: review it, edit it and import it back.
#
# Per initiative you may edit:
#   owner            the person accountable
#   target_level     1 to 5, above the initiative's current level
#   due_cycle        a later quarter, e.g. 2026-Q4
#   linked_projects  a list of project ids of the latest accepted evidence
#   status           your decision: approved, deferred or dropped (or proposed)
#   decided_by       who decided, when the status changes
#   decision_reason  why, when the status changes
#   approver         who approves it (its sponsor)
#   cost_estimate    the estimated cost, in currency
#   effort_days      the estimated effort in person-days (weighs on the priority)
#   expected_gain    the levels it is expected to lift the cell by (weighs on it too)
#   rank             1 = first; may be left empty
# done and overdue are set by the review at each scoring. id, priority, capability,
# dimension, level, title, guidance and priority_basis are shown for context and
# ignored on import (capability and dimension must stay the initiative's own).
# To add an initiative, add an entry with an empty id giving capability, dimension,
# target_level, owner and due_cycle (status defaults to proposed); one initiative per
# capability and dimension. To drop one, set its status to dropped: keep its entry.
"""


def _yaml_text(rows: list[dict[str, Any]], cycle: str | None) -> str:
    body = yaml.safe_dump(
        {"cycle": cycle, "initiatives": rows},
        sort_keys=False,
        allow_unicode=True,
        default_flow_style=False,
    )
    return _yaml_header(cycle) + body


_WRITERS: dict[str, Callable[[list[dict[str, Any]], str | None], str]] = {
    ".csv": _csv_text,
    ".yaml": _yaml_text,
    ".yml": _yaml_text,
}


# reading: the file into entries ---------------------------------------------------------


@dataclass(frozen=True)
class _Entry:
    """One initiative as the file gives it, before any check: raw values by column."""

    row: int
    values: Mapping[str, Any]
    yaml: bool = False
    problems: tuple[str, ...] = ()  # found while reading the file, before the checks
    readable: bool = True  # False: its values are not where they belong, so not checked

    def place(self) -> str:
        return f"{'initiative' if self.yaml else 'row'} {self.row}"

    def also(self, other: int) -> str:
        """Where else a value was given, for a duplicate."""
        return f"also given by initiative {other}" if self.yaml else f"also on row {other}"

    def problem(self, column: str, text: str) -> str:
        return f"{self.place()}, {'field' if self.yaml else 'column'} {column}: {text}"


def problem_at(path: Path, row: int, column: str, text: str) -> str:
    """A problem of one initiative of the file, placed as the reader places its own: a
    spreadsheet row and column for CSV, an initiative and field for YAML."""
    yaml = path.suffix.lower() in (".yaml", ".yml")
    return _Entry(row=row, values={}, yaml=yaml).problem(column, text)


def read_backlog(path: Path, context: BacklogContext) -> list[InitiativeEdit]:
    """The edits a PMO's backlog file asks for, or an InitiativeFileError listing every
    problem of the file when there is any."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise InitiativeFileError(
            path,
            [
                f"cannot read a backlog from {suffix or 'a file without suffix'!r}; "
                f"export it as {_either(FORMATS)}"
            ],
        )
    text = _text_of(path, csv_rows=suffix == ".csv")
    entries = _csv_entries(text, path) if suffix == ".csv" else _yaml_entries(text, path, context)
    edits, problems = _check(entries, context)
    if problems:
        raise InitiativeFileError(path, problems)
    return edits


def _text_of(path: Path, *, csv_rows: bool) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InitiativeFileError(path, [f"cannot read ({exc.strerror}); check the path"]) from exc
    if not raw.strip():
        raise InitiativeFileError(path, ["the file is empty; export the backlog again"])
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        before = exc.object[: exc.start].decode("utf-8")
        lines = (_QUOTED.sub("", before) if csv_rows else before).count("\n")
        where = f"row {lines + 1}" if csv_rows else f"line {lines + 1}"
        save_as = "in Excel, save as 'CSV UTF-8'" if csv_rows else "save it as UTF-8"
        raise InitiativeFileError(path, [f"{where} is not valid UTF-8 text; {save_as}"]) from None


def _delimiter(header_line: str) -> str:
    """`;` when the header uses more of it than commas (quoted names do not count)."""
    unquoted = _QUOTED.sub("", header_line)
    return ";" if unquoted.count(";") > unquoted.count(",") else ","


def _blank(cells: Iterable[Any]) -> bool:
    return all(_text(cell) == "" for cell in cells)


def _csv_entries(text: str, path: Path) -> list[_Entry]:
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    try:
        # each record is one spreadsheet row, a quoted multi-line cell included
        records = list(csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line)))
    except csv.Error as exc:
        raise InitiativeFileError(
            path, [f"not readable as CSV ({exc}); check the quoting"]
        ) from None
    header_at = next((i for i, cells in enumerate(records) if not _blank(cells)), None)
    if header_at is None:
        raise InitiativeFileError(path, ["the file is empty; export the backlog again"])
    header = [canonical_header(name) for name in records[header_at]]
    header_row = header_at + 1
    _check_header(header, header_row, path)
    entries = []
    for row, cells in enumerate(records[header_at + 1 :], start=header_row + 1):
        if _blank(cells):
            continue
        values = dict(zip(header, cells, strict=False))
        if len(cells) > len(header) and not _blank(cells[len(header) :]):
            overflow = (
                f"row {row}: has {len(cells)} cells but the header has {len(header)}; "
                "check that row's delimiters and quoting"
            )
            entries.append(_Entry(row, values, problems=(overflow,), readable=False))
        else:
            entries.append(_Entry(row, values))
    return entries


def _check_header(header: list[str], row: int, path: Path) -> None:
    problems = []
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        problems.append(
            f"row {row}: column {', '.join(twice)} appears more than once; keep one of each"
        )
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        hints = [
            f"{found!r} may be meant for {c}"
            for c in missing
            if (found := _closest(c, [h for h in header if h not in COLUMNS], cutoff=0.75))
        ]
        meant = f" ({', '.join(hints)})" if hints else ""
        problems.append(
            f"row {row}: missing column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}{meant}; a backlog's columns are {', '.join(COLUMNS)}, "
            f"of which {', '.join(OPTIONAL)} may be left out"
        )
    if problems:
        raise InitiativeFileError(path, problems)


def _yaml_entries(text: str, path: Path, context: BacklogContext) -> list[_Entry]:
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InitiativeFileError(path, [f"not valid YAML: {exc}"]) from None
    shape = (
        "expected a mapping with `cycle:` and an `initiatives:` list, or a list of "
        "initiatives; export the backlog again to see the layout"
    )
    if isinstance(document, Mapping):
        cycle = document.get("cycle")
        if cycle is not None and str(cycle).strip() != context.cycle_id:
            raise InitiativeFileError(
                path,
                [
                    f"cycle: the file is the backlog of {cycle} but this import is for "
                    f"{context.cycle_id}; import it into {cycle}, or export the "
                    f"{context.cycle_id} backlog and edit that"
                ],
            )
        if "initiatives" not in document:
            raise InitiativeFileError(path, [shape])
        items = document["initiatives"] or []
    else:
        items = document
    if not isinstance(items, list):
        raise InitiativeFileError(path, [shape])
    entries = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            not_mapping = (
                f"initiative {number}: is not a mapping; write it as `- id: ...` with one "
                "`field: value` per line"
            )
            entries.append(_Entry(number, {}, yaml=True, problems=(not_mapping,), readable=False))
            continue
        values = {str(key): value for key, value in item.items()}
        entry = _Entry(number, values, yaml=True)
        misspelt = tuple(
            entry.problem(key, f"unknown field; did you mean {meant}?")
            for key in values
            if key not in COLUMNS and (meant := _closest(key, COLUMNS, cutoff=0.75))
        )
        entries.append(_Entry(number, values, yaml=True, problems=misspelt))
    return entries


# reading: checking the entries ----------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One entry after the checks of its own values: None where one is missing or wrong."""

    entry: _Entry
    id: str | None  # a stored initiative's id
    new: bool  # no id given (a row with an unknown id is neither new nor stored)
    capability: str | None
    dimension: str | None
    target_level: int | None
    owner: str | None
    due_cycle: str | None
    linked_projects: tuple[str, ...]
    status: str | None
    rank: int | None
    estimates: Estimates

    def edit(self) -> InitiativeEdit | None:
        if (
            self.capability is None
            or self.dimension is None
            or self.target_level is None
            or self.owner is None
            or self.due_cycle is None
            or self.status is None
        ):
            return None
        return InitiativeEdit(
            id=self.id,
            capability=self.capability,
            dimension=self.dimension,
            target_level=self.target_level,
            owner=self.owner,
            due_cycle=self.due_cycle,
            linked_projects=self.linked_projects,
            status=self.status,
            rank=self.rank,
            row=self.entry.row,
            approver=self.estimates.approver,
            cost_estimate=self.estimates.cost_estimate,
            effort_days=self.estimates.effort_days,
            expected_gain=self.estimates.expected_gain,
            decided_by=self.estimates.decided_by,
            decision_reason=self.estimates.decision_reason,
        )


@dataclass(frozen=True)
class Estimates:
    """A row's approver, estimates and decision: the stored values where a column is
    left out of the file."""

    approver: str | None
    cost_estimate: float | None
    effort_days: float | None
    expected_gain: float | None
    decided_by: str
    decision_reason: str


@dataclass
class _Taken:
    """What earlier rows took: an id, a rank and a capability x dimension are one row's."""

    ids: dict[str, int] = field(default_factory=dict)
    ranks: dict[int, int] = field(default_factory=dict)
    cells: dict[tuple[str, str], int] = field(default_factory=dict)


def _check(
    entries: list[_Entry], context: BacklogContext
) -> tuple[list[InitiativeEdit], list[str]]:
    edits: list[InitiativeEdit] = []
    problems: list[str] = []
    taken = _Taken()
    stored_cells = {(i.capability, i.dimension): i.id for i in context.existing.values()}
    for entry in entries:
        found = list(entry.problems)
        if not entry.readable:
            problems.extend(found)
            continue
        row = _RowCheck(entry, context, found).row()
        _check_taken(row, taken, stored_cells, found)
        problems.extend(found)
        if not found and (edit := row.edit()) is not None:
            edits.append(edit)
    return edits, problems


def _check_taken(
    row: _Row,
    taken: _Taken,
    stored_cells: Mapping[tuple[str, str], str],
    found: list[str],
) -> None:
    entry = row.entry
    if row.id is not None:
        if (other := taken.ids.get(row.id)) is not None:
            found.append(
                entry.problem("id", f"{row.id} is {entry.also(other)}; keep one row per initiative")
            )
            return  # its rank and cell are the other row's, not taken twice
        taken.ids[row.id] = entry.row
    if row.rank is not None:
        if (other := taken.ranks.get(row.rank)) is not None:
            found.append(
                entry.problem(
                    "rank",
                    f"rank {row.rank} is {entry.also(other)}; give each initiative "
                    "its own rank, or leave rank empty",
                )
            )
        else:
            taken.ranks[row.rank] = entry.row
    if row.capability is None or row.dimension is None:
        return
    cell = (row.capability, row.dimension)
    named = f"{row.capability} x {row.dimension}"
    stored = stored_cells.get(cell)
    if row.new and stored is not None:
        found.append(
            entry.problem(
                "capability and dimension",
                f"{named} already has initiative {stored}; edit its row (id {stored}) "
                "instead of adding one",
            )
        )
    elif (other := taken.cells.get(cell)) is not None:
        found.append(
            entry.problem(
                "capability and dimension",
                f"{named} is {entry.also(other)}; a cycle has one initiative per "
                "capability and dimension: keep one of the rows",
            )
        )
    else:
        taken.cells[cell] = entry.row


class _RowCheck:
    """The checks of one entry's own values; each appends what is wrong to `found`."""

    @property
    def _range(self) -> str:
        levels = self.context.levels
        return f"from {levels[0]} to {levels[-1]}"

    def __init__(self, entry: _Entry, context: BacklogContext, found: list[str]) -> None:
        self.entry = entry
        self.context = context
        self.found = found
        given_id = _text(entry.values.get("id"))
        self.new = not given_id
        self.stored = self._stored(given_id) if given_id else None

    def row(self) -> _Row:
        # problems are listed in the order of these checks
        capability, dimension = self._capability(), self._dimension()
        target_level, owner = self._target_level(), self._owner()
        due_cycle, linked_projects = self._due_cycle(), self._linked_projects()
        status = self._status()
        self._check_reapproval(status, due_cycle)
        return _Row(
            entry=self.entry,
            id=self.stored.id if self.stored is not None else None,
            new=self.new,
            capability=capability,
            dimension=dimension,
            target_level=target_level,
            owner=owner,
            due_cycle=due_cycle,
            linked_projects=linked_projects,
            status=status,
            rank=self._rank(),
            estimates=self._estimates(status),
        )

    def _check_reapproval(self, status: str | None, due_cycle: str | None) -> None:
        """An overdue initiative approved again is given a later due cycle."""
        stored = self.stored
        if (
            stored is not None
            and stored.status == InitiativeStatus.OVERDUE
            and status == InitiativeStatus.APPROVED
            and due_cycle is not None
            and due_cycle <= self.context.cycle_id
        ):
            later = self.context.calendar.next(self.context.cycle_id)
            self._problem(
                "due_cycle",
                f"{due_cycle} has passed: {stored.id} is overdue, and approving it again "
                f"means a later due cycle, e.g. {later}",
            )

    def _problem(self, column: str, text: str) -> None:
        self.found.append(self.entry.problem(column, text))

    def _stored(self, given_id: str) -> store.Initiative | None:
        stored = self.context.existing.get(given_id)
        if stored is None:
            self._problem(
                "id",
                f"unknown id {given_id!r} in the {self.context.cycle_id} backlog"
                f"{_did_you_mean(given_id, self.context.existing)}; leave id empty to add "
                "a new initiative",
            )
        return stored

    def _capability(self) -> str | None:
        allowed = list(self.context.capabilities)
        given = _text(self.entry.values.get("capability"))
        named = [
            cid
            for cid, name in self.context.capabilities.items()
            if name.casefold() == given.casefold()
        ]
        if named and _one_of(given, allowed) is None:
            self._problem(
                "capability", f"{given!r} is the name of {named[0]}; write its id, {named[0]}"
            )
            return None
        known = f"use a capability id of the catalogue: {', '.join(allowed)}"
        return self._choice("capability", given, allowed, known)

    def _dimension(self) -> str | None:
        allowed = list(self.context.dimensions)
        given = _text(self.entry.values.get("dimension"))
        return self._choice("dimension", given, allowed, f"use one of {', '.join(allowed)}")

    def _choice(self, column: str, given: str, allowed: Sequence[str], known: str) -> str | None:
        """The catalogue's capability or dimension; for a stored initiative, its own, which
        an empty cell stands for."""
        stored: str | None = getattr(self.stored, column, None)
        if not given:
            if stored is None:
                self._problem(
                    column, f"empty; a new initiative needs its {column}, e.g. {allowed[0]}"
                )
            return stored
        chosen = _one_of(given, allowed)
        if chosen is None:
            self._problem(
                column, f"unknown {column} {given!r}{_did_you_mean(given, allowed)}; {known}"
            )
            return None
        if self.stored is not None and chosen != stored:
            self._problem(
                column,
                f"{chosen}, but initiative {self.stored.id} is for {stored}; an initiative "
                f"keeps its {column}: put {stored} back, or set this one's status to dropped "
                f"and add a row without id for {chosen}",
            )
            return None
        return chosen

    def _target_level(self) -> int | None:
        value = self.entry.values.get("target_level")
        if not _text(value):
            self._problem(
                "target_level", f"empty; write the target level, a whole number {self._range}"
            )
            return None
        target = _whole(value)
        if target is None or target not in self.context.levels:
            self._problem(
                "target_level",
                f"{_text(value)!r} is not a level; write a whole number {self._range}",
            )
            return None
        level = self.stored.level if self.stored is not None else None
        if level is not None and target <= level:
            if level >= self.context.levels[-1]:
                fix = "nothing is left to raise: set status to dropped"
            else:
                fix = (
                    f"write {int(level) + 1} to {self.context.levels[-1]}, or set status to dropped"
                )
            self._problem(
                "target_level",
                f"{target} is not above the current level, {level:g}, so it is no "
                f"improvement; {fix}",
            )
            return None
        return target

    def _owner(self) -> str | None:
        owner = _text(self.entry.values.get("owner"))
        if not owner:
            self._problem("owner", "empty; name the person accountable for the initiative")
            return None
        return owner

    def _due_cycle(self) -> str | None:
        given = _text(self.entry.values.get("due_cycle")).upper()
        example = f"e.g. {self.context.calendar.next(self.context.cycle_id)}"
        if not given:
            self._problem("due_cycle", f"empty; write the quarter the initiative is due, {example}")
            return None
        if self.stored is not None and given == self.stored.due_cycle:
            return given  # a carried initiative keeps its due cycle, even one passed
        try:
            self.context.calendar.parse(given)
        except ConfigurationError:
            self._problem(
                "due_cycle", f"{given!r} is not a quarter; write it as YYYY-Qn, {example}"
            )
            return None
        if given <= self.context.cycle_id:
            self._problem(
                "due_cycle",
                f"{given} is not after this cycle, {self.context.cycle_id}; write a later "
                f"quarter, {example}",
            )
            return None
        return given

    def _linked_projects(self) -> tuple[str, ...]:
        value = self.entry.values.get("linked_projects")
        parts = value if isinstance(value, list) else [value]
        projects = tuple(
            dict.fromkeys(
                project
                for part in parts
                for project in _PROJECT_SPLIT.split(_text(part))
                if project
            )
        )
        known = self.context.known_projects
        if known is not None:
            for project in projects:
                if project not in known:
                    self._problem(
                        "linked_projects",
                        f"unknown project {project!r}{_did_you_mean(project, sorted(known))}; "
                        "link projects of the latest accepted evidence, or remove it",
                    )
        return projects

    def _status(self) -> str | None:
        given = _text(self.entry.values.get("status"))
        decisions = _either(DECISIONS)
        if not given and self.new:
            return InitiativeStatus.PROPOSED  # a new initiative is proposed
        if not given:
            self._problem("status", f"empty; write {_either(WRITABLE)}")
            return None
        status = _one_of(given, STATUSES)
        if status is None:
            self._problem(
                "status",
                f"{given!r} is not a status{_did_you_mean(given, STATUSES)}; "
                f"write {_either(WRITABLE)}",
            )
            return None
        before = InitiativeStatus(self.stored.status) if self.stored else None
        if status == before:
            return status
        refusal = _refused_change(before, InitiativeStatus(status))
        if refusal:
            self._problem("status", f"{status}, but {refusal}; write {decisions}")
            return None
        return status

    def _estimates(self, status: str | None) -> Estimates:
        stored = self.stored
        decided = status is not None and InitiativeStatus(status).decided_by_pmo
        changed = self.stored is None or status != self.stored.status
        decided_by = self._said("decided_by", needed=decided and changed)
        reason = self._said("decision_reason", needed=decided and changed)
        return Estimates(
            approver=self._approver(stored),
            cost_estimate=self._amount("cost_estimate", stored, most=None),
            effort_days=self._amount("effort_days", stored, most=None),
            expected_gain=self._amount(
                "expected_gain", stored, most=float(self.context.levels[-1] - 1)
            ),
            decided_by=decided_by,
            decision_reason=reason,
        )

    def _said(self, column: str, *, needed: bool) -> str:
        said = _text(self.entry.values.get(column))
        if needed and not said:
            what = "who decided" if column == "decided_by" else "why"
            self._problem(
                column,
                f"empty; a change of status is a decision: write {what} (the row's status "
                "says what was decided)",
            )
        return said

    def _kept(self, column: str, stored: store.Initiative | None) -> Any:
        """The stored value of a column the file leaves out."""
        return getattr(stored, column) if stored is not None else None

    def _approver(self, stored: store.Initiative | None) -> str | None:
        if "approver" not in self.entry.values:
            return self._kept("approver", stored)
        return _text(self.entry.values["approver"]) or None

    def _amount(self, column: str, stored: store.Initiative | None, *, most: float | None) -> Any:
        """A number from 0 (to `most`), None for an empty cell, or the stored value when
        the file leaves the column out."""
        if column not in self.entry.values:
            return self._kept(column, stored)
        text = _text(self.entry.values[column])
        if not text:
            return None
        number = _number(text)
        highest = "" if most is None else f" to {most:g}"
        if number is None or number < 0 or (most is not None and number > most):
            self._problem(
                column, f"{text!r} is not a number from 0{highest}; write one, or leave it empty"
            )
            return None
        return number

    def _rank(self) -> int | None:
        value = self.entry.values.get("rank")
        if not _text(value):
            return None
        rank = _whole(value)
        if rank is None or rank < 1:
            self._problem(
                "rank",
                f"{_text(value)!r} is not a rank; write a whole number from 1 (first) up, "
                "or leave it empty",
            )
            return None
        return rank


# small readers --------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A cell or YAML value as trimmed text; empty for a missing one."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _whole(value: Any) -> int | None:
    """A whole number written as one (`4`, YAML's 4 or 4.0); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    text = _text(value)
    return int(text) if _WHOLE.fullmatch(text) else None


def _number(text: str) -> float | None:
    """A plain decimal number (`12`, `12.5`, `1 200`, `12,5`), None for anything else."""
    cleaned = text.replace(" ", "").replace("_", "")
    if cleaned.count(",") == 1 and "." not in cleaned:
        cleaned = cleaned.replace(",", ".")  # a decimal comma
    try:
        number = float(cleaned)
    except ValueError:
        return None
    return number if number == number and abs(number) != float("inf") else None


def _refused_change(before: InitiativeStatus | None, after: InitiativeStatus) -> str:
    """Why a status cannot go from `before` to `after`, or "" when it can."""
    if after in (InitiativeStatus.DONE, InitiativeStatus.OVERDUE):
        return f"{after} is set by the review at each scoring, not by hand"
    if before is InitiativeStatus.DONE:
        return "it is done, judged by a review; add a new initiative for a further step"
    if before is not None and before.in_flight and after is InitiativeStatus.PROPOSED:
        return "it is approved and in flight: drop it, or move its due_cycle"
    if before is not None and before.in_flight and after is InitiativeStatus.DEFERRED:
        return "it is approved and in flight, not deferred: drop it, or move its due_cycle"
    return ""


def _one_of(given: str, allowed: Sequence[str]) -> str | None:
    """The allowed spelling of `given`, in any case."""
    return next((a for a in allowed if a.casefold() == given.casefold()), None)


def _closest(given: str, candidates: Iterable[str], *, cutoff: float = 0.6) -> str | None:
    """The candidate most like `given`, in any case; None when none is like it."""
    folded = {c.casefold(): c for c in candidates}
    matches = difflib.get_close_matches(given.casefold(), list(folded), n=1, cutoff=cutoff)
    return folded[matches[0]] if matches else None


def _did_you_mean(given: str, candidates: Iterable[str]) -> str:
    closest = _closest(given, candidates)
    return f" (did you mean {closest}?)" if closest else ""


def _either(choices: Sequence[str]) -> str:
    return f"{', '.join(choices[:-1])} or {choices[-1]}"
