import csv
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from btm import store
from btm.catalog import load_catalog
from btm.errors import BtmError
from btm.improvement.backlog_file import (
    COLUMNS,
    EDITABLE,
    OPTIONAL,
    BacklogContext,
    InitiativeEdit,
    InitiativeFileError,
    read_backlog,
    write_backlog,
)
from tests.pipeline import JANUARY

CYCLE = "2026-Q3"
PROJECTS = frozenset({"PRJ-1", "PRJ-2", "PRJ-10"})


def initiative(capability: str, dimension: str, **fields: Any) -> store.Initiative:
    values: dict[str, Any] = {
        "id": f"{CYCLE}-{capability}-{dimension}",
        "cycle_id": CYCLE,
        "rank": 1,
        "priority": 0.8125,
        "capability": capability,
        "dimension": dimension,
        "level": 2.0,
        "target_level": 3,
        "owner": "Head of PMO",
        "due_cycle": "2026-Q4",
        "linked_projects": ["PRJ-1"],
        "status": "proposed",
        "title": f"Lift {capability} {dimension}",
        "guidance": ["Write the policy down", 'Review it, quarterly; "with the board"'],
    }
    return store.Initiative(**{**values, **fields})


STORED = [
    initiative(
        "MTI-1",
        "process",
        rank=1,
        level=1.6,
        owner="Zoë Müller, CFO office",
        approver="CFO",
        effort_days=40,
        priority_basis="gap 1.60 x value 1.00 / effort 1.67",
    ),
    initiative("GO-1", "organization", rank=2, level=None, linked_projects=[], guidance=[]),
    initiative(
        "SEA-5",
        "technology",
        rank=3,
        level=2.0,
        target_level=4,
        due_cycle="2027-Q2",
        status="approved",
        linked_projects=["PRJ-1", "PRJ-2"],
    ),
]
MTI_1, GO_1, SEA_5 = (i.id for i in STORED)


def context(known_projects: frozenset[str] | None = PROJECTS) -> BacklogContext:
    catalog = load_catalog()
    return BacklogContext(
        cycle_id=CYCLE,
        calendar=JANUARY,
        levels=catalog.level_numbers,
        capabilities={c.id: c.name for c in catalog.capabilities},
        dimensions=catalog.dimension_ids,
        existing={i.id: i for i in STORED},
        known_projects=known_projects,
    )


def edit_of(stored: store.Initiative, row: int) -> InitiativeEdit:
    return InitiativeEdit(
        id=stored.id,
        capability=stored.capability,
        dimension=stored.dimension,
        target_level=stored.target_level,
        owner=stored.owner,
        due_cycle=stored.due_cycle,
        linked_projects=tuple(stored.linked_projects),
        status=stored.status,
        rank=stored.rank,
        row=row,
        approver=stored.approver,
        cost_estimate=stored.cost_estimate,
        effort_days=stored.effort_days,
        expected_gain=stored.expected_gain,
    )


def exported_rows(tmp_path: Path) -> list[dict[str, str]]:
    """The stored backlog as a PMO's spreadsheet sees it: one dict per row."""
    path = tmp_path / "exported.csv"
    write_backlog(STORED, path)
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_csv(
    path: Path, rows: list[dict[str, str]], *, columns: tuple[str, ...] = COLUMNS
) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


NEW = {"capability": "SP-2", "dimension": "information", "target_level": "3"}
NEW |= {"owner": "CIO", "due_cycle": "2026-Q4"}


def problems_of(path: Path, backlog: BacklogContext | None = None) -> tuple[str, ...]:
    with pytest.raises(InitiativeFileError) as raised:
        read_backlog(path, backlog or context())
    return raised.value.problems


def csv_problems(tmp_path: Path, *changes: dict[str, str], new: bool = False) -> tuple[str, ...]:
    """The problems of the exported backlog with `changes` laid over its rows 2, 3, ...
    (or, with `new`, appended as rows of their own)."""
    rows = exported_rows(tmp_path)
    if new:
        rows += [dict(change) for change in changes]
    else:
        for row, change in zip(rows, changes, strict=False):
            row.update(change)
    return problems_of(write_csv(tmp_path / "edited.csv", rows))


