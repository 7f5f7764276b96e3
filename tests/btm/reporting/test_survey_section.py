"""The self-assessment section of the PMO's and the area owners' reports: the campaign's
response rate per unit, and per cell what the unit says beside what its systems show, the
widest gap first; the executive's and the units' reports do not have it."""

from __future__ import annotations

import re
from datetime import date, timedelta
from html import escape
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import sqlalchemy as sa

from btm import pipeline, store
from btm.evidence.sources import survey_returns
from btm.reporting.audiences import Audience, AudienceView, build_view, level_history
from btm.reporting.compose import (
    AudienceReport,
    cycle_campaign,
    render_audience_reports,
    render_view,
)
from btm.reporting.self_assessment import (
    DIVERGENCES_SHOWN,
    NO_CAMPAIGN_TEXT,
    CellOpinion,
    cell_opinion,
    rate_lines,
    self_assessment_section,
)
from btm.scoring.survey import SurveyOpinion
from btm.settings import Settings
from btm.survey.campaign import open_campaign
from btm.survey.responses import CampaignStatus, InviteeStatus
from btm.survey.workbook import ANSWER_COLUMN, FIRST_QUESTION_ROW
from tests.btm.survey.test_campaign import write_respondents
from tests.factories import report_context, stored_scores
from tests.pipeline import CATALOG, RUBRIC

EVIL = "Evil <script>alert(1)</script> Unit"
UNITS = [EVIL, "Insurance", "Retail", "Wealth"]
Key = tuple[str, str, str]
# (says, systems show) of each cell the survey speaks of
WIDEST = (EVIL, "MTI-3", "process")  # says 5, systems 2: no survey entry in its trace
OUTSIDE = ("Retail", "GO-1", "process")  # says 4, systems 1: not an MTI cell
ABOVE = ("Retail", "MTI-2", "process")  # says 4, systems 2
BELOW = ("Insurance", "MTI-1", "information")  # says 2, systems 3
AGREE = ("Insurance", "MTI-2", "process")  # says 2, systems 2
ALONE = ("Wealth", "MTI-2", "information")  # says 3; no system evidence judged it
SYSTEMS = {WIDEST: 2, OUTSIDE: 1, ABOVE: 2, BELOW: 3, AGREE: 2}
SAYS = {WIDEST: 5, OUTSIDE: 4, ABOVE: 4, BELOW: 2, AGREE: 2, ALONE: 3}
# the order the PMO reads them: the widest gap first, then by unit, in catalogue order
PMO_ROWS = [
    (EVIL, "MTI-3", "Process", 5, 2, "+3"),
    ("Retail", "GO-1", "Process", 4, 1, "+3"),
    ("Retail", "MTI-2", "Process", 4, 2, "+2"),
    ("Insurance", "MTI-1", "Information", 2, 3, "-1"),
]
MTI_ROWS = [row for row in PMO_ROWS if row[1].startswith("MTI")]


def _opinion(says: int, system_level: int | None) -> dict[str, Any]:
    return SurveyOpinion(
        float(says), 3, 20, 0.75, says, 1, alone=system_level is None, system_level=system_level
    ).to_json()


def _scores(cycle_id: str = "2026-Q3") -> list[store.Score]:
    """Stored as the pipeline stores them: blended where the survey is beside a system
    level, survey where it alone gives one; `says` beside every one."""
    scores = stored_scores(
        CATALOG,
        UNITS,
        {**SYSTEMS, ALONE: 1},
        basis={**dict.fromkeys(SYSTEMS, "blended"), ALONE: "survey"},
        traces={
            **{key: [_opinion(SAYS[key], level)] for key, level in SYSTEMS.items()},
            ALONE: [_opinion(SAYS[ALONE], None)],
            WIDEST: [],  # the says column and the blended basis alone tell the levels
        },
        cycle_id=cycle_id,
    )
    for score in scores:
        score.says = SAYS.get((score.unit, score.capability, score.dimension))
    return scores


def _invitee(unit: str, role: str, answered: int) -> InviteeStatus:
    name = f"{role} of {unit}"
    return InviteeStatus(name, unit, role, name, f"{role}@example.org", True, answered, 1)


