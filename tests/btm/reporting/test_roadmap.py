"""The PMO report's roadmap: the cycle's initiatives over the coming quarters, each with
its span, its state and the cells it moves, as a chart by Content-ID and a table in the
text part; the other audiences' reports do not have it.

The initiatives are written straight into the store, as the backlog, the gate and the
review leave them, and the reports rendered from it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from playwright.sync_api import Browser

from btm import store
from btm.delivery import build_message
from btm.reporting.charts import STATE_COLOURS, RoadmapBar, roadmap_chart
from btm.reporting.compose import AudienceReport, render_audience_reports
from btm.reporting.roadmap import NO_INITIATIVES_TEXT, build_roadmap
from btm.settings import Settings
from tests.browser import email_html, render
from tests.btm.reporting.test_report_in_browser import (  # the fixture: required in CI
    assert_clean,
    browser,  # noqa: F401
)
from tests.factories import stored_scores
from tests.pipeline import CATALOG, JANUARY, RUBRIC, cycle_as_of

Q1, Q2, Q3 = "2026-Q1", "2026-Q2", "2026-Q3"
UNITS = ["Insurance", "Retail Banking", "Wealth"]
LEVELS = {
    ("Insurance", "MTI-2", "process"): 2,
    ("Retail Banking", "MTI-2", "process"): 1,
    ("Wealth", "MTI-2", "process"): 3,
    ("Insurance", "GO-1", "process"): 3,
    ("Retail Banking", "GO-1", "process"): 1,
    ("Insurance", "MTI-1", "information"): 3,
    ("Retail Banking", "MTI-1", "information"): 3,
    ("Wealth", "SP-1", "technology"): 2,
    ("Retail Banking", "GO-2", "process"): 1,
}
AUDIENCES = """
audiences:
  - {id: everyone, kind: pmo}
  - {id: board, kind: executive}
"""

APPROVED = f"{Q3}-MTI-2-process"  # approved in this cycle's backlog, three quarters long
OVERDUE = f"{Q1}-GO-1-process"  # due in Q2, judged overdue again at Q3, carried on
PROPOSED = f"{Q3}-SP-1-technology"
DEFERRED = f"{Q2}-SEA-1-process"  # carried into this backlog, waiting for a decision
DROPPED = f"{Q3}-GO-2-process"
DONE = f"{Q2}-MTI-1-information"  # judged done at this cycle's scoring
DONE_BEFORE = f"{Q1}-GO-3-information"  # judged done at Q2's: not this cycle's roadmap

# the text part's rows, in the order the initiatives start: initiative, span, state, cells
ROWS = [
    (OVERDUE, f"{Q1} → {Q3} (due {Q2})", "at risk, overdue", "GO-1 process: Retail Banking to 2"),
    (DONE, f"{Q2} → {Q3}", "done", "MTI-1 information: every unit at 3"),
    (DEFERRED, f"{Q2} → 2026-Q4", "deferred", "SEA-1 process: no unit has a known level"),
    (
        APPROVED,
        f"{Q3} → 2027-Q1",
        "on track",
        "MTI-2 process: Insurance, Retail Banking to 3",
    ),
    (PROPOSED, f"{Q3} → 2027-Q2", "proposed", "SP-1 technology: Wealth to 3"),
]


def initiative(
    initiative_id: str,
    *,
    status: str,
    due: str,
    target: int = 3,
    rank: int = 1,
    approved_in: str | None = None,
    judged_in: str | None = None,
    carried_into: Sequence[str] = (),
) -> store.Initiative:
    cycle_id, capability, dimension = (
        initiative_id[:7],
        *initiative_id[8:].rsplit("-", 1),
    )
    return store.Initiative(
        id=initiative_id,
        cycle_id=cycle_id,
        rank=rank,
        priority=1.0,
        capability=capability,
        dimension=dimension,
        level=1,
        target_level=target,
        gap=1.0,
        owner="Head of PMO",
        due_cycle=due,
        status=status,
        title=f"Lift {capability} {dimension}",
        approved_in=approved_in,
        judged_in=judged_in,
        carried_into=list(carried_into),
    )


def initiatives() -> list[store.Initiative]:
    """New rows each time: a row once stored belongs to that store's session."""
    return [
        initiative(APPROVED, status="approved", due="2027-Q1", approved_in=Q3),
        initiative(
            OVERDUE,
            status="overdue",
            due=Q2,
            target=2,
            approved_in=Q1,
            judged_in=Q3,
            carried_into=[Q2, Q3],
        ),
        initiative(PROPOSED, status="proposed", due="2027-Q2", rank=2),
        initiative(DEFERRED, status="deferred", due="2026-Q4", carried_into=[Q3]),
        initiative(DROPPED, status="dropped", due="2027-Q1", rank=3),
        initiative(DONE, status="done", due="2026-Q4", approved_in=Q2, judged_in=Q3),
        initiative(DONE_BEFORE, status="done", due=Q2, approved_in=Q1, judged_in=Q2),
    ]