# writing and reading back --------------------------------------------------------------


def test_a_csv_backlog_reads_back_as_the_stored_initiatives(tmp_path: Path) -> None:
    path = tmp_path / "backlog.csv"
    write_backlog(list(reversed(STORED)), path)  # written in rank order whatever the input

    edits = read_backlog(path, context())

    assert edits == [edit_of(i, row) for i, row in zip(STORED, (2, 3, 4), strict=True)]


def test_the_csv_is_utf8_with_a_bom_the_columns_in_order_and_lists_joined(tmp_path: Path) -> None:
    path = tmp_path / "backlog.csv"
    write_backlog(STORED, path)

    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = raw.decode("utf-8-sig").splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert lines[1] == (
        f'{MTI_1},1,0.812,MTI-1,process,1.6,3,"Zoë Müller, CFO office",2026-Q4,PRJ-1,'
        'proposed,,,CFO,,40,,Lift MTI-1 process,"Write the policy down | Review it, quarterly; '
        '""with the board""",gap 1.60 x value 1.00 / effort 1.67'
    )
    assert lines[2] == (
        f"{GO_1},2,0.812,GO-1,organization,,3,Head of PMO,2026-Q4,,proposed,,,,,,,"
        "Lift GO-1 organization,,"
    )
    assert "PRJ-1; PRJ-2" in lines[3]


