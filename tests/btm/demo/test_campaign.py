"""The demo's self-assessment campaign: the sample enterprise's respondents invited for the
last cycle, seven in ten of them answering before the cycle is gathered, with what their
unit's survey export already says; `btm survey status` shows the rate; a second run of the
step changes nothing."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btm import pipeline, store
from btm.cli import app
from btm.demo.campaign import (
    BLANK_SHARE,
    DEMO_CAMPAIGN_CYCLE,
    RETURNED,
    SaidLevels,
    install_demo_respondents,
    run_demo_campaign,
)
from btm.demo.sample import (
    DEMO_CYCLES,
    SAMPLE_UNITS,
    SURVEY_FILE,
    generate_sample_evidence,
    sample_respondents,
)
from btm.demo.walkthrough import DEMO_SOURCES
from btm.evidence.gather import configured_sources
from btm.evidence.sources import SURVEY_RETURNS
from btm.pipeline import Setup
from btm.settings import Settings
from btm.survey.bank import ROLES
from btm.survey.campaign import survey_folder
from btm.survey.respondents import RESPONDENTS_FILE, load_respondents
from btm.survey.responses import INVITATION, campaign_status
from btm.vocabulary import BatchStatus

CYCLE = DEMO_CAMPAIGN_CYCLE
# Drawn from the sample's seed: who leaves the questionnaire unanswered (11 of 16 answer).
OUTSTANDING = {
    "charlotte.reid@example.org",
    "grace.okafor@example.org",
    "helen.moore@example.org",
    "isabel.torres@example.org",
    "renee.dubois@example.org",
}


@dataclass(frozen=True)
class Demo:
    run: Setup
    home: Path


def gather_and_score(run: Setup) -> pipeline.CycleRun:
    inbox = run.settings.inbox_dir / CYCLE
    sources = configured_sources(sources_file=DEMO_SOURCES, home=run.home, inbox=inbox)
    return pipeline.run_cycle(run, CYCLE, sources, actor="demo campaign test")


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The campaign cycle's sample evidence, the demo's campaign step, then the cycle run."""
    home = tmp_path_factory.mktemp("demo-campaign") / "btm-home"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BTM_HOME", str(home))
        for name in ("BTM_DATABASE_URL", "BTM_SMTP_HOST", "BTM_REPORT_TO"):
            patch.delenv(name, raising=False)
        run = pipeline.setup(Settings(home=home))
        generate_sample_evidence(run.settings.inbox_dir, cycles=(CYCLE,), calendar=run.calendar)
        install_demo_respondents(run)
        run_demo_campaign(run, CYCLE)
        gather_and_score(run)
        yield Demo(run, home)


def test_the_campaign_asks_about_the_cycle_the_demo_leaves_for_the_pmo() -> None:
    assert DEMO_CYCLES[-1] == DEMO_CAMPAIGN_CYCLE


def test_the_sample_enterprise_has_two_to_four_respondents_per_unit() -> None:
    respondents = sample_respondents()
    assert respondents == sample_respondents()  # the same seed, the same people
    by_unit = Counter(r.unit for r in respondents)
    assert set(by_unit) == {unit.name for unit in SAMPLE_UNITS}
    assert all(2 <= n <= 4 for n in by_unit.values()), by_unit
    for unit in SAMPLE_UNITS:
        roles = [r.role for r in respondents if r.unit == unit.name]
        assert len(set(roles)) == len(roles) and set(roles) <= set(ROLES)
    assert all(r.email.endswith("@example.org") and r.email.isascii() for r in respondents)
    assert len({r.email for r in respondents}) == len(respondents)
    assert sample_respondents(seed=1) != respondents


def test_the_respondents_are_installed_only_in_a_home_without_them(
    tmp_path: Path, demo: Demo
) -> None:
    listed = load_respondents(demo.home / RESPONDENTS_FILE)
    assert listed == sample_respondents()
    own = tmp_path / RESPONDENTS_FILE
    own.write_text(
        "respondents:\n  - {unit: Wealth, role: pmo, name: Ana Lima, email: a@example.com}\n",
        encoding="utf-8",
    )
    before = own.read_bytes()
    install_demo_respondents(pipeline.setup(Settings(home=tmp_path)))
    assert own.read_bytes() == before


