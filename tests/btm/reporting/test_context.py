"""Report context numbers, rendering and the standalone file, on small hand-made scores
(tests/factories.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from btm.catalog import Catalog, load_catalog
from btm.errors import ConfigurationError
from btm.evidence.notes import DataQualityNote, QualityPoint, QuarantineNote, SourceNote, StaleNote
from btm.reporting.context import (
    LOW_MARK,
    SURVEY_MARK,
    HeatmapRow,
    ReportContext,
    build_report_context,
)
from btm.reporting.render import RenderedReport, render_report, write_file_atomically, write_index
from tests.factories import CURRENT, EVIL_UNIT, PREVIOUS, UNITS, report_context, score_frame


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def trend(catalog: Catalog) -> ReportContext:
    # Wealth has no known level in either cycle: it must not pull any mean down.
    return report_context(
        catalog, score_frame(catalog, UNITS, CURRENT), score_frame(catalog, UNITS, PREVIOUS)
    )


def test_enterprise_is_the_mean_of_known_levels_with_its_change(trend: ReportContext) -> None:
    # (2 + 3 + 4 + 1 + 2) / 5 = 2.4 now; (1 + 3 + 2 + 3) / 4 = 2.25 -> 2.3 before (half up).
    assert trend.enterprise.level == 2.4
    assert trend.enterprise.level_text == "2.4"
    assert trend.enterprise.change.text == "▲0.1"
    assert trend.enterprise.coverage_text == f"5 of {3 * 17 * 4}"
    assert trend.subject == "BTM maturity trend report 2026-Q3: enterprise 2.4 (▲0.1)"


def test_area_levels_and_changes(trend: ReportContext) -> None:
    areas = {area.code: area for area in trend.areas}
    assert [area.code for area in trend.areas] == ["GO", "MTI", "SP", "SEA"]
    assert (areas["MTI"].level, areas["MTI"].change.direction) == (3.0, "up")
    assert areas["MTI"].change.delta == pytest.approx(1.0)  # 2.0 -> 3.0
    assert (areas["GO"].level, areas["GO"].change.text) == (1.5, "▼1.0")  # 2.5 -> 1.5
    assert areas["MTI"].spread_text == "2.5–4.0"  # Insurance 2.5, Retail 4.0


def test_unknown_stays_unknown_never_zero(trend: ReportContext) -> None:
    sp = next(area for area in trend.areas if area.code == "SP")
    assert sp.level is None
    assert (sp.level_text, sp.band, sp.change.text) == ("unknown", "unknown", "—")
    wealth = next(unit for unit in trend.units if unit.label == "Wealth")
    assert wealth.level is None and wealth.level_text == "unknown"
    cell = trend.heatmap[2].rows[0].cells[0]  # SP-1 x process
    assert (cell.level, cell.level_text, cell.detail_text) == (None, "–", "unknown")
    mti2 = next(row for row in trend.heatmap[1].rows if row.capability_id == "MTI-2")
    process = mti2.cells[0]
    assert (process.level, process.units_known, process.detail_text) == (3.0, 2, "2–4 · 2/3")


def test_change_with_an_unknown_side_is_never_a_number(catalog: Catalog) -> None:
    current = score_frame(catalog, ["Insurance", "Retail"], {("Insurance", "SP-1", "process"): 3})
    previous = score_frame(catalog, ["Retail"], {("Retail", "SP-1", "process"): 2})
    report = report_context(catalog, current, previous)
    by_unit = {unit.label: unit.change for unit in report.units}
    assert (by_unit["Insurance"].text, by_unit["Insurance"].delta) == ("new", None)
    assert (by_unit["Retail"].text, by_unit["Retail"].delta) == ("—", None)
    assert report.rises == () and report.falls == ()


def test_first_cycle_has_no_changes(catalog: Catalog) -> None:
    report = report_context(catalog, score_frame(catalog, UNITS, CURRENT), None)
    assert report.enterprise.change.text == "—"
    assert report.previous_cycle_text == "none (first cycle)"
    assert report.subject == "BTM maturity trend report 2026-Q3: enterprise 2.4"


def test_movers_are_ordered_by_size(catalog: Catalog) -> None:
    units = ["A", "B", "C"]
    previous = score_frame(
        catalog,
        units,
        {("A", "GO-1", "process"): 1, ("B", "GO-2", "process"): 2, ("C", "SP-1", "process"): 5}
        | {("A", "SP-2", "process"): 3, ("B", "SP-3", "process"): 4, ("C", "SEA-1", "process"): 2},
    )
    current = score_frame(
        catalog,
        units,
        {("A", "GO-1", "process"): 4, ("B", "GO-2", "process"): 3, ("C", "SP-1", "process"): 1}
        | {("A", "SP-2", "process"): 3, ("B", "SP-3", "process"): 2, ("C", "SEA-1", "process"): 2}
        | {("A", "GO-1", "technology"): 4},  # A x GO-1 is now (4 + 4) / 2 = 4.0
    )
    report = report_context(catalog, current, previous)
    assert [(m.unit, m.capability_id, m.change.text) for m in report.rises] == [
        ("A", "GO-1", "▲3.0"),
        ("B", "GO-2", "▲1.0"),
    ]
    assert [(m.unit, m.capability_id) for m in report.falls] == [("C", "SP-1"), ("B", "SP-3")]
    assert (report.falls[0].before_text, report.falls[0].after_text) == ("5.0", "1.0")


def test_unknown_capability_is_a_configuration_error(catalog: Catalog) -> None:
    frame = score_frame(catalog, ["A"], {})
    frame.loc[0, "capability"] = "XX-9"
    with pytest.raises(ConfigurationError, match="XX-9"):
        report_context(catalog, frame, None)


@pytest.fixture(scope="module")
def rendered(catalog: Catalog) -> RenderedReport:
    note = QuarantineNote(
        source="projects-insurance",
        file_name="projects_2026q3.csv",
        sha256="0123456789abcdef" * 4,
        problems=("Row 14, column budget_eur: 'n/a' is not a number; write a number.",),
    )
    units = [*UNITS, EVIL_UNIT]
    current = score_frame(catalog, units, CURRENT | {(EVIL_UNIT, "SP-1", "process"): 3})
    report = report_context(
        catalog,
        current,
        score_frame(catalog, UNITS, PREVIOUS),
        quarantined=(note,),
        stale=(StaleNote(source="projects-insurance", from_cycle="2026-Q2"),),
    )
    return render_report(report)


def test_html_escapes_names_and_runs_nothing(rendered: RenderedReport) -> None:
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in rendered.html
    assert "<script" not in rendered.html.lower()
    assert EVIL_UNIT in rendered.text  # the text twin shows the name as it is


def test_html_is_self_contained_with_inlined_css(rendered: RenderedReport) -> None:
    html = rendered.html.lower()
    assert html.startswith("<!doctype html>")
    assert '<meta charset="utf-8">' in html
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<link" not in html and "<svg" not in html and "<img" not in html
    assert "@import" not in html and "url(" not in html
    assert html.count('style="') > 50
    # A rule of report.css (.heatmap-cell's border) landed in the cell's style attribute.
    assert re.search(r'class="heatmap-cell band-3"[^>]*style="[^"]*border:', html)


def test_text_carries_the_same_numbers(rendered: RenderedReport) -> None:
    # Enterprise with the <script> unit's 3: (2 + 3 + 4 + 1 + 2 + 3) / 6 = 2.5.
    assert rendered.subject.startswith("BTM maturity trend report 2026-Q3: enterprise 2.5 (")
    for part in (rendered.html, rendered.text):
        assert "2.5" in part and "▲0.2" in part
    assert re.search(r"^Enterprise\s+2\.5\s+▲0\.2", rendered.text, re.MULTILINE)


def test_quarantine_section_lists_notes(rendered: RenderedReport) -> None:
    for part in (rendered.html, rendered.text):
        assert "projects_2026q3.csv" in part
        assert "0123456789ab" in part and "0123456789abcdef0" not in part
        assert "budget_eur" in part
        assert "carried forward from cycle 2026-Q2" in part
        assert "None this cycle" not in part
        assert "no evidence yet covers" in part  # footnote


def test_quarantine_section_says_none_when_empty(catalog: Catalog) -> None:
    report = render_report(report_context(catalog, score_frame(catalog, UNITS, CURRENT), None))
    assert "None this cycle" in report.html and "None this cycle" in report.text


def test_the_index_lists_every_cycle_newest_first_with_its_audiences(tmp_path: Path) -> None:
    reports_dir = tmp_path / "reports"
    for cycle_id, names in (("2026-Q2", ["stakeholders"]), ("2026-Q3", ["unit-a", "executive"])):
        for name in names:
            write_file_atomically(reports_dir / cycle_id / f"{name}.html", b"<p>report</p>")
    (reports_dir / "2026-Q4").mkdir()  # a cycle with no report yet is not listed

    path = write_index(reports_dir)

    html = path.read_text(encoding="utf-8")
    assert path == reports_dir / "index.html"
    assert html.index("2026-Q3") < html.index("2026-Q2") and "2026-Q4" not in html
    assert '<a href="2026-Q3/executive.html">executive</a>' in html
    assert html.index("2026-Q3/executive.html") < html.index("2026-Q3/unit-a.html")
    assert not list(reports_dir.rglob(".*.tmp"))  # written atomically, nothing left over


def test_data_quality_and_sources_sections(catalog: Catalog) -> None:
    quality = (
        QualityPoint("2026-Q2", accepted=8, warned=1, quarantined=1, unreachable=0),
        QualityPoint("2026-Q3", accepted=9, warned=0, quarantined=0, unreachable=1),
    )
    warning = "warning: column health, required value is empty: row 7; fix: report it"
    source = SourceNote(
        source="jira-projects",
        connector="jira",
        last_attempt=datetime(2026, 10, 1, 6, 0, tzinfo=UTC),
        reachable=False,
        error="source 'jira-projects': unreachable <b>",
        last_success=datetime(2026, 9, 1, 6, 0, tzinfo=UTC),
        age=timedelta(days=30),
        rows=1200,
    )
    report = build_report_context(
        catalog=catalog,
        cycle_id="2026-Q3",
        previous_cycle_id=None,
        scores=score_frame(catalog, UNITS, CURRENT),
        previous_scores=None,
        quarantined=(),
        stale=(),
        rubric_version="2026.3",
        generated_at=datetime(2026, 10, 1, 6, 0, tzinfo=UTC),
        sources=(source,),
        quality=quality,
        warnings=(DataQualityNote("project-exports/projects-retail.csv", (warning,)),),
    )
    rendered = render_report(report)
    for part in (rendered.html, rendered.text):
        assert "Data quality" in part or "DATA QUALITY" in part
        assert "projects-retail.csv" in part and "column health" in part
        assert "jira-projects" in part and "30 days" in part and "1200" in part
    assert "2026-Q2: 8 accepted, 1 with warnings, 1 quarantined, 0 unreachable" in rendered.text
    assert "unreachable &lt;b&gt;" in rendered.html


def test_each_capability_rolls_up_from_its_dimensions_with_its_spread(trend: ReportContext) -> None:
    rows = {row.capability_id: row for area in trend.heatmap for row in area.rows}
    overall = rows["MTI-2"].overall
    assert overall is not None
    # MTI-2 known levels now: Insurance process 2, information 3; Retail process 4
    assert overall.level_text == "3.0" and overall.detail_text.startswith("2–4")
    assert rows["SP-3"].overall is not None and rows["SP-3"].overall.level_text == "–"


# What each number rests on: marks, coverage and the movers on system evidence ------------

SURVEY_CELL = ("Wealth", "MTI-2", "process")  # Wealth's only level: the survey's


@pytest.fixture(scope="module")
def surveyed(catalog: Catalog) -> ReportContext:
    current = score_frame(catalog, UNITS, CURRENT | {SURVEY_CELL: 1}, basis={SURVEY_CELL: "survey"})
    return report_context(catalog, current, score_frame(catalog, UNITS, PREVIOUS))


def _row(report: ReportContext, capability: str) -> HeatmapRow:
    return next(
        row for area in report.heatmap for row in area.rows if row.capability_id == capability
    )


def test_a_survey_based_level_marks_every_roll_up_above_it(surveyed: ReportContext) -> None:
    units = {unit.label: unit for unit in surveyed.units}
    areas = {area.code: area for area in surveyed.areas}
    mti2 = _row(surveyed, "MTI-2")
    overall = mti2.overall
    assert overall is not None
    assert (mti2.cells[0].level_text, mti2.cells[0].marks) == ("2.3", SURVEY_MARK)  # 2, 4, 1
    assert overall.marks == SURVEY_MARK
    assert (units["Wealth"].level_text, units["Wealth"].marks) == ("1.0", SURVEY_MARK)
    assert areas["MTI"].marks == SURVEY_MARK
    assert surveyed.enterprise.marks == SURVEY_MARK
    assert surveyed.subject.startswith(
        f"BTM maturity trend report 2026-Q3: enterprise 2.2{SURVEY_MARK} ("
    )
    # what rests on systems alone carries no mark
    assert units["Retail"].marks == "" and areas["GO"].marks == ""
    assert mti2.cells[2].marks == ""  # information: Insurance's 3, on systems
    # the coverage says how many levels rest on system evidence
    assert surveyed.enterprise.coverage_text == f"6 of {3 * 17 * 4}"
    assert surveyed.enterprise.evidence_text == f"6 of {3 * 17 * 4}, 5 on systems"
    assert units["Wealth"].evidence_text == "1 of 68, 0 on systems"


def test_the_marks_and_their_legend_are_in_the_html_and_the_text(
    surveyed: ReportContext,
) -> None:
    rendered = render_report(surveyed)
    mark = rf'<span class="mark"[^>]*>{re.escape(SURVEY_MARK)}</span>'
    assert re.search(rf"2\.3{mark}", rendered.html)  # the heatmap cell
    assert re.search(rf"<td[^>]*>1\.0{mark}</td>", rendered.html)  # Wealth
    assert re.search(r"^Wealth\s+1\.0\*\s+", rendered.text, re.MULTILINE)
    assert re.search(r"^MTI-2 .* 2\.3\* \(3/3\)", rendered.text, re.MULTILINE)
    assert re.search(r"^Enterprise\s+2\.2\*\s+.*6 of 204, 5 on systems$", rendered.text, re.M)
    flowing = " ".join(rendered.text.split())  # the text part wraps its lines
    for entry in surveyed.marks_legend:
        assert entry.meaning in rendered.html and f"{entry.mark} {entry.meaning}" in flowing
    assert [entry.mark for entry in surveyed.marks_legend] == [SURVEY_MARK, LOW_MARK, "n/a"]
    assert rendered.html.count("self-assessment survey alone") == 1  # once per report


def test_a_low_mean_confidence_gets_the_low_mark(catalog: Catalog) -> None:
    low = {("Retail", "GO-1", "process"): 0.2, ("Retail", "GO-1", "technology"): 0.4}
    report = report_context(catalog, score_frame(catalog, UNITS, CURRENT, confidence=low), None)

    go1 = _row(report, "GO-1")
    assert go1.overall is not None
    assert (go1.cells[0].marks, go1.cells[3].marks, go1.overall.marks) == (LOW_MARK,) * 3
    areas = {area.code: area for area in report.areas}
    assert areas["GO"].marks == LOW_MARK and areas["MTI"].marks == ""
    # Retail: 0.2, 0.4 and 0.9 (MTI-2 process), a mean of 0.5: not below 0.5
    assert next(u for u in report.units if u.label == "Retail").marks == ""
    assert report.enterprise.marks == ""  # (0.2 + 0.4 + 3 x 0.9) / 5 = 0.66
    assert re.search(r"^GO-1 .* 1\.0~ \(1/3\)", render_report(report).text, re.MULTILINE)
    # the threshold is the rubric's, passed in
    strict = report_context(
        catalog, score_frame(catalog, UNITS, CURRENT, confidence=low), None, low_below=0.95
    )
    assert strict.enterprise.marks == LOW_MARK
    assert "below 0.95" in strict.marks_legend[1].meaning


def test_a_cell_not_applicable_is_shown_as_such_and_never_counted_as_possible(
    catalog: Catalog,
) -> None:
    not_applicable = {(unit, "SP-1", "process"): "not_applicable" for unit in UNITS}
    not_applicable[("Retail", "GO-1", "organization")] = "not_applicable"
    report = report_context(
        catalog, score_frame(catalog, UNITS, CURRENT, basis=not_applicable), None
    )

    sp1, go1 = _row(report, "SP-1"), _row(report, "GO-1")
    assert (sp1.cells[0].level_text, sp1.cells[0].detail_text) == ("n/a", "not applicable")
    assert sp1.cells[0].units_text == "0/0" and sp1.cells[1].level_text == "–"
    assert go1.cells[1].units_text == "0/2"  # Retail is left out: it does not apply there
    assert sp1.overall is not None and sp1.overall.units_text == "0/9"
    assert report.enterprise.level_text == "2.4"  # the same mean: n/a is no level
    assert report.enterprise.coverage_text == f"5 of {3 * 17 * 4 - 4}"
    assert report.enterprise.evidence_text == f"5 of {3 * 17 * 4 - 4}, 5 on systems, 4 n/a"
    retail = next(unit for unit in report.units if unit.label == "Retail")
    assert retail.coverage_text == "3 of 66"
    sp = next(area for area in report.areas if area.code == "SP")
    assert (sp.level_text, sp.coverage_text) == ("unknown", "0 of 45")
    text = render_report(report).text
    assert re.search(r"^SP-1 .* n/a \(0/0\)", text, re.MULTILINE)
    assert re.search(r"^Enterprise .* 5 of 200, 5 on systems, 4 n/a$", text, re.MULTILINE)


def test_a_unit_whose_every_cell_is_not_applicable_shows_n_a(catalog: Catalog) -> None:
    keys = [("Wealth", c, d) for c in catalog.capability_ids for d in catalog.dimension_ids]
    report = report_context(
        catalog,
        score_frame(catalog, UNITS, CURRENT, basis=dict.fromkeys(keys, "not_applicable")),
        None,
    )
    wealth = next(unit for unit in report.units if unit.label == "Wealth")
    assert (wealth.level_text, wealth.coverage_text, wealth.marks) == ("n/a", "0 of 0", "")


def test_movers_count_only_changes_on_system_evidence(catalog: Catalog) -> None:
    units = ["A", "B", "C"]
    previous = score_frame(
        catalog,
        units,
        {("A", "GO-1", "process"): 2, ("B", "SP-1", "process"): 1, ("C", "GO-2", "process"): 2},
        basis={("B", "SP-1", "process"): "survey"},
    )
    current = score_frame(
        catalog,
        units,
        # A x GO-1 falls to 1.5 only by the survey's 1 beside its unchanged 2 on systems;
        # B x SP-1 goes from the survey's 1 to 3 on systems: new on system evidence.
        {("A", "GO-1", "process"): 2, ("A", "GO-1", "technology"): 1}
        | {("B", "SP-1", "process"): 3, ("C", "GO-2", "process"): 3},
        basis={("A", "GO-1", "technology"): "survey"},
    )
    report = report_context(catalog, current, previous)

    assert [(m.unit, m.capability_id, m.change.text) for m in report.rises] == [
        ("C", "GO-2", "▲1.0")
    ]
    assert report.falls == ()
    assert report.movers_excluded == 2
    assert report.movers_excluded_text == (
        "2 changes resting on the survey are not counted as movers."
    )
    rendered = render_report(report)
    for part in (rendered.html, rendered.text):
        assert report.movers_excluded_text in part


def test_a_mover_with_a_survey_level_beside_moves_by_its_systems(catalog: Catalog) -> None:
    previous = score_frame(catalog, ["A"], {("A", "GO-1", "process"): 2})
    current = score_frame(
        catalog,
        ["A"],
        {("A", "GO-1", "process"): 4, ("A", "GO-1", "technology"): 1},
        basis={("A", "GO-1", "technology"): "survey"},
        confidence={("A", "GO-1", "process"): 0.3},
    )
    report = report_context(catalog, current, previous)

    (mover,) = report.rises
    assert (mover.before_text, mover.after_text, mover.change.text) == ("2.0", "4.0", "▲2.0")
    assert (mover.before_marks, mover.after_marks) == ("", LOW_MARK)
    assert report.movers_excluded == 0 and report.movers_excluded_text == ""


def test_frames_without_basis_or_confidence_read_as_levels_on_systems(
    catalog: Catalog,
) -> None:
    legacy = report_context(
        catalog, score_frame(catalog, UNITS, CURRENT), score_frame(catalog, UNITS, PREVIOUS)
    )
    on_systems = report_context(
        catalog,
        score_frame(catalog, UNITS, CURRENT, confidence={}),
        score_frame(catalog, UNITS, PREVIOUS, confidence={}),
    )
    marks = [legacy.enterprise.marks, *(r.marks for r in (*legacy.areas, *legacy.units))]
    assert marks == [""] * len(marks)
    assert legacy.enterprise.evidence_text == f"5 of {3 * 17 * 4}, 5 on systems"
    assert legacy.movers_excluded == 0
    assert (legacy.rises, legacy.falls) == (on_systems.rises, on_systems.falls)
    assert render_report(legacy) == render_report(on_systems)


@pytest.mark.parametrize(
    ("basis", "level", "named"),
    [("guess", 2, "column basis has guess"), ("not_applicable", 2, "has a level")],
)
def test_a_wrong_basis_names_the_column(
    catalog: Catalog, basis: str, level: int, named: str
) -> None:
    key = ("A", "GO-1", "process")
    frame = score_frame(catalog, ["A"], {key: level}, basis={key: basis})
    with pytest.raises(ValueError, match=named):
        report_context(catalog, frame, None)