@pytest.mark.parametrize("suffix", [".yaml", ".yml"])
def test_a_yaml_backlog_reads_back_as_the_stored_initiatives(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"backlog{suffix}"
    write_backlog(STORED, path)

    edits = read_backlog(path, context())

    assert edits == [edit_of(i, row) for i, row in zip(STORED, (1, 2, 3), strict=True)]


def test_the_yaml_says_what_may_be_edited_and_keeps_lists_as_lists(tmp_path: Path) -> None:
    path = tmp_path / "backlog.yaml"
    write_backlog(STORED, path)

    text = path.read_text(encoding="utf-8")
    comment = "\n".join(line for line in text.splitlines() if line.startswith("#"))
    for editable in EDITABLE:
        assert f"#   {editable} " in comment
    assert "are shown for context and\n# ignored on import" in comment
    assert "add an entry with an empty id" in comment
    document = yaml.safe_load(text)
    assert list(document) == ["cycle", "initiatives"]
    assert document["cycle"] == CYCLE
    first = document["initiatives"][0]
    assert list(first) == list(COLUMNS)
    assert first["linked_projects"] == ["PRJ-1"]
    assert first["guidance"] == STORED[0].guidance
    assert first["owner"] == "Zoë Müller, CFO office"


def test_an_empty_backlog_writes_and_reads_back_as_no_edits(tmp_path: Path) -> None:
    for name in ("empty.csv", "empty.yaml"):
        write_backlog([], tmp_path / name)
        assert read_backlog(tmp_path / name, context()) == []


def test_a_csv_edited_in_excel_reads(tmp_path: Path) -> None:
    """Excel in a decimal-comma locale: `;`-delimited, a BOM, CRLF; the PMO moved columns,
    retitled headers, dropped the context columns, added a notes column (ignored), left
    a blank row, and added an initiative."""
    text = (
        "\ufeffStatus;Rank;ID;Capability;Dimension;Target Level;Owner;Due Cycle;"
        "Linked Projects;Decided By;Decision Reason;Notes\r\n"
        f"approved;2;{MTI_1};MTI-1;process;4;Ann Lee;2027-Q1;PRJ-2, PRJ-10;Jo Park;"
        "funded;ok with CFO\r\n"
        f'Dropped;;{GO_1};;;3;Head of PMO;2026-Q4;;Jo Park;no budget;"not this year; maybe"\r\n'
        ";;;;;;;;;;;\r\n"
        f'approved;1;{SEA_5};sea-5;Technology;4;"Ops; infra";2027-Q2;"PRJ-1; PRJ-2";;;\r\n'
        ";3;;SP-2;information;3;CIO;2026-q4;PRJ-1 PRJ-1;;;\r\n"
    )
    path = tmp_path / "backlog.csv"
    path.write_bytes(text.encode("utf-8"))

    edits = read_backlog(path, context())

    mti, go, sea = (edit_of(i, row) for i, row in zip(STORED, (2, 3, 5), strict=True))
    assert edits == [
        replace(
            mti,
            target_level=4,
            owner="Ann Lee",
            due_cycle="2027-Q1",
            linked_projects=("PRJ-2", "PRJ-10"),
            status="approved",
            rank=2,
            decided_by="Jo Park",
            decision_reason="funded",
        ),
        replace(go, status="dropped", rank=None, decided_by="Jo Park", decision_reason="no budget"),
        replace(sea, owner="Ops; infra", rank=1),
        InitiativeEdit(None, "SP-2", "information", 3, "CIO", "2026-Q4", ("PRJ-1",), "proposed",
                       rank=3, row=6),
    ]  # fmt: skip


def test_a_bare_yaml_list_adds_initiatives_with_few_fields(tmp_path: Path) -> None:
    path = tmp_path / "backlog.yml"
    path.write_text(
        "- {capability: SP-2, dimension: information, target_level: 3, owner: CIO,"
        " due_cycle: 2026-Q4}\n"
        "- id:\n  capability: GO-2\n  dimension: process\n  target_level: '4'\n"
        "  owner: COO\n  due_cycle: 2027-Q1\n  linked_projects: PRJ-1;PRJ-2\n  rank: 2\n"
        "  notes: anything\n",
        encoding="utf-8",
    )

    first, second = read_backlog(path, context())
    assert first == InitiativeEdit(
        None, "SP-2", "information", 3, "CIO", "2026-Q4", (), "proposed", None, 1
    )
    assert second == InitiativeEdit(
        None, "GO-2", "process", 4, "COO", "2027-Q1", ("PRJ-1", "PRJ-2"), "proposed", 2, 2
    )


def test_links_are_not_checked_without_known_projects(tmp_path: Path) -> None:
    rows = exported_rows(tmp_path)
    rows[0]["linked_projects"] = "PRJ-404"
    path = write_csv(tmp_path / "edited.csv", rows)

    assert read_backlog(path, context(known_projects=None))[0].linked_projects == ("PRJ-404",)


# the file as a whole -------------------------------------------------------------------


@pytest.mark.parametrize("name", ["backlog.xlsx", "backlog"])
def test_a_backlog_is_written_only_as_csv_or_yaml(tmp_path: Path, name: str) -> None:
    with pytest.raises(InitiativeFileError) as raised:
        write_backlog(STORED, tmp_path / name)

    message = str(raised.value)
    assert message.startswith(str(tmp_path / name))
    assert "name the file .csv, .yaml or .yml" in message
    assert ("'.xlsx'" if name.endswith("xlsx") else "without suffix") in message


def test_one_file_holds_one_cycles_backlog_carried_initiatives_included(tmp_path: Path) -> None:
    other = initiative("GO-2", "process", id="2026-Q2-GO-2-process", cycle_id="2026-Q2")
    carried = initiative("GO-3", "process", id="2026-Q2-GO-3-process", cycle_id="2026-Q2")
    carried.carried_into = [CYCLE]

    with pytest.raises(InitiativeFileError, match="backlogs of cycles 2026-Q2, 2026-Q3; "):
        write_backlog([*STORED, other], tmp_path / "backlog.csv")
    with pytest.raises(InitiativeFileError, match=f"cycles 2026-Q2 as well as {CYCLE}"):
        write_backlog([*STORED, other], tmp_path / "backlog.csv", cycle_id=CYCLE)
    write_backlog([*STORED, carried], tmp_path / "backlog.yaml", cycle_id=CYCLE)
    document = yaml.safe_load((tmp_path / "backlog.yaml").read_text(encoding="utf-8"))
    assert document["cycle"] == CYCLE
    assert carried.id in [i["id"] for i in document["initiatives"]]


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "backlog.xlsx"
    path.write_bytes(b"PK")

    (problem,) = problems_of(path)
    assert problem == "cannot read a backlog from '.xlsx'; export it as .csv, .yaml or .yml"


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BtmError) as raised:
        read_backlog(tmp_path / "nowhere.csv", context())

    assert str(raised.value).startswith(f"{tmp_path / 'nowhere.csv'}: cannot read (")


