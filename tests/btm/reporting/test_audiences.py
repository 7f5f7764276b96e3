"""Audiences: the file that names them, each one's report, the standalone copies with
their index, and one delivery per recipient that a re-run never repeats."""

import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from html import escape
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from btm import store
from btm.delivery import deliver_cycle_reports
from btm.errors import ConfigurationError
from btm.reporting.audiences import (
    Audience,
    AudienceView,
    build_view,
    level_history,
    load_audiences,
)
from btm.reporting.compose import render_audience_reports, render_view
from btm.reporting.context import LOW_MARK, SURVEY_MARK
from btm.scoring.engine import CellScore
from btm.scoring.survey import SurveyOpinion
from btm.settings import Settings
from btm.vocabulary import Basis
from tests.conftest import KeepingHandler, body_text
from tests.factories import (
    CURRENT,
    PREVIOUS,
    report_context,
    rows,
    stored_scores,
    write_csv,
    write_quarter,
)
from tests.pipeline import CATALOG, RUBRIC, run_cycle

SCRIPT = "<script>alert(1)</script>"
EVIL_UNIT = f"Evil {SCRIPT} Unit"
AUDIENCES = f"""
audiences:
  - {{id: everyone, kind: pmo, recipients: [pmo@example.org]}}
  - {{id: board, kind: executive, recipients: [cio@example.org, cfo@example.org]}}
  - {{id: area-mti, kind: area_owner, area: MTI, recipients: [mti@example.org]}}
  - id: unit-evil
    kind: business_unit
    unit: "{EVIL_UNIT}"
    recipients: [evil@example.org]
"""