CAMPAIGN = CampaignStatus(
    campaign_id="2026-Q3-ab12cd",
    cycle_id="2026-Q3",
    closes_on=date(2026, 9, 20),
    open=False,
    invitees=(
        _invitee(EVIL, "pmo", 12),
        _invitee("Retail", "executive", 0),
        _invitee("Retail", "pmo", 9),
    ),
    quarantined=(),
)
AUDIENCES = [
    Audience(id="everyone", kind="pmo"),
    Audience(id="area-mti", kind="area_owner", area="MTI"),
    Audience(id="board", kind="executive"),
    Audience(id="unit-retail", kind="business_unit", unit="Retail"),
]


def _views(campaign: CampaignStatus | None) -> dict[str, AudienceView]:
    scores = _scores()
    report = report_context(CATALOG, store.scores_frame(scores), None)
    history = level_history([("2026-Q3", scores)], CATALOG)
    return {
        a.kind: build_view(
            a, report=report, scores=scores, history=history, catalog=CATALOG, campaign=campaign
        )
        for a in AUDIENCES
    }


@pytest.fixture(scope="module")
def views() -> dict[str, AudienceView]:
    return _views(CAMPAIGN)


def _rendered(view: AudienceView) -> tuple[str, str]:
    rendered = render_view(view)
    return rendered.html, rendered.text


def _section(html: str) -> str:
    """The HTML of the self-assessment section, up to the next section's heading."""
    start = html.index("Self-assessment</h2>")
    end = html.find("<h2", start)
    return html[start : end if end > 0 else len(html)]


def _text_rows(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if re.match(r"\s+[+-]\d\s", line)]


def _row_text(row: tuple[str, str, str, int, int, str]) -> str:
    unit, capability, dimension, says, systems, gap = row
    name = CATALOG.capability(capability).name
    return (
        f"{gap:<4}{unit} / {capability} {name} / {dimension}: says {says}, systems show {systems}"
    )


# the system level of a cell, and what is left out ------------------------------------


def test_the_system_level_is_the_scorings_record_else_a_level_on_system_evidence() -> None:
    scores = {(s.unit, s.capability, s.dimension): s for s in _scores()}

    assert cell_opinion(scores[ABOVE]) == CellOpinion(4, 2)  # from the trace: 4 - divergence 2
    assert cell_opinion(scores[BELOW]) == CellOpinion(2, 3)
    assert cell_opinion(scores[WIDEST]) == CellOpinion(5, 2)  # blended: the level is the systems'
    assert cell_opinion(scores[ALONE]) == CellOpinion(3, None)  # the survey gave the level
    assert cell_opinion(scores[("Retail", "MTI-1", "process")]) is None  # no survey there
    legacy = store.Score(
        cycle_id="2026-Q3",
        unit="Retail",
        capability="MTI-1",
        dimension="process",
        level=1,
        says=4,
        rubric_version="2026.3",
        trace=[{"rule": "survey", "says": 4, "level": 1}],  # no divergence, no basis
    )
    assert cell_opinion(legacy) == CellOpinion(4, None)  # never an invented system level


def test_the_cells_are_sorted_by_the_widest_gap_and_the_rest_are_counted() -> None:
    section = self_assessment_section(_scores(), CATALOG, CAMPAIGN)

    assert [
        (d.unit, d.capability_id, d.dimension, d.says, d.systems, d.gap_text)
        for d in section.divergences
    ] == PMO_ROWS
    assert [d.gap for d in section.divergences] == [3, 3, 2, -1]
    assert section.more_text == ""
    assert section.agreement_text == (
        "5 cells have both a survey level and a level on system evidence: "
        "2 within one level of each other, 1 the same."
    )
    shorter = self_assessment_section(_scores(), CATALOG, CAMPAIGN, shown=2)
    assert [d.gap_text for d in shorter.divergences] == ["+3", "+3"]
    assert shorter.more_text == "And 2 more cells where they disagree."