# the latest pulse of each: an open one shows it; a done one is done whatever it said
PULSES = [
    (date(2026, 8, 1), APPROVED, "off track"),
    (date(2026, 9, 1), APPROVED, "on track"),
    (date(2026, 9, 1), OVERDUE, "at risk"),
    (date(2026, 9, 1), DONE, "at risk"),
]


@pytest.fixture
def settings(btm_home: Path) -> Settings:
    btm_home.mkdir(parents=True, exist_ok=True)
    (btm_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    return Settings()


def scored(engine: sa.Engine, *cycle_ids: str) -> None:
    """Cycles opened and scored, straight in the store, on the same levels."""
    for cycle_id in cycle_ids:
        store.ensure_cycle(engine=engine, cycle_id=cycle_id, as_of=cycle_as_of(cycle_id))
        store.save_cycle_scores(
            engine=engine,
            cycle_id=cycle_id,
            rubric_version="2027.1",
            scores=stored_scores(CATALOG, UNITS, LEVELS, cycle_id=cycle_id),
            evidence_key=f"key-{cycle_id}",
            target_state="alignment",
        )


def reports(engine: sa.Engine, settings: Settings) -> dict[str, AudienceReport]:
    return {
        r.audience.kind: r
        for r in render_audience_reports(
            engine=engine, cycle_id=Q3, catalog=CATALOG, rubric=RUBRIC, settings=settings
        )
    }


@pytest.fixture
def with_initiatives(engine: sa.Engine, settings: Settings) -> dict[str, AudienceReport]:
    scored(engine, Q1, Q2, Q3)
    store.save_initiatives(engine=engine, initiatives=initiatives())
    for day, initiative_id, state in PULSES:
        store.save_pulses(
            engine=engine,
            as_of=day,
            pulses=[store.InitiativePulse(initiative_id=initiative_id, as_of=day, state=state)],
        )
    return reports(engine, settings)


def roadmap_section(text: str) -> str:
    start = text.index("\nROADMAP\n")
    return text[start : text.index("\nQUARANTINED EVIDENCE\n", start)]


def text_rows(text: str) -> list[tuple[str, ...]]:
    """The table's rows: initiative, span, state, cells, as columns two spaces apart."""
    return [
        tuple(re.split(r"\s{2,}", line.strip()))
        for line in roadmap_section(text).splitlines()
        if re.match(r"  \d{4}-Q\d-", line)
    ]


def html_section(html: str) -> str:
    start = html.index("Roadmap</h2>")
    return html[start : html.index("<h2", start)]


# the rendered reports -----------------------------------------------------------------


def test_the_pmo_text_part_lists_each_initiative_with_its_span_state_and_cells(
    with_initiatives: dict[str, AudienceReport],
) -> None:
    text = with_initiatives["pmo"].email.text

    assert text_rows(text) == ROWS
    section = roadmap_section(text)
    assert re.search(r"\n  Initiative\s{2,}Span\s{2,}State\s{2,}Cells it moves\n", section)
    assert "2026-Q1 to 2027-Q2" in " ".join(section.split())  # the quarters shown
    for absent in (DROPPED, DONE_BEFORE):
        assert absent not in text and absent not in with_initiatives["pmo"].email.html


def test_the_pmo_html_shows_the_chart_by_content_id_and_the_same_table(
    with_initiatives: dict[str, AudienceReport],
) -> None:
    email = with_initiatives["pmo"].email
    section = html_section(email.html)

    assert re.search(r'<img[^>]* src="cid:roadmap@btm"', section)
    (chart,) = [c for c in email.images if c.name == "roadmap"]
    assert chart.png.startswith(b"\x89PNG\r\n\x1a\n") and len(chart.png) < 60_000
    assert f'alt="{chart.alt}"' in section.replace("&#39;", "'")
    assert "5 initiatives from 2026-Q1 to 2027-Q2; this report's quarter is 2026-Q3" in chart.alt
    assert "GO-1 process: 2026-Q1 to 2026-Q3, at risk, overdue from 2026-Q2." in chart.alt
    cells = re.findall(r"<tr[^>]*>\s*<td[^>]*>(.*?)</tr>", section, flags=re.S)
    assert len(cells) == len(ROWS)
    for row, (initiative_id, span, state, moves) in zip(cells, ROWS, strict=True):
        span, _, due = span.partition(" (")  # the due cycle on a line of its own
        assert initiative_id in row and span in row and due.rstrip(")") in row and moves in row
        assert re.search(rf"<td[^>]*>{re.escape(state)}</td>", row)
    # the standalone copy carries the chart itself, not a reference to a part
    standalone = html_section(with_initiatives["pmo"].standalone.html)
    assert "cid:" not in standalone and 'src="data:image/png;base64,' in standalone


def test_the_chart_travels_in_the_email_as_the_png_part_the_html_names(
    with_initiatives: dict[str, AudienceReport],
) -> None:
    rendered = with_initiatives["pmo"].email
    message = build_message(rendered, sender="btm@example.org", recipients=["pmo@example.org"])

    parts = {
        str(p["Content-ID"]).strip("<>"): p
        for p in message.walk()
        if p["Content-ID"] and not p.is_multipart()
    }
    part = parts["roadmap@btm"]
    assert isinstance(part, EmailMessage) and part.get_content_type() == "image/png"
    chart = next(c for c in rendered.images if c.name == "roadmap")
    assert part.get_payload(decode=True) == chart.png


def test_the_executive_report_has_no_roadmap(
    with_initiatives: dict[str, AudienceReport],
) -> None:
    executive = with_initiatives["executive"]

    assert executive.view.roadmap is None
    assert "ROADMAP" not in executive.email.text and "Roadmap</h2>" not in executive.email.html
    assert all(c.name != "roadmap" for c in executive.email.images)


def test_without_initiatives_the_roadmap_says_so_in_one_line_and_draws_no_chart(
    engine: sa.Engine, settings: Settings
) -> None:
    scored(engine, Q3)

    email = reports(engine, settings)["pmo"].email

    assert f"\nROADMAP\n{NO_INITIATIVES_TEXT}\n" in email.text
    section = html_section(email.html)
    assert NO_INITIATIVES_TEXT in section and "<img" not in section and "<table" not in section
    assert all(c.name != "roadmap" for c in email.images)
    assert "cid:roadmap" not in email.html


# the roadmap's rules, on initiatives alone ---------------------------------------------


def test_a_span_past_the_horizon_is_cut_there_and_runs_on() -> None:
    scores = stored_scores(CATALOG, UNITS, LEVELS, cycle_id=Q3)
    far = initiative(APPROVED, status="approved", due="2029-Q2", approved_in=Q3)

    roadmap = build_roadmap([far], cycle_id=Q3, pulses={}, scores=scores, calendar=JANUARY)

    assert roadmap.quarters[0] == Q3 and roadmap.quarters[-1] == "2028-Q1"  # six ahead
    assert len(roadmap.quarters) == 7
    (line,) = roadmap.lines
    assert (line.start, line.end, line.runs_on) == (Q3, "2028-Q1", True)
    assert line.span_text == f"{Q3} → 2029-Q2"  # the table says where it really ends
    assert (line.state, line.state_text, line.tentative) == ("approved", "approved", False)


def test_an_overdue_initiative_judged_at_its_due_cycle_ends_at_this_quarter() -> None:
    late = initiative(OVERDUE, status="overdue", due=Q3, approved_in=Q1, judged_in=Q3)

    (line,) = build_roadmap([late], cycle_id=Q3, pulses={}, scores=[], calendar=JANUARY).lines

    assert (line.start, line.end, line.overdue_from) == (Q1, Q3, Q3)
    assert (line.state_text, line.span_due_text) == ("overdue", f"{Q1} → {Q3} (due {Q3})")
    assert line.cells_text == "GO-1 process: no unit has a known level"


def test_the_chart_refuses_a_bar_outside_its_quarters_or_of_an_unknown_state() -> None:
    quarters = [Q1, Q2, Q3]
    with pytest.raises(ValueError, match="2026-Q4 is not one of the roadmap's quarters"):
        roadmap_chart(quarters, [RoadmapBar("x", Q1, "2026-Q4", "done")], current=Q3)
    with pytest.raises(ValueError, match="no colour for state 'late'"):
        roadmap_chart(quarters, [RoadmapBar("x", Q1, Q2, "late")], current=Q3)
    with pytest.raises(ValueError, match="before it starts"):
        roadmap_chart(quarters, [RoadmapBar("x", Q2, Q1, "done")], current=Q3)
    assert set(STATE_COLOURS) >= {"on track", "at risk", "off track", "no evidence", "done"}


# as a reader sees it ------------------------------------------------------------------


def test_the_roadmap_renders_in_chromium_at_the_emails_width(
    with_initiatives: dict[str, AudienceReport],
    browser: Browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    rendered = with_initiatives["pmo"].email
    message = build_message(rendered, sender="btm@example.org", recipients=["pmo@example.org"])

    rendering = render(browser, email_html(message), out=tmp_path / "roadmap.png", width=600)

    assert_clean(rendering)  # no error, and no request: the chart came from its part
    for shown in ("Roadmap", "2026-Q1 → 2026-Q3", "due 2026-Q2", "at risk, overdue"):
        assert shown in rendering.body_text
    assert rendering.scroll_width <= 600
