"""Target-state readiness in counts of cells: one cell above target never hides another
below it, an unknown cell never meets a target, and each unit is told the highest state
it already supports."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from btm import store
from btm.catalog import load_catalog
from btm.readiness import readiness
from btm.targets import load_targets

CATALOG = load_catalog()


def cell(unit: str, capability: str, dimension: str, level: int | None, basis: str = "system"):
    return store.Score(
        cycle_id="2026-Q3",
        unit=unit,
        capability=capability,
        dimension=dimension,
        level=level,
        basis=basis,
        rubric_version="test",
    )


def targets(home: Path):
    return {s.id: load_targets(state=s.id, home=home, catalog=CATALOG) for s in CATALOG.states}


def test_one_cell_above_target_does_not_hide_another_below_it(tmp_path: Path) -> None:
    # alignment asks level 3: 5 and 1 average 3, "at target" to a mean against a mean
    scores = [cell("Retail", "MTI-2", "process", 5), cell("Retail", "MTI-2", "information", 1)]
    ready = readiness(scores, CATALOG, state="alignment", targets=targets(tmp_path))
    (retail,) = ready.units
    assert (retail.at_target, retail.cells) == (1, 2)
    assert retail.text == "1 of 2 cells at or above target"
    assert [b.text for b in retail.blocking] == ["Retail / MTI-2 information: 1, needs 3"]
    assert retail.supports is None and not retail.ready
    assert ready.state_name == "Alignment"
    mti = next(a for a in ready.areas if a.label == "Managing Technology Investments")
    assert (mti.at_target, mti.cells) == (1, 2)
    assert (ready.enterprise.at_target, ready.enterprise.cells) == (1, 2)


def test_an_unknown_cell_blocks_and_a_cell_that_does_not_apply_is_not_counted(
    tmp_path: Path,
) -> None:
    scores = [
        cell("Wealth", "GO-1", "process", 4),
        cell("Wealth", "GO-1", "technology", None, basis="unknown"),
        cell("Wealth", "SEA-5", "process", None, basis="not_applicable"),
    ]
    (wealth,) = readiness(scores, CATALOG, state="alignment", targets=targets(tmp_path)).units
    assert (wealth.at_target, wealth.cells) == (1, 2)
    assert wealth.blocking[0].text == "Wealth / GO-1 technology: unknown, needs 3"


def test_each_unit_is_told_the_highest_state_it_already_supports(tmp_path: Path) -> None:
    scores = [
        # every cell at 4, and SEA-5 (synchronization asks only 3 of it) at 3
        *(cell("Insurance", c, "process", 4) for c in ("GO-1", "MTI-2", "SP-1")),
        cell("Insurance", "SEA-5", "process", 3),
        # level 3 everywhere but SEA-5 at 2, which alignment accepts (it asks 2)
        cell("Retail", "GO-1", "process", 3),
        cell("Retail", "SEA-5", "process", 2),
        cell("Wealth", "GO-1", "process", 2),
    ]
    ready = readiness(scores, CATALOG, state="synchronization", targets=targets(tmp_path))
    supports = {u.label: u.supports for u in ready.units}
    assert supports == {"Insurance": "Synchronization", "Retail": "Alignment", "Wealth": None}
    assert [u.label for u in ready.units if u.ready] == ["Insurance"]
    # a unit's own target, from the PMO's targets.yaml, is the one it is judged against
    (tmp_path / "targets.yaml").write_text("units:\n  Wealth:\n    GO-1: 2\n", encoding="utf-8")
    pmo = readiness(scores, CATALOG, state="alignment", targets=targets(tmp_path))
    assert {u.label: u.ready for u in pmo.units}["Wealth"] is True


AUDIENCES = """
audiences:
  - {id: pmo, kind: pmo, recipients: [pmo@example.org]}
  - {id: board, kind: executive, recipients: [cio@example.org]}
"""


def test_the_reports_name_the_target_state_and_count_cells_never_a_mean(
    btm_home: Path,
) -> None:
    from btm import pipeline
    from btm.reporting.compose import render_audience_reports
    from btm.settings import Settings
    from tests.factories import stored_scores

    btm_home.mkdir(parents=True)
    (btm_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    run = pipeline.setup(Settings(home=btm_home))
    store.ensure_cycle(engine=run.engine, cycle_id="2026-Q3", as_of=date(2026, 9, 30))
    # Retail's MTI-2: 5 and 1 average 3, alignment's level; every other cell unknown
    levels = {("Retail", "MTI-2", "process"): 5, ("Retail", "MTI-2", "information"): 1}
    store.save_cycle_scores(
        engine=run.engine,
        cycle_id="2026-Q3",
        rubric_version="2027.1",
        scores=stored_scores(CATALOG, ["Retail"], levels),
        evidence_key="key",
        target_state="alignment",
    )
    reports = {
        r.audience.kind: r.email
        for r in render_audience_reports(
            engine=run.engine,
            cycle_id="2026-Q3",
            catalog=CATALOG,
            rubric=run.rubric,
            settings=run.settings,
        )
    }
    cells = len(CATALOG.capability_ids) * len(CATALOG.dimension_ids)
    for kind in ("pmo", "executive"):
        text, html = " ".join(reports[kind].text.split()), reports[kind].html
        assert "TARGET-STATE READINESS: ALIGNMENT" in text
        assert "Target-state readiness: Alignment</h2>" in html
        assert f"Retail 1 of {cells} {cells - 1} no state yet" in text
        assert "Managing Technology Investments 1 of 16 15" in text
        assert "Retail / MTI-2 information: 1, needs 3" in text
        assert "TARGET AND GAP" not in text and "Target and gap" not in html  # no mean vs mean