def test_an_area_has_only_its_own_cells() -> None:
    section = self_assessment_section(_scores(), CATALOG, CAMPAIGN, area="MTI")

    assert [(d.unit, d.capability_id, d.gap_text) for d in section.divergences] == [
        (EVIL, "MTI-3", "+3"),
        ("Retail", "MTI-2", "+2"),
        ("Insurance", "MTI-1", "-1"),
    ]
    assert section.agreement_text.startswith("4 cells have both")
    governance = self_assessment_section(_scores(), CATALOG, CAMPAIGN, area="GO")
    assert [(d.unit, d.capability_id) for d in governance.divergences] == [("Retail", "GO-1")]


def test_the_email_lists_at_most_fifteen_cells_and_says_how_many_more() -> None:
    many = stored_scores(
        CATALOG,
        ["Retail"],
        {("Retail", c, d): 1 for c in CATALOG.capability_ids for d in CATALOG.dimension_ids},
    )
    for score in many:
        score.basis, score.says = "blended", 3

    section = self_assessment_section(many, CATALOG, None)

    assert len(section.divergences) == DIVERGENCES_SHOWN == 15
    assert section.more_text == f"And {len(many) - 15} more cells where they disagree."


def test_the_rates_are_per_unit_over_all_its_roles() -> None:
    assert [(r.unit, r.answered, r.invited, r.rate_text) for r in rate_lines(CAMPAIGN)] == [
        (EVIL, 1, 1, "100 %"),
        ("Retail", 1, 2, "50 %"),
    ]
    assert rate_lines(None) == ()


# the rendered reports ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["pmo", "area_owner"])
def test_the_pmo_and_the_area_owner_read_the_rates_and_the_gaps_in_html_and_text(
    views: dict[str, AudienceView], kind: str
) -> None:
    html, text = _rendered(views[kind])
    rows = PMO_ROWS if kind == "pmo" else MTI_ROWS

    assert "SELF-ASSESSMENT" in text and "Self-assessment</h2>" in html
    for part in (html, text):
        assert "Campaign 2026-Q3-ab12cd closed on 2026-09-20." in part
        assert "2 of 3 invitees answered (67 %)." in part
    assert re.search(r"\n  Evil <script>alert\(1\)</script> Unit\s+1 / 1\s+100 %\n", text)
    assert re.search(r"\n  Retail\s+1 / 2\s+50 %\n", text)
    assert _text_rows(text) == [_row_text(row) for row in rows]
    section = _section(html)
    assert re.findall(r">([+-]\d)</td>", section) == [row[5] for row in rows]
    places = [section.index(f"{row[1]}</span> {CATALOG.capability(row[1]).name}") for row in rows]
    assert places == sorted(places)
    assert re.search(r">1 / 2</td>[^<]*<td[^>]*>50 %</td>", section)
    for capability in ("MTI-3", "MTI-2", "MTI-1"):
        assert capability in section
    assert ("GO-1</span>" in section) is (kind == "pmo")
    assert ("Retail / GO-1" in text) is (kind == "pmo")
    # a unit's name stays text in the HTML, and shows as it is in the plain text
    assert escape(EVIL) in section and EVIL not in html
    assert f"{EVIL} / MTI-3" in text


def test_the_area_owner_reads_only_the_cells_of_its_area(views: dict[str, AudienceView]) -> None:
    view = views["area_owner"]
    assert view.self_assessment is not None
    assert {d.capability_id for d in view.self_assessment.divergences} == {
        "MTI-1",
        "MTI-2",
        "MTI-3",
    }
    _, text = _rendered(view)
    assert "the cells of Managing Technology Investments" in " ".join(text.split())


def test_without_a_campaign_the_section_says_so_and_still_shows_the_gaps() -> None:
    views = _views(None)
    for kind in ("pmo", "area_owner"):
        html, text = _rendered(views[kind])
        for part in (html, text):
            assert NO_CAMPAIGN_TEXT in part
            assert "invitees answered" not in part
        assert "Answered / invited" not in html and "Response rate per unit" not in text
        assert _text_rows(text)[0] == _row_text(PMO_ROWS[0])