def test_campaign_status_shows_the_response_rate_the_seed_gives(demo: Demo) -> None:
    status = campaign_status(demo.run.engine, CYCLE)
    assert status.open and len(status.invitees) == len(sample_respondents()) == 16
    assert all(i.invited for i in status.invitees)  # every invitation went out
    assert {i.email for i in status.outstanding} == OUTSTANDING
    shown = status.to_json()
    assert (shown["invited"], shown["answered"]) == (16, 11)  # 69 %
    assert shown["quarantined"] == [] and shown["returned_more_than_once"] == []
    by_unit = {(r.unit, r.answered, r.invited) for r in status.rates if r.role is None}
    assert by_unit == {
        ("Commercial Banking", 3, 4),
        ("Insurance", 2, 2),
        ("Retail Banking", 2, 3),
        ("Shared Services", 2, 4),
        ("Wealth Management", 2, 3),
    }
    # the invitations are in the outbox, as the demo's reports are
    ledger = store.ledger_of(engine=demo.run.engine, cycle_id=CYCLE, audience=INVITATION)
    assert set(ledger) == {r.email for r in sample_respondents()}
    assert len(list(demo.run.settings.outbox_dir.glob(f"{CYCLE}-{INVITATION}-*.eml"))) == 16


def test_btm_survey_status_shows_the_rate_and_who_is_outstanding(demo: Demo) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["survey", "status"], env={"BTM_HOME": str(demo.home)})
    assert shown.exit_code == 0, shown.output
    assert "11 of 16 answered (69%)" in shown.output
    assert "Outstanding" in shown.output and "Charlotte Reid" in shown.output
    as_json = runner.invoke(app, ["survey", "status", "--json"], env={"BTM_HOME": str(demo.home)})
    assert json.loads(as_json.output)["answered"] == 11


def test_the_answers_are_in_the_cycle_survey_evidence_as_the_unit_said(demo: Demo) -> None:
    engine = demo.run.engine
    plan = pipeline.plan(demo.run, CYCLE)
    returns = [b for b in plan.batches if b.source == SURVEY_RETURNS]
    assert len(returns) == 11 and {b.status for b in returns} == {BatchStatus.ACCEPTED}
    rows = store.load_rows(engine=engine, kind="survey", batch_ids=[b.id or 0 for b in returns])
    status = campaign_status(engine, CYCLE)
    answered = {i.respondent_id for i in status.invitees if i.answered}
    assert set(rows["respondent"].str.rpartition("/")[2]) == answered
    said = SaidLevels.of(demo.run.settings.inbox_dir / CYCLE / SURVEY_FILE)
    cells = rows[["business_unit", "capability", "dimension", "score"]]
    for unit, capability, dimension, score in cells.itertuples(index=False):
        assert score == said.level(str(unit), str(capability), str(dimension))
    # every question of the bank for their role, but for the few left blank
    asked = sum(i.answered for i in status.invitees) / (1 - BLANK_SHARE)
    assert len(rows) == sum(i.answered for i in status.invitees)
    assert 0.8 * asked <= len(rows) <= asked
    # the unit says of each cell what its survey export said: only the count of answers moved
    scores = store.scores_of(engine=engine, cycle_id=CYCLE)
    surveyed = [s for s in scores if s.says is not None]
    assert surveyed and all(
        s.says == said.level(s.unit, s.capability, s.dimension) for s in surveyed
    )


def test_the_campaign_step_twice_changes_nothing(demo: Demo) -> None:
    run = demo.run
    engine = run.engine
    folder = survey_folder(run.home, CYCLE) / RETURNED

    def state() -> tuple[object, ...]:
        campaign = store.survey_campaign(engine=engine, cycle_id=CYCLE)
        assert campaign is not None
        ledger = store.ledger_of(engine=engine, cycle_id=CYCLE, audience=INVITATION)
        return (
            campaign.id,
            campaign.closes_on,
            sorted(store.survey_invitees(engine=engine, campaign_id=campaign.id)),
            sorted((email, row.state) for email, row in ledger.items()),
            {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in folder.iterdir()},
            {p.name: p.read_bytes() for p in run.settings.outbox_dir.iterdir()},
        )

    def levels() -> list[tuple[object, ...]]:
        return sorted(
            (s.unit, s.capability, s.dimension, s.level, s.confidence, s.says)
            for s in store.scores_of(engine=engine, cycle_id=CYCLE)
        )

    before, scored = state(), levels()
    again = run_demo_campaign(run, CYCLE)
    assert again.invited == 0 and again.returned == ()
    assert "invitations sent before" in again.summary
    rerun = gather_and_score(run)
    assert rerun.scores is None  # the same evidence: the scores are kept
    assert state() == before and levels() == scored