@pytest.mark.parametrize("content", [b"", b"\xef\xbb\xbf\r\n  \n", b";;;\n"])
def test_an_empty_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "backlog.csv"
    path.write_bytes(content)

    assert problems_of(path) == ("the file is empty; export the backlog again",)


def test_a_csv_not_in_utf8_names_its_row(tmp_path: Path) -> None:
    rows = exported_rows(tmp_path)
    path = write_csv(tmp_path / "edited.csv", rows)
    path.write_bytes(path.read_bytes().replace("Zoë".encode(), "Zoë".encode("cp1252")))

    assert problems_of(path) == ("row 2 is not valid UTF-8 text; in Excel, save as 'CSV UTF-8'",)


def test_missing_columns_are_named_with_the_expected_ones(tmp_path: Path) -> None:
    rows = exported_rows(tmp_path)
    columns = tuple(c for c in COLUMNS if c not in ("owner", "status", "title"))
    path = write_csv(tmp_path / "edited.csv", rows, columns=(*columns, "ownr"))

    (problem,) = problems_of(path)
    assert problem.startswith(
        "row 1: missing columns owner, status ('ownr' may be meant for owner)"
    )
    assert f"a backlog's columns are {', '.join(COLUMNS)}" in problem
    assert f"of which {', '.join(OPTIONAL)} may be left out" in problem


def test_a_column_given_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "edited.csv"
    path.write_text(",".join([*COLUMNS, "Owner"]) + "\n", encoding="utf-8")

    assert problems_of(path) == ("row 1: column owner appears more than once; keep one of each",)


def test_a_yaml_backlog_of_another_cycle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "backlog.yaml"
    write_backlog(STORED, path)
    path.write_text(path.read_text().replace(f"cycle: {CYCLE}", "cycle: 2026-Q2"))

    (problem,) = problems_of(path)
    assert problem.startswith("cycle: the file is the backlog of 2026-Q2 but this import is for")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("initiatives: [\n", "not valid YAML"),
        ("cycle: 2026-Q3\n", "expected a mapping with `cycle:` and an `initiatives:` list"),
        ("just text\n", "expected a mapping"),
    ],
)
def test_a_yaml_backlog_of_the_wrong_shape_is_refused(
    tmp_path: Path, text: str, expected: str
) -> None:
    path = tmp_path / "backlog.yaml"
    path.write_text(text)

    (problem,) = problems_of(path)
    assert problem.startswith(expected)


def test_a_row_with_more_cells_than_the_header_is_named(tmp_path: Path) -> None:
    path = tmp_path / "edited.csv"
    rows = exported_rows(tmp_path)
    write_csv(path, rows)
    with path.open("a", encoding="utf-8", newline="") as handle:
        handle.write(",".join(["x"] * (len(COLUMNS) + 2)) + "\r\n")

    assert problems_of(path) == (
        f"row 5: has {len(COLUMNS) + 2} cells but the header has {len(COLUMNS)}; check that "
        "row's delimiters and quoting",
    )


# one check at a time: the row and column named --------------------------------------


def test_an_unknown_id_is_refused(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {}, {"id": f"{CYCLE}-GO-1-organisation"}) == (
        f"row 3, column id: unknown id '{CYCLE}-GO-1-organisation' in the {CYCLE} backlog "
        f"(did you mean {GO_1}?); leave id empty to add a new initiative",
    )


def test_an_id_given_twice_is_refused(tmp_path: Path) -> None:
    first = exported_rows(tmp_path)[0]
    assert csv_problems(tmp_path, {**first, "rank": "9"}, new=True) == (
        f"row 5, column id: {MTI_1} is also on row 2; keep one row per initiative",
    )


