"""The demo's planning sources, as `btm/data/demo-sources.yaml` writes them: the OKR
tool's JSON, the planning system's CSV and the resource tool's and supplier register's
workbooks arrive through their column and value mappings in the canonical kinds, pass
their suites and are stored; a broken row quarantines its batch, named by column and row.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from btm import store
from btm.demo.sample import (
    BUDGETS_FILE,
    DEMO_CYCLES,
    OBJECTIVES_FILE,
    RESOURCES_FILE,
    SAMPLE_UNITS,
    VENDORS_FILE,
    generate_sample_evidence,
)
from btm.demo.walkthrough import DEMO_SOURCES
from btm.evidence import gather
from btm.evidence.kinds import load_kinds
from btm.evidence.sources import FilesSource, load_sources
from btm.pipeline import templating_for
from btm.settings import Settings
from btm.validation import load_suite
from tests.pipeline import cycle_as_of

PLANNING_FILES = {
    "objectives": OBJECTIVES_FILE,
    "budgets": BUDGETS_FILE,
    "resources": RESOURCES_FILE,
    "vendors": VENDORS_FILE,
}
SOURCES = {
    s.kind: s
    for s in load_sources(DEMO_SOURCES)
    if isinstance(s, FilesSource) and s.kind in PLANNING_FILES
}
UNIT_NAMES = {unit.name for unit in SAMPLE_UNITS}


@pytest.fixture
def settings(btm_home: Path) -> Settings:
    return Settings()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out_dir = tmp_path_factory.mktemp("sample")
    generate_sample_evidence(out_dir)
    return out_dir


def _open(engine: sa.Engine, cycle: str) -> None:
    with store.session_scope(engine) as session:
        store.open_cycle(session=session, cycle_id=cycle, as_of=cycle_as_of(cycle))


def _gather(kind: str, cycle: str, *, engine: sa.Engine, settings: Settings) -> gather.BatchResult:
    """Fetch and accept the demo's source of `kind` for `cycle`, as a run does."""
    source = SOURCES[kind]
    fetched = gather.fetch_source(
        source, templating=templating_for(cycle, settings), archive_dir=settings.archive_dir
    )
    (result,) = gather.accept_fetch(
        fetched,
        cycle_id=cycle,
        as_of=cycle_as_of(cycle),
        engine=engine,
        quarantine_dir=settings.quarantine_dir,
    )
    return result


def _allowed_values(kind: str) -> dict[str, set[str]]:
    """Each field's value set in the kind's suite (its unconditional rules)."""
    return {
        e["kwargs"]["column"]: set(e["kwargs"]["value_set"])
        for e in load_suite(kind)["expectations"]
        if e["type"] == "expect_column_values_to_be_in_set" and "row_condition" not in e["kwargs"]
    }


def test_the_demo_has_a_files_source_per_planning_kind() -> None:
    assert {kind: s.pattern for kind, s in SOURCES.items()} == PLANNING_FILES


@pytest.mark.parametrize("cycle", DEMO_CYCLES)
def test_the_planning_exports_arrive_mapped_accepted_and_stored(
    engine: sa.Engine, settings: Settings, sample: Path, cycle: str
) -> None:
    settings.inbox_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.inbox_dir.symlink_to(sample, target_is_directory=True)
    _open(engine, cycle)
    for kind in PLANNING_FILES:
        result = _gather(kind, cycle, engine=engine, settings=settings)

        assert result.batch.status == "accepted", result.batch.problems
        assert result.batch.problems == [], "not even a warning"
        frame = result.frame
        assert frame is not None
        assert set(frame.columns) == {*load_kinds()[kind].field_names, "_row"}
        assert set(frame["business_unit"]) == UNIT_NAMES
        for column, allowed in _allowed_values(kind).items():
            assert set(frame[column].dropna()) <= allowed, (kind, column)
        assert result.batch.id is not None
        stored = store.load_rows(engine=engine, kind=kind, batch_ids=[result.batch.id])
        assert len(stored) == len(frame) == result.batch.rows