@pytest.fixture
def settings(btm_home: Path) -> Settings:
    btm_home.mkdir(parents=True, exist_ok=True)
    (btm_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    return Settings()


def _evil_quarter(inbox: Path) -> Path:
    write_quarter(inbox, case_share=0.6)
    investments = rows("investments", 10, business_unit=EVIL_UNIT)
    for i, record in enumerate(investments):
        record["investment_id"] = f"INV-E-{i}"
    write_csv(inbox / "investments-evil.csv", investments)
    projects = rows("projects", 5, business_unit=EVIL_UNIT)
    for i, record in enumerate(projects):
        record["project_id"] = f"PRJ-E-{i}"
        record["investment_id"] = f"INV-E-{i}"
        record["name"] = f"Project {SCRIPT}"
    write_csv(inbox / "projects-evil.csv", projects)
    return inbox


def _messages(settings: Settings) -> dict[str, EmailMessage]:
    return {
        p.name: message_from_bytes(p.read_bytes(), policy=policy.default)
        for p in sorted(settings.outbox_dir.glob("*.eml"))
    }


def test_every_audience_gets_its_report_one_message_per_recipient(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    delivered = run_cycle("2026-Q1", _evil_quarter(tmp_path / "q1"), engine, settings)

    assert [(d.audience, d.sent) for d in delivered.audiences] == [
        ("everyone", ("pmo@example.org",)),
        ("board", ("cio@example.org", "cfo@example.org")),
        ("area-mti", ("mti@example.org",)),
        ("unit-evil", ("evil@example.org",)),
    ]
    messages = _messages(settings)
    assert len(messages) == 5 and all(len(m.get_all("To", [])) == 1 for m in messages.values())
    board = messages["2026-Q1-board-cio-example-org.eml"]
    assert board["Subject"].startswith("BTM executive summary 2026-Q1")
    text = body_text(board, "plain")
    assert "TARGET-STATE READINESS: ALIGNMENT" in text and "MATURITY OVER TIME" in text
    area = messages["2026-Q1-area-mti-mti-example-org.eml"]
    area_html = body_text(area, "html")
    assert "Managing Technology Investments" in area_html and "GO-1" not in area_html
    assert "Reasons and next steps" in area_html

    # the standalone copies, with every rule's trace, and the index of them all
    for audience in ("everyone", "board", "area-mti", "unit-evil"):
        page = (settings.reports_dir / "2026-Q1" / f"{audience}.html").read_text()
        assert "Rule traces" in page and "cid:" not in page
    index = (settings.reports_dir / "index.html").read_text()
    assert '<a href="2026-Q1/board.html">board</a>' in index


def test_a_name_with_a_script_tag_is_escaped_in_every_output(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_cycle("2026-Q1", _evil_quarter(tmp_path / "q1"), engine, settings)

    pages = [p.read_text() for p in (settings.reports_dir / "2026-Q1").glob("*.html")]
    htmls = [body_text(m, "html") for m in _messages(settings).values()]
    for html in (*pages, *htmls):
        assert SCRIPT not in html
    unit_page = (settings.reports_dir / "2026-Q1" / "unit-evil.html").read_text()
    assert "Evil &lt;script&gt;alert(1)&lt;/script&gt; Unit" in unit_page
    texts = [body_text(m, "plain") for m in _messages(settings).values()]
    assert any(EVIL_UNIT.upper() in t or EVIL_UNIT in t for t in texts)  # text shows it as is


def test_rerunning_a_delivered_cycle_sends_nothing_new(
    engine: sa.Engine,
    btm_home: Path,
    tmp_path: Path,
    smtp_settings: KeepingHandler,
) -> None:
    btm_home.mkdir(parents=True, exist_ok=True)
    (btm_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    settings = Settings()
    inbox = _evil_quarter(tmp_path / "q1")

    run_cycle("2026-Q1", inbox, engine, settings)
    sent = len(smtp_settings.envelopes)
    again = run_cycle("2026-Q1", inbox, engine, settings, force=True)

    assert sent == 5 and len(smtp_settings.envelopes) == 5
    assert all(d.sent == () for d in again.audiences)
    with store.session_scope(engine) as session:
        ledger = store.get_deliveries(session=session, cycle_id="2026-Q1")
    assert sorted((d.audience, d.recipient) for d in ledger) == [
        ("area-mti", "mti@example.org"),
        ("board", "cfo@example.org"),
        ("board", "cio@example.org"),
        ("everyone", "pmo@example.org"),
        ("unit-evil", "evil@example.org"),
    ]


def test_a_dry_run_renders_the_reports_and_sends_nothing(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_cycle("2026-Q1", _evil_quarter(tmp_path / "q1"), engine, settings)
    reports = render_audience_reports(
        engine=engine, cycle_id="2026-Q1", catalog=CATALOG, rubric=RUBRIC, settings=settings
    )
    with store.session_scope(engine) as session:
        store.get_deliveries(session=session, cycle_id="2026-Q1")
        session.exec(sa.delete(store.Delivery))
        session.commit()
    before = sorted(settings.outbox_dir.glob("*.eml"))

    dry = deliver_cycle_reports(
        reports, engine=engine, cycle_id="2026-Q1", settings=settings, dry_run=True
    )

    assert dry.dry_run and all(d.sent == () for d in dry.audiences)
    assert sorted(settings.outbox_dir.glob("*.eml")) == before
    with store.session_scope(engine) as session:
        assert store.get_deliveries(session=session, cycle_id="2026-Q1") == []
    assert (settings.reports_dir / "2026-Q1" / "board.html").exists()


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("audiences: [{id: Board, kind: executive}]", "lower-case letters"),
        ("audiences: [{id: a, kind: boss}]", "kind"),
        ("audiences: [{id: a, kind: area_owner, area: XX}]", "names its area"),
        ("audiences: [{id: a, kind: business_unit}]", "names its unit"),
        ("audiences: [{id: a, kind: pmo, recipients: [nobody]}]", "not an email address"),
        ("audiences: [{id: a, kind: pmo}, {id: a, kind: executive}]", "used twice"),
        ("audiences: [{id: a, kind: pmo, colour: red}]", "colour"),
    ],
)
def test_a_mistake_in_the_audiences_file_names_the_file_and_the_entry(
    btm_home: Path, text: str, named: str
) -> None:
    btm_home.mkdir(parents=True, exist_ok=True)
    path = btm_home / "audiences.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        load_audiences(Settings(), CATALOG)

    assert str(caught.value).startswith(str(path)) and named in str(caught.value)


def test_without_an_audiences_file_the_full_report_goes_to_report_to(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_REPORT_TO", "a@example.org, b@example.org")

    (audience,) = load_audiences(Settings(), CATALOG)

    assert (audience.id, audience.kind) == ("stakeholders", "pmo")
    assert audience.recipients == ["a@example.org", "b@example.org"]


def test_the_mime_tree_received_over_smtp_resolves_every_chart_and_carries_the_numbers(
    engine: sa.Engine,
    btm_home: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_settings: KeepingHandler,
) -> None:
    monkeypatch.setenv("BTM_REPORT_BASE_URL", "https://reports.example.org/btm/")
    settings = Settings()

    delivered = run_cycle(
        "2026-Q1", write_quarter(tmp_path / "q1", case_share=0.6), engine, settings
    )

    (envelope,) = smtp_settings.envelopes
    assert envelope.original_content is not None
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received.get_content_type() == "multipart/alternative"
    plain, related = received.iter_parts()
    assert (plain.get_content_type(), related.get_content_type()) == (
        "text/plain",
        "multipart/related",
    )
    html_part, *images = related.iter_parts()
    assert html_part.get_content_type() == "text/html" and images
    assert all(i.get_content_type() == "image/png" for i in images)
    html = html_part.get_content()
    text = plain.get_content()
    referenced = set(re.findall(r'src="cid:([^"]+)"', html))
    attached = {str(i["Content-ID"]).strip("<>") for i in images}
    assert referenced and referenced == attached
    for image in images:
        png = image.get_payload(decode=True)
        assert isinstance(png, bytes) and png.startswith(b"\x89PNG")
        name = str(image["Content-ID"]).strip("<>")
        assert re.search(rf'src="cid:{re.escape(name)}"[^>]* alt="[^"]+\d', html) or re.search(
            rf'alt="[^"]+\d[^"]*"[^>]* src="cid:{re.escape(name)}"', html
        ), f"{name} has alt text with its numbers"
    # the text twin carries the same numbers as the HTML
    context = delivered.audiences[0]
    report = render_audience_reports(
        engine=engine, cycle_id="2026-Q1", catalog=CATALOG, rubric=RUBRIC, settings=settings
    )[0].view.report
    for number in (report.enterprise.level_text, *(a.level_text for a in report.areas)):
        assert number in text and number in html
    # the standalone copy is linked from the email where a base URL is configured
    link = "https://reports.example.org/btm/2026-Q1/stakeholders.html"
    assert f'href="{link}"' in html and link in text
    assert context.report_path == settings.reports_dir / "2026-Q1" / "stakeholders.html"


def test_a_refused_recipient_is_reported_and_served_on_the_next_run(
    engine: sa.Engine,
    btm_home: Path,
    tmp_path: Path,
    smtp_settings: KeepingHandler,
) -> None:
    btm_home.mkdir(parents=True, exist_ok=True)
    (btm_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    settings = Settings()
    smtp_settings.refused.add("cfo@example.org")
    inbox = write_quarter(tmp_path / "q1", case_share=0.6)

    first = run_cycle("2026-Q1", inbox, engine, settings)

    (failed,) = first.failed
    assert failed.startswith("cfo@example.org: ") and "refused" in failed
    assert len(smtp_settings.envelopes) == 4  # everyone else was served
    smtp_settings.refused.clear()

    again = run_cycle("2026-Q1", inbox, engine, settings)

    assert [d.sent for d in again.audiences if d.sent] == [("cfo@example.org",)]
    assert len(smtp_settings.envelopes) == 5


def test_report_preview_writes_each_audience_and_sends_nothing(
    engine: sa.Engine, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from btm.cli import app

    run_cycle("2026-Q1", _evil_quarter(tmp_path / "q1"), engine, settings)
    monkeypatch.setenv("BTM_DATABASE_URL", str(engine.url.render_as_string(hide_password=False)))
    sent = sorted(settings.outbox_dir.glob("*.eml"))

    result = CliRunner().invoke(app, ["report", "preview", "--audience", "board"])

    assert result.exit_code == 0, result.output
    preview = settings.reports_dir / "preview" / "2026-Q1" / "board.html"
    assert str(preview) in result.output.replace("\n", "") and "Rule traces" in preview.read_text()
    assert sorted(settings.outbox_dir.glob("*.eml")) == sent


# Marks, coverage and the survey in each audience's view, on hand-made stored scores ----

UNITS = ["Insurance", "Retail", "Wealth"]
ALONE = ("Wealth", "MTI-2", "process")  # the survey alone gives Wealth its only level
BESIDE = ("Retail", "MTI-2", "process")  # 4 on systems; the unit says 2
NOWHERE = [(unit, "MTI-1", "organization") for unit in UNITS]  # applies to no unit
NOT_HERE = ("Insurance", "MTI-1", "process")
REASON = "not applicable: projects run is 0, applies when projects run >= 1"


def _opinion(says: int, system_level: int | None) -> dict[str, Any]:
    return SurveyOpinion(
        float(says), 4, 30, 0.5, says, 1, alone=system_level is None, system_level=system_level
    ).to_json()


def _not_applicable(key: tuple[str, str, str]) -> list[dict[str, Any]]:
    return CellScore(*key, None, (), Basis.NOT_APPLICABLE, reason=REASON).trace()


@pytest.fixture(scope="module")
def views() -> dict[str, AudienceView]:
    not_applicable = [NOT_HERE, *NOWHERE]
    current = stored_scores(
        CATALOG,
        UNITS,
        CURRENT | {ALONE: 1},
        basis={ALONE: "survey", BESIDE: "blended"}
        | dict.fromkeys(not_applicable, "not_applicable"),
        confidence={ALONE: 0.3},
        traces={ALONE: [_opinion(3, None)], BESIDE: [_opinion(2, 4)]}
        | {key: _not_applicable(key) for key in not_applicable},
    )
    # Wealth x MTI-2 was the survey's 2: its fall to 1 rests on the survey alone
    earlier = ("Wealth", "MTI-2", "information")
    previous = stored_scores(
        CATALOG, UNITS, PREVIOUS | {earlier: 2}, basis={earlier: "survey"}, cycle_id="2026-Q2"
    )
    report = report_context(CATALOG, store.scores_frame(current), store.scores_frame(previous))
    history = level_history([("2026-Q2", previous), ("2026-Q3", current)], CATALOG)
    audiences = [
        Audience(id="everyone", kind="pmo"),
        Audience(id="board", kind="executive"),
        Audience(id="area-mti", kind="area_owner", area="MTI"),
        Audience(id="unit-wealth", kind="business_unit", unit="Wealth"),
    ]
    return {
        a.kind: build_view(a, report=report, scores=current, history=history, catalog=CATALOG)
        for a in audiences
    }


def _both(view: AudienceView, *, standalone: bool = False) -> tuple[str, str]:
    rendered = render_view(view, standalone=standalone)
    return rendered.html, " ".join(rendered.text.split())


def test_every_audience_prints_the_legend_once_in_html_and_text(
    views: dict[str, AudienceView],
) -> None:
    for view in views.values():
        html, text = _both(view)
        for entry in view.report.marks_legend:
            assert html.count(entry.meaning) == 1, view.audience.kind
            assert text.count(f"{entry.mark} {entry.meaning}") == 1, view.audience.kind


def test_the_pmo_sees_where_the_survey_and_the_systems_disagree(
    views: dict[str, AudienceView],
) -> None:
    view = views["pmo"]
    assert view.self_assessment is not None
    assert [
        (d.unit, d.capability_id, d.dimension, d.says, d.systems, d.gap_text)
        for d in view.self_assessment.divergences
    ] == [("Retail", "MTI-2", "Process", 2, 4, "-2")]
    html, text = _both(view)
    assert "-2 Retail / MTI-2 Portfolio management / Process: says 2, systems show 4" in text
    assert re.search(r">Retail</td>.*MTI-2</span> Portfolio management · Process</td>", html)
    for part in (html, text):
        assert view.report.movers_excluded_text in part


def test_the_executive_sees_marked_levels_their_coverage_and_the_movers_left_out(
    views: dict[str, AudienceView],
) -> None:
    view = views["executive"]
    report = view.report
    assert report.movers_excluded == 1
    assert (
        report.movers_excluded_text == "1 change resting on the survey is not counted as a mover."
    )
    mti = [area.code for area in report.areas].index("MTI")
    assert [p.enterprise_marks for p in view.history] == [SURVEY_MARK, SURVEY_MARK]
    assert view.history[-1].area_marks[mti] == SURVEY_MARK
    html, text = _both(view)
    # (2 + 3 + 4 + 1 + 2 + the survey's 1) / 6
    assert report.enterprise.marks == SURVEY_MARK and report.enterprise.level_text == "2.2"
    assert view.subject.endswith(f"enterprise 2.2{SURVEY_MARK}")
    assert f"Enterprise level 2.2{SURVEY_MARK}" in text
    assert re.search(r"Enterprise level 2\.2<span class=\"mark\"[^>]*>\*</span>", html)
    for part in (html, text):
        assert report.movers_excluded_text in part
        assert report.enterprise.evidence_text in part
        assert report.areas[mti].evidence_text in part


def test_the_area_owner_sees_each_cells_marks_survey_and_why_it_does_not_apply(
    views: dict[str, AudienceView],
) -> None:
    view = views["area_owner"]
    notes = {(n.capability_id, n.dimension): n for n in view.notes}
    surveyed = notes[("MTI-2", "Process")]
    # Insurance's 2 and Retail's 4 at confidence 0.9, Wealth's 1 at 0.3: a mean of 0.7
    assert (surveyed.level_text, surveyed.marks) == ("2.3", SURVEY_MARK)
    assert surveyed.opinions == (
        "Retail: the unit says 2, its systems show 4",
        "Wealth: the unit says 3; no system evidence judged it, so the survey alone gives level 1",
    )
    nowhere = notes[("MTI-1", "Organization")]
    assert (nowhere.level_text, nowhere.below_text) == ("n/a", "applies to no unit")
    assert nowhere.not_applicable == tuple(f"{unit}: {REASON}" for unit in UNITS)
    assert notes[("MTI-1", "Process")].not_applicable == (f"Insurance: {REASON}",)
    assert notes[("MTI-1", "Process")].level_text == "unknown"
    html, text = _both(view)
    for part in (html, text):
        assert "Wealth: the unit says 3; no system evidence judged it" in part
        assert "Retail: the unit says 2, its systems show 4" in part
        assert "Organization: n/a" in part
    assert f"Insurance: {escape(REASON)}" in html and f"Insurance: {REASON}" in text
    assert re.search(r"MTI-2 .* 2\.3\* \(3/3\)", text)
    area = "Area level 2.5* (▲0.5 since 2026-Q2); levels known: 4 of 44, 3 on systems, 4 n/a"
    assert area in text


def test_the_business_unit_sees_its_marks_and_coverage_against_the_enterprise(
    views: dict[str, AudienceView],
) -> None:
    view = views["business_unit"]
    mti = next(row for row in view.areas_compared if row.label == "Managing Technology Investments")
    assert mti.text == (f"1.0{SURVEY_MARK}{LOW_MARK}", f"2.5{SURVEY_MARK}", "2.5–4.0")
    assert mti.evidence_text == "1 of 15, 0 on systems, 1 n/a"
    go = next(row for row in view.areas_compared if row.label == "Governance & Organization")
    assert go.text[0] == "unknown" and go.evidence_text == "0 of 16, 0 on systems"
    html, text = _both(view)
    for part in (html, text):
        assert "1 of 15, 0 on systems, 1 n/a" in part
    assert f"1.0{SURVEY_MARK}{LOW_MARK}" in text


def test_the_standalone_traces_show_n_a_with_its_reason_and_the_survey(
    views: dict[str, AudienceView],
) -> None:
    html, _ = _both(views["area_owner"], standalone=True)
    assert "Insurance · MTI-1 process: level n/a" in html
    assert f"<li>{escape(REASON)}</li>" in html
    assert "survey: the unit says 2, its systems show 4" in html