def test_an_initiatives_capability_and_dimension_cannot_change(tmp_path: Path) -> None:
    problems = csv_problems(tmp_path, {"capability": "MTI-2", "dimension": "information"})

    assert problems == (
        f"row 2, column capability: MTI-2, but initiative {MTI_1} is for MTI-1; an initiative "
        "keeps its capability: put MTI-1 back, or set this one's status to dropped and add a "
        "row without id for MTI-2",
        f"row 2, column dimension: information, but initiative {MTI_1} is for process; an "
        "initiative keeps its dimension: put process back, or set this one's status to dropped "
        "and add a row without id for information",
    )


def test_an_unknown_capability_is_refused_with_the_closest_id(tmp_path: Path) -> None:
    (problem,) = csv_problems(tmp_path, {**NEW, "capability": "SP-22"}, new=True)

    assert problem.startswith(
        "row 5, column capability: unknown capability 'SP-22' (did you mean SP-2?); use a "
        "capability id of the catalogue: GO-1, GO-2,"
    )


def test_a_capability_written_by_its_name_is_refused_with_its_id(tmp_path: Path) -> None:
    name = load_catalog().capability("MTI-1").name.lower()

    assert csv_problems(tmp_path, {**NEW, "capability": name}, new=True) == (
        f"row 5, column capability: '{name}' is the name of MTI-1; write its id, MTI-1",
    )


def test_an_unknown_dimension_is_refused(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {**NEW, "dimension": "informaton"}, new=True) == (
        "row 5, column dimension: unknown dimension 'informaton' (did you mean information?); "
        "use one of process, organization, information, technology",
    )


def test_a_new_initiative_needs_its_capability_and_dimension(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {**NEW, "capability": "", "dimension": " "}, new=True) == (
        "row 5, column capability: empty; a new initiative needs its capability, e.g. GO-1",
        "row 5, column dimension: empty; a new initiative needs its dimension, e.g. process",
    )


@pytest.mark.parametrize("level", ["0", "6", "high", "3.5"])
def test_a_target_level_is_a_whole_number_from_1_to_5(tmp_path: Path, level: str) -> None:
    assert csv_problems(tmp_path, {}, {"target_level": level}) == (
        f"row 3, column target_level: '{level}' is not a level; write a whole number from 1 to 5",
    )


def test_a_target_at_or_below_the_current_level_is_refused(tmp_path: Path) -> None:
    problems = csv_problems(tmp_path, {"target_level": "1"}, {}, {"target_level": "2"})

    assert problems == (
        "row 2, column target_level: 1 is not above the current level, 1.6, so it is no "
        "improvement; write 2 to 5, or set status to dropped",
        "row 4, column target_level: 2 is not above the current level, 2, so it is no "
        "improvement; write 3 to 5, or set status to dropped",
    )


def test_an_initiative_needs_an_owner(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {}, {"owner": "  "}) == (
        "row 3, column owner: empty; name the person accountable for the initiative",
    )


@pytest.mark.parametrize(
    ("due", "problem"),
    [
        ("Q4 2026", "'Q4 2026' is not a quarter; write it as YYYY-Qn, e.g. 2026-Q4"),
        (
            "2026-Q3",
            "2026-Q3 is not after this cycle, 2026-Q3; write a later quarter, e.g. 2026-Q4",
        ),
        (
            "2025-Q4",
            "2025-Q4 is not after this cycle, 2026-Q3; write a later quarter, e.g. 2026-Q4",
        ),
        ("", "empty; write the quarter the initiative is due, e.g. 2026-Q4"),
    ],
)
def test_an_initiative_is_due_in_a_later_quarter(tmp_path: Path, due: str, problem: str) -> None:
    assert csv_problems(tmp_path, {"due_cycle": due}) == (f"row 2, column due_cycle: {problem}",)


def test_linked_projects_are_projects_of_the_evidence(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {"linked_projects": "PRJ-1; PRJ-11"}) == (
        "row 2, column linked_projects: unknown project 'PRJ-11' (did you mean PRJ-1?); link "
        "projects of the latest accepted evidence, or remove it",
    )


