"""The reports as a reader sees them: rendered in headless Chromium at the email's width
(600 px) and a desktop's (1200 px), with a screenshot kept as a test artifact.

A report must render with no console error, no uncaught exception and no request at all
(an email that fetches anything is broken offline and tracks its reader), show its key
text, not be blank, and fit 600 px without a side scroll. Each report variant is a
fixture giving its HTML and one entry of VARIANTS; a new audience's report is checked by
adding both. Without Chromium these tests skip, except in CI (CI set), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from btm import store
from btm.delivery import DeliveryReport
from btm.reporting.render import render_report
from btm.settings import Settings
from tests.browser import (
    Rendering,
    artifact_name,
    artifacts_dir,
    email_html,
    find_chromium,
    inline_cids,
    launch,
    render,
)
from tests.factories import (
    CURRENT,
    EVIL_UNIT,
    PREVIOUS,
    UNITS,
    report_context,
    score_frame,
    write_quarter,
)
from tests.pipeline import CATALOG, run_cycle

CYCLE = "2026-Q2"
WIDTHS = [600, 1200]
# A 1x1 PNG, for a cid: image.
PIXEL = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e7b6d8a80000000049454e44ae426082"
)


@dataclass(frozen=True)
class Variant:
    """One report as it reaches a reader: the fixture giving its HTML, and text it shows."""

    fixture: str
    shows: tuple[str, ...]
    min_height: int = 800  # px at 600 wide; a full report is several screens long
    min_ink: float = 0.05  # the share of non-white pixels; a page of links has little


VARIANTS = {
    "standalone": Variant("standalone_report", ("Enterprise", CYCLE, "Evidence sources")),
    "email": Variant("emailed_report", ("Enterprise", CYCLE, "projects-wealth.csv")),
    "marked": Variant("marked_report", ("Marks.", "self-assessment survey alone", "n/a")),
    "executive": Variant(
        "executive_email", ("Maturity over time", "Target-state readiness", CYCLE)
    ),
    "executive-standalone": Variant("executive_standalone", ("Rule traces", CYCLE)),
    "area-owner": Variant("area_owner_email", ("Reasons and next steps", "MTI-1")),
    "business-unit": Variant("business_unit_email", ("Retail against the enterprise",)),
    "index": Variant(
        "report_index", ("BTM maturity reports", CYCLE), min_height=100, min_ink=0.005
    ),
}
AUDIENCES = """
audiences:
  - {id: stakeholders, kind: pmo, recipients: [pmo@example.org]}
  - {id: executive, kind: executive, recipients: [cio@example.org]}
  - {id: area-mti, kind: area_owner, area: MTI, recipients: [mti@example.org]}
  - {id: unit-retail, kind: business_unit, unit: Retail, recipients: [retail@example.org]}
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for this module. Module, not session: while it is open, asyncio.run
    fails on this thread (see tests/browser.py), which later async tests need."""
    if find_chromium() is None:
        reason = "Chromium is not installed (apt-get install chromium; .ci/run does)"
        if _in_ci():
            pytest.fail(f"{reason}; CI must run the browser tests", pytrace=False)
        pytest.skip(reason)
    with launch() as running:
        yield running


@pytest.fixture
def screenshot(request: pytest.FixtureRequest) -> Path:
    """This test's screenshot file, named after it."""
    return artifacts_dir() / f"{artifact_name(request.node.name)}.png"


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> DeliveryReport:
    """Two cycles run through the pipeline; the second has a quarantined batch, so its
    report carries every section it can."""
    root = tmp_path_factory.mktemp("browser-cycles")
    settings = Settings(home=root / "btm-home", smtp_host=None)  # the outbox, not SMTP
    settings.resolved_home.mkdir(parents=True)
    (settings.resolved_home / "audiences.yaml").write_text(AUDIENCES, encoding="utf-8")
    engine = store.make_engine(f"sqlite:///{root / 'btm.db'}")
    store.init_db(engine)
    try:
        run_cycle("2026-Q1", write_quarter(root / "q1", case_share=0.55), engine, settings)
        inbox = write_quarter(root / "q2", case_share=0.85, bad_projects=True)
        return run_cycle(CYCLE, inbox, engine, settings)
    finally:
        engine.dispose()


@pytest.fixture
def standalone_report(delivered: DeliveryReport) -> str:
    return delivered.report_path.read_text(encoding="utf-8")


@pytest.fixture
def marked_report() -> str:
    """Levels on the survey alone, of low confidence and not applicable, with their marks
    and the legend of them."""
    survey = ("Wealth", "MTI-2", "process")
    basis = {survey: "survey"} | {(u, "SP-1", "process"): "not_applicable" for u in UNITS}
    current = score_frame(
        CATALOG,
        UNITS,
        CURRENT | {survey: 1},
        basis=basis,
        confidence={("Retail", "GO-1", "process"): 0.2},
    )
    return render_report(
        report_context(CATALOG, current, score_frame(CATALOG, UNITS, PREVIOUS))
    ).html


