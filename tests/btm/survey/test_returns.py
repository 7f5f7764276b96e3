"""Answers back: a questionnaire filled in as a respondent fills it, dropped back, read as
survey evidence through the validation gate, stored and used by the cycle's scores; a
tampered one quarantined with a reason that names the cell."""

from __future__ import annotations

import os
from datetime import date, timedelta
from pathlib import Path

import openpyxl
import pytest
from sqlmodel import Session, select

from btm import pipeline, store
from btm.evidence.gather import configured_sources
from btm.evidence.sources import survey_returns
from btm.pipeline import Setup
from btm.settings import Settings
from btm.survey.campaign import open_campaign
from btm.survey.workbook import ANSWER_COLUMN, COMMENT_COLUMN, FIRST_QUESTION_ROW, MARKER_SHEET
from btm.vocabulary import BatchStatus
from tests.btm.survey.test_campaign import PEOPLE, write_respondents
from tests.factories import write_quarter

CYCLE = "2026-Q3"


@pytest.fixture
def campaign(tmp_path: Path) -> tuple[Setup, Path]:
    """A campaign open for another month, its questionnaires in the outbox."""
    write_respondents(tmp_path, PEOPLE)
    run = pipeline.setup(Settings(home=tmp_path))
    opened = open_campaign(run, CYCLE, closes_on=date.today() + timedelta(days=30))
    returned = opened.folder / "returned"
    returned.mkdir()
    return run, returned


def sent(run: Setup, email: str) -> Path:
    (path,) = (run.home / "survey" / CYCLE).glob(f"*{email.replace('@', '-')}*.xlsx")
    return path


def fill(source: Path, target: Path, answers: dict[int, int | str], comment: str = "") -> Path:
    """Answer the questions at these offsets (0 = the first question) as a respondent
    would in a spreadsheet program, and save the workbook under `target`."""
    workbook = openpyxl.load_workbook(source)
    sheet = workbook["Questionnaire"]
    for offset, value in answers.items():
        sheet[f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW + offset}"] = value
    if comment:
        sheet[f"{COMMENT_COLUMN}{FIRST_QUESTION_ROW}"] = comment
    workbook.save(target)
    return target


def gathered(run: Setup) -> list[store.EvidenceBatch]:
    return [r.batch for r in pipeline.gather(run, CYCLE, [survey_returns()])]


def test_answers_dropped_back_are_stored_and_used_by_the_scores(
    campaign: tuple[Setup, Path], tmp_path: Path
) -> None:
    run, returned = campaign
    # two of the unit's respondents answer its first three cells (GO-1): enough answers
    # (the rubric's min_answers) for the survey to give each cell its opinion
    pmo, executive = sent(run, "ana.lima@example.com"), sent(run, "bo.chen@example.com")
    # the workbook as generated: a 1-5 drop-down on every answer, only answers and
    # comments editable, the campaign written into it
    generated = openpyxl.load_workbook(pmo)
    sheet = generated["Questionnaire"]
    (dropdown,) = sheet.data_validations.dataValidation
    assert dropdown.formula1 == '"1,2,3,4,5"'
    assert str(dropdown.sqref).startswith(f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW}:")
    assert sheet.protection.sheet
    assert sheet[f"{ANSWER_COLUMN}{FIRST_QUESTION_ROW}"].protection.locked is False
    assert sheet[f"D{FIRST_QUESTION_ROW}"].protection.locked is True  # the question itself
    campaign_id = generated.properties.identifier
    assert (
        campaign_id
        and campaign_id in pmo.name
        and generated[MARKER_SHEET]["B2"].value == campaign_id
    )
    fill(pmo, returned / pmo.name, {0: 4, 1: 3, 2: 2}, comment="- as agreed at the board")
    fill(executive, returned / executive.name, {0: 4, 1: 3, 2: 2})
    inbox = write_quarter(tmp_path / "inbox" / CYCLE, case_share=0.5)
    sources = configured_sources(sources_file=None, home=run.home, inbox=inbox)
    assert sources[-1].name == "survey-returns"  # a campaign was opened in this home
    summary = pipeline.run_cycle(run, CYCLE, sources, actor="tests")
    batches = [r.batch for r in summary.results if r.batch.kind == "survey"]
    assert {(b.source, b.status) for b in batches} == {("survey-returns", BatchStatus.ACCEPTED)}
    assert len(batches) == 2
    rows = store.load_rows(engine=run.engine, kind="survey", batch_ids=[b.id or 0 for b in batches])
    assert len(rows) == 6 and set(rows["score"]) == {4, 3, 2}
    assert set(rows["business_unit"]) == {"Retail Banking"}
    assert set(rows["respondent"].str.rpartition("/")[2]) == {
        "ana.lima-example.com",
        "bo.chen-example.com",
    }
    assert rows["comment"].dropna().tolist() == ["- as agreed at the board"]
    with Session(run.engine) as session:
        said = session.exec(
            select(store.Score).where(
                store.Score.cycle_id == CYCLE,
                store.Score.unit == "Retail Banking",
                store.Score.says.is_not(None),  # type: ignore[union-attr]
            )
        ).all()
    assert len(said) == 3  # each answer is the unit's survey opinion of its cell
    assert summary.scores