def test_a_status_is_proposed_approved_or_dropped(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {"status": "approve"}, {"status": ""}) == (
        "row 2, column status: 'approve' is not a status (did you mean approved?); write "
        "proposed, approved, deferred or dropped",
        "row 3, column status: empty; write proposed, approved, deferred or dropped",
    )


@pytest.mark.parametrize("rank", ["0", "-1", "first", "1.5"])
def test_a_rank_is_a_positive_whole_number(tmp_path: Path, rank: str) -> None:
    assert csv_problems(tmp_path, {"rank": rank}) == (
        f"row 2, column rank: '{rank}' is not a rank; write a whole number from 1 (first) up, "
        "or leave it empty",
    )


def test_a_rank_given_twice_is_refused(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, {}, {"rank": ""}, {"rank": "1"}) == (
        "row 4, column rank: rank 1 is also on row 2; give each initiative its own rank, or "
        "leave rank empty",
    )


def test_two_new_rows_for_one_capability_and_dimension_are_refused(tmp_path: Path) -> None:
    assert csv_problems(tmp_path, NEW, {**NEW, "owner": "CTO"}, new=True) == (
        "row 6, column capability and dimension: SP-2 x information is also on row 5; a cycle "
        "has one initiative per capability and dimension: keep one of the rows",
    )


def test_a_new_row_for_a_stored_initiatives_cell_is_refused(tmp_path: Path) -> None:
    # whether or not the stored initiative's row is in the file
    rows = exported_rows(tmp_path)[1:]
    new = {**NEW, "capability": "mti-1", "dimension": "Process"}
    path = write_csv(tmp_path / "edited.csv", [new, *rows])

    assert problems_of(path) == (
        f"row 2, column capability and dimension: MTI-1 x process already has initiative "
        f"{MTI_1}; edit its row (id {MTI_1}) instead of adding one",
    )


# yaml names initiatives and fields -------------------------------------------------------


def test_yaml_problems_name_the_initiative_and_field(tmp_path: Path) -> None:
    path = tmp_path / "backlog.yaml"
    write_backlog(STORED, path)
    document = yaml.safe_load(path.read_text())
    document["initiatives"][1]["owner"] = None
    document["initiatives"][2]["rank"] = 2
    document["initiatives"][2]["staus"] = "dropped"
    document["initiatives"].append("SP-2 information")
    path.write_text(yaml.safe_dump(document))

    assert problems_of(path) == (
        "initiative 2, field owner: empty; name the person accountable for the initiative",
        "initiative 3, field staus: unknown field; did you mean status?",
        "initiative 3, field rank: rank 2 is also given by initiative 2; give each initiative "
        "its own rank, or leave rank empty",
        "initiative 4: is not a mapping; write it as `- id: ...` with one `field: value` per line",
    )


# all problems at once -------------------------------------------------------------------


def test_every_problem_is_reported_at_once_and_nothing_returned(tmp_path: Path) -> None:
    rows = exported_rows(tmp_path)
    rows[0].update(owner="", status="done")
    rows[2].update(due_cycle="2026-Q1", linked_projects="PRJ-9")
    rows.append({**NEW, "target_level": "9", "capability": "XX-1"})
    path = write_csv(tmp_path / "edited.csv", rows)

    with pytest.raises(InitiativeFileError) as raised:
        read_backlog(path, context())

    lines = str(raised.value).splitlines()
    assert lines[0] == f"{path}: 6 problems; nothing was imported"
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "row 2, column owner",
        "row 2, column status",
        "row 4, column due_cycle",
        "row 4, column linked_projects",
        "row 5, column capability",
        "row 5, column target_level",
    ]
    assert raised.value.path == path


def test_the_error_survives_pickling(tmp_path: Path) -> None:
    error = InitiativeFileError(tmp_path / "b.csv", ["row 2, column owner: empty", "x"])

    copy = pickle.loads(pickle.dumps(error))

    assert (str(copy), copy.problems, copy.path) == (str(error), error.problems, error.path)