def test_the_executive_and_the_unit_reports_are_unchanged(
    views: dict[str, AudienceView],
) -> None:
    without = _views(None)
    for kind in ("executive", "business_unit"):
        assert views[kind].self_assessment is None
        html, text = _rendered(views[kind])
        assert (html, text) == _rendered(without[kind])
        assert "Self-assessment" not in html and "SELF-ASSESSMENT" not in text
        assert "invitees answered" not in html + text


# from the store: the cycle's campaign and who answered it ----------------------------

PEOPLE = [
    ("Retail", "pmo", "Ana Lima", "ana.lima@example.com"),
    ("Retail", "executive", "Bo Chen", "bo.chen@example.com"),
]
STORED_AUDIENCES = """
audiences:
  - {id: everyone, kind: pmo}
  - {id: area-mti, kind: area_owner, area: MTI}
  - {id: board, kind: executive}
  - {id: unit-retail, kind: business_unit, unit: Retail}
"""


def _save(engine: sa.Engine, cycle_id: str) -> None:
    store.save_cycle_scores(
        engine=engine,
        cycle_id=cycle_id,
        rubric_version="2027.1",
        scores=_scores(cycle_id),
        evidence_key=f"key-{cycle_id}",
        target_state="alignment",
    )


def test_the_reports_of_a_stored_cycle_show_who_answered_its_own_campaign(
    btm_home: Path,
) -> None:
    btm_home.mkdir(parents=True)
    write_respondents(btm_home, PEOPLE)
    (btm_home / "audiences.yaml").write_text(STORED_AUDIENCES, encoding="utf-8")
    run = pipeline.setup(Settings(home=btm_home))
    # an earlier cycle, scored, without a campaign
    store.ensure_cycle(engine=run.engine, cycle_id="2026-Q2", as_of=date(2026, 6, 30))
    _save(run.engine, "2026-Q2")
    assert cycle_campaign(engine=run.engine, cycle_id="2026-Q2") is None
    # this cycle's campaign: one of the two Retail invitees answers
    opened = open_campaign(run, "2026-Q3", closes_on=date.today() + timedelta(days=30))
    (sent,) = opened.folder.glob("*ana.lima-example.com*.xlsx")
    workbook = openpyxl.load_workbook(sent)
    workbook["Questionnaire"][f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW}"] = 3
    (opened.folder / "returned").mkdir()
    workbook.save(opened.folder / "returned" / sent.name)
    pipeline.gather(run, "2026-Q3", [survey_returns()])
    _save(run.engine, "2026-Q3")

    reports: dict[str, AudienceReport] = {
        r.audience.kind: r
        for r in render_audience_reports(
            engine=run.engine,
            cycle_id="2026-Q3",
            catalog=CATALOG,
            rubric=RUBRIC,
            settings=run.settings,
        )
    }

    for kind, rows in (("pmo", PMO_ROWS), ("area_owner", MTI_ROWS)):
        html, text = reports[kind].email.html, reports[kind].email.text
        opening = f"Campaign {opened.campaign_id} is open until {opened.closes_on.isoformat()}."
        for part in (html, text):
            assert opening in part and "1 of 2 invitees answered (50 %)." in part
        assert re.search(r"\n  Retail\s+1 / 2\s+50 %\n", text)
        assert _text_rows(text) == [_row_text(row) for row in rows]
        assert re.findall(r">([+-]\d)</td>", _section(html)) == [row[5] for row in rows]
    for kind in ("executive", "business_unit"):
        assert "SELF-ASSESSMENT" not in reports[kind].email.text
        assert "Self-assessment</h2>" not in reports[kind].email.html
    # the earlier cycle's reports name no campaign: the campaign is the scored cycle's
    earlier = render_audience_reports(
        engine=run.engine,
        cycle_id="2026-Q2",
        catalog=CATALOG,
        rubric=RUBRIC,
        settings=run.settings,
        only="everyone",
    )[0]
    assert NO_CAMPAIGN_TEXT in earlier.email.text and opened.campaign_id not in earlier.email.text