@pytest.mark.parametrize(
    ("tamper", "cell"),
    [
        pytest.param("answer", "Questionnaire!J14", id="an answer outside 1-5"),
        pytest.param("formula", "Questionnaire!K13", id="a formula in a comment"),
        pytest.param("respondent", "B5", id="an unknown respondent"),
        pytest.param("campaign", "B9", id="the wrong campaign"),
    ],
)
def test_a_tampered_workbook_is_quarantined_naming_the_cell(
    campaign: tuple[Setup, Path], tamper: str, cell: str
) -> None:
    run, returned = campaign
    source = sent(run, "bo.chen@example.com")
    target = fill(source, returned / source.name, {0: 3, 1: 7 if tamper == "answer" else 2})
    workbook = openpyxl.load_workbook(target)
    sheet, marker = workbook["Questionnaire"], workbook[MARKER_SHEET]
    if tamper == "formula":
        sheet[f"{COMMENT_COLUMN}{FIRST_QUESTION_ROW}"] = '=HYPERLINK("http://x")'
    if tamper == "respondent":  # consistently forged: the workbook reads, the campaign refuses
        sheet["B5"] = marker["B4"] = "mallory-example.com"
        marker["B8"] = "mallory@example.com"
    if tamper == "campaign":
        sheet["B9"] = marker["B2"] = f"{CYCLE}-000000"
        workbook.properties.identifier = f"{CYCLE}-000000"
    workbook.save(target)
    (batch,) = gathered(run)
    assert batch.status == BatchStatus.QUARANTINED
    assert any(cell in problem for problem in batch.problems), batch.problems
    assert (run.settings.quarantine_dir / CYCLE / "survey-returns" / source.name).is_file() or any(
        run.settings.quarantine_dir.rglob(source.name)
    )


def test_a_second_return_replaces_the_first(campaign: tuple[Setup, Path]) -> None:
    run, returned = campaign
    source = sent(run, "cy.diaz@example.com")
    first = fill(source, returned / source.name, {0: 2, 1: 2})
    (earlier,) = gathered(run)
    again = fill(source, returned / f"{source.stem} (1).xlsx", {0: 4})
    os.utime(again, (first.stat().st_mtime + 60, first.stat().st_mtime + 60))
    (later,) = gathered(run)
    assert later.part == earlier.part and later.id != earlier.id
    plan = pipeline.plan(run, CYCLE)
    survey = [b for b in plan.batches if b.kind == "survey"]
    assert [b.id for b in survey] == [later.id]  # the earlier return no longer counts
    rows = store.load_rows(engine=run.engine, kind="survey", batch_ids=[later.id or 0])
    assert rows["score"].tolist() == [4]


def test_a_return_after_the_campaign_closed_is_refused(campaign: tuple[Setup, Path]) -> None:
    run, returned = campaign
    open_campaign(run, CYCLE, closes_on=date.today())  # it closes at the end of today
    source = sent(run, "ana.lima@example.com")
    fill(source, returned / source.name, {0: 3})
    (accepted,) = gathered(run)
    assert accepted.status == BatchStatus.ACCEPTED
    with Session(run.engine) as session:
        campaign_row = session.exec(select(store.SurveyCampaign)).one()
        campaign_row.closes_on = date.today() - timedelta(days=1)
        session.add(campaign_row)
        session.commit()
    fill(source, returned / source.name, {0: 5})
    (late,) = gathered(run)
    assert late.status == BatchStatus.QUARANTINED
    assert any("survey_invitations" in p or "B9" in p for p in late.problems), late.problems


def test_checking_the_survey_source_counts_the_answers_returned(
    campaign: tuple[Setup, Path],
) -> None:
    from btm.evidence.gather import check_source

    run, returned = campaign
    templating = pipeline.templating_for(CYCLE, run.settings)
    before = check_source(survey_returns(), templating=templating)
    assert (before.reachable, before.rows, before.error) == (True, 0, None)  # none back yet
    source = sent(run, "ana.lima@example.com")
    fill(source, returned / source.name, {0: 4, 1: 2})
    after = check_source(survey_returns(), templating=templating)
    assert (after.reachable, after.rows, after.error) == (True, 2, None)