@pytest.fixture
def emailed_report(delivered: DeliveryReport) -> str:
    assert delivered.location is not None
    message = message_from_bytes(Path(delivered.location).read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return email_html(message)


def _emailed(delivered: DeliveryReport, audience: str) -> str:
    (location,) = next(d.locations for d in delivered.audiences if d.audience == audience)
    message = message_from_bytes(Path(location).read_bytes(), policy=policy.default)
    assert isinstance(message, EmailMessage)
    return email_html(message)


@pytest.fixture
def executive_email(delivered: DeliveryReport) -> str:
    return _emailed(delivered, "executive")


@pytest.fixture
def executive_standalone(delivered: DeliveryReport) -> str:
    return (delivered.index_path.parent / CYCLE / "executive.html").read_text(encoding="utf-8")


@pytest.fixture
def area_owner_email(delivered: DeliveryReport) -> str:
    return _emailed(delivered, "area-mti")


@pytest.fixture
def business_unit_email(delivered: DeliveryReport) -> str:
    return _emailed(delivered, "unit-retail")


@pytest.fixture
def report_index(delivered: DeliveryReport) -> str:
    return delivered.index_path.read_text(encoding="utf-8")


def assert_clean(rendering: Rendering) -> None:
    """Nothing went wrong in the page, and it asked the network for nothing."""
    assert rendering.console_errors == ()
    assert rendering.console_warnings == ()
    assert rendering.page_errors == ()
    assert rendering.dialogs == ()
    assert rendering.requests == ()


def assert_not_blank(rendering: Rendering, *, min_height: int, min_ink: float = 0.05) -> None:
    picture = rendering.picture
    # Text, bands and borders give hundreds of colours; a blank page has one or two.
    assert picture.colours >= 50, f"{picture.colours} colours in {rendering.screenshot}"
    assert picture.ink >= min_ink, f"{picture.ink:.0%} non-white in {rendering.screenshot}"
    assert picture.height > min_height, f"{picture.height} px high: {rendering.screenshot}"


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("variant", list(VARIANTS.values()), ids=list(VARIANTS))
def test_report_renders_in_chromium(
    variant: Variant,
    width: int,
    browser: Browser,
    screenshot: Path,
    request: pytest.FixtureRequest,
) -> None:
    html = request.getfixturevalue(variant.fixture)
    rendering = render(browser, html, out=screenshot, width=width)

    assert_clean(rendering)
    assert_not_blank(rendering, min_height=variant.min_height, min_ink=variant.min_ink)
    for text in variant.shows:
        assert text in rendering.body_text
    assert rendering.scroll_width <= width, f"{rendering.scroll_width} px wide at {width}"


def test_a_script_in_a_unit_name_is_shown_as_text(browser: Browser, screenshot: Path) -> None:
    units = [*UNITS, EVIL_UNIT]
    current = score_frame(CATALOG, units, CURRENT | {(EVIL_UNIT, "SP-1", "process"): 3})
    html = render_report(
        report_context(CATALOG, current, score_frame(CATALOG, UNITS, PREVIOUS))
    ).html

    rendering = render(browser, html, out=screenshot, width=600)

    assert rendering.dialogs == ()  # alert(1) never ran
    assert EVIL_UNIT in rendering.body_text  # the name, shown literally
    assert_clean(rendering)
    assert_not_blank(rendering, min_height=800)
    assert rendering.scroll_width <= 600


def test_the_harness_sees_scripts_requests_errors_and_cid_images(
    browser: Browser, screenshot: Path
) -> None:
    # Without this, "no requests, no dialogs" could pass because nothing was listened to.
    html = inline_cids(
        """<!DOCTYPE html><html><body style="width:900px">
        <img src="cid:chart%40btm.local" width="1" height="1">
        <img src="https://example.invalid/pixel.png">
        <script>alert("hello"); throw new Error("boom")</script>
        </body></html>""",
        {"chart@btm.local": PIXEL},
    )
    assert "cid:" not in html and "data:image/png;base64," in html

    rendering = render(browser, html, out=screenshot, width=600)

    assert rendering.requests == ("https://example.invalid/pixel.png",)
    assert rendering.dialogs == ("alert: hello",)
    assert any("boom" in error for error in rendering.page_errors)
    assert any("ERR_BLOCKED_BY_CLIENT" in error for error in rendering.console_errors)
    assert rendering.scroll_width > 600
    assert rendering.picture.width == rendering.scroll_width  # the full page, side included
    with pytest.raises(KeyError, match="cid:missing"):
        inline_cids('<img src="cid:missing">', {})