def test_the_mappings_reach_every_canonical_value(
    engine: sa.Engine, settings: Settings, sample: Path
) -> None:
    cycle = DEMO_CYCLES[-1]
    settings.inbox_dir.parent.mkdir(parents=True, exist_ok=True)
    settings.inbox_dir.symlink_to(sample, target_is_directory=True)
    _open(engine, cycle)
    frames = {k: _gather(k, cycle, engine=engine, settings=settings).frame for k in SOURCES}
    budgets, resources, vendors = frames["budgets"], frames["resources"], frames["vendors"]
    objectives = frames["objectives"]
    assert budgets is not None and resources is not None
    assert vendors is not None and objectives is not None
    assert set(budgets["category"]) == {"run", "grow", "transform"}
    # the spreadsheet upload reads as no planning system
    assert set(budgets["planning_system"].dropna()) == {"Anaplan"}
    assert budgets["planning_system"].isna().any()
    assert set(resources["record_type"]) == {"request", "pool"}
    pools = resources["record_type"] == "pool"
    assert set(resources.loc[pools, "status"]) <= {"active", "closed"}
    requested = {"requested", "planned", "allocated", "closed", "rejected"}
    assert set(resources.loc[~pools, "status"]) == requested
    assert set(vendors["tier"]) == {"strategic", "tactical", "commodity"}
    assert set(vendors["preference"].dropna()) == {"preferred", "standard"}
    assert set(vendors["in_register"]) == {True, False}
    assert {"draft", "active"} <= set(objectives["status"])
    assert objectives["owner"].isna().any() and objectives["owner"].notna().any()


# Each breaks one cell of an export: the tool's own header (or key), the value, the row.


def _break_csv(path: Path, header: str, value: Any, row: int) -> None:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, records = list(reader.fieldnames or []), list(reader)
    records[row - 2][header] = value
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields, lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(records)


def _break_xlsx(path: Path, header: str, value: Any, row: int) -> None:
    workbook = load_workbook(path)
    sheet = workbook.worksheets[0]
    column = [cell.value for cell in sheet[1]].index(header) + 1
    sheet.cell(row=row, column=column).value = value
    workbook.save(path)


def _break_json(path: Path, key: str, value: Any, row: int) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    document["objectives"][row - 2][key] = value
    path.write_text(json.dumps(document), encoding="utf-8")


BREAKERS: dict[str, Callable[[Path, str, Any, int], None]] = {
    ".csv": _break_csv,
    ".xlsx": _break_xlsx,
    ".json": _break_json,
}


# the tool's header or key, the value written into it, and the canonical field and the
# spreadsheet row the problem must name
@pytest.mark.parametrize(
    ("kind", "header", "value", "field", "row"),
    [
        ("budgets", "Plan Amount", "-250000.00", "planned", 4),
        ("budgets", "Investment Category", "Keep the Lights On", "category", 3),
        ("resources", "Demand (FTE)", -2, "demand", 9),
        ("resources", "Status", "Hard Booked", "status", 2),  # a pool allocated like a request
        ("vendors", "Segment", "Tier 4 - Niche", "tier", 5),
        ("objectives", "progress", 140, "progress", 4),
        ("objectives", "state", "Paused", "status", 3),
    ],
)
def test_a_broken_row_quarantines_its_batch_naming_the_column_and_row(
    engine: sa.Engine,
    settings: Settings,
    kind: str,
    header: str,
    value: Any,
    field: str,
    row: int,
) -> None:
    cycle = DEMO_CYCLES[0]
    generate_sample_evidence(settings.inbox_dir, cycles=[cycle])
    path = settings.inbox_dir / cycle / PLANNING_FILES[kind]
    BREAKERS[path.suffix](path, header, value, row)
    _open(engine, cycle)

    result = _gather(kind, cycle, engine=engine, settings=settings)

    assert result.batch.status == "quarantined"
    (problem,) = [p for p in result.batch.problems if p.startswith(f"column {field},")]
    assert f"row {row}" in problem and "fix:" in problem, problem
    kept = settings.quarantine_dir / cycle / SOURCES[kind].name / path.name
    assert kept.is_file() and kept.with_name(f"{path.name}.problems.txt").is_file()
