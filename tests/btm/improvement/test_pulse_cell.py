"""The monthly pulse reads the capability, not only the projects (btm/improvement/pulse.py):
each in-flight initiative's targeted cell is scored again on the latest accepted system
evidence and compared with the scores it was approved on, and its state is the worse of
the cell's and its linked projects'.

Whole cycles run through tests/pipeline.run_cycle on generated evidence, a later weekly
refresh through `btm.pipeline.gather`; the rules of the cell's reading are checked on
scores written by hand."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from btm import store
from btm.evidence.sources import default_sources
from btm.improvement.pulse import (
    CellReading,
    ProjectsReading,
    Pulse,
    UnitReading,
    judge_initiative,
    read_cell,
    read_unit,
    run_pulse,
)
from btm.pipeline import Setup, gather
from btm.scoring.engine import CellScore, RuleOutcome
from btm.settings import Settings
from btm.vocabulary import Outcome, PulseState
from tests.btm.improvement.test_improvement import (
    MTI_1,
    NOT_MOVING,
    PULSE_DAY,
    PULSE_PROJECTS,
    Q1,
    Q2,
    Q3,
    advance,
    backlog_of,
    move,
    run_first_cycle,
    stored_initiative,
    stored_pulses,
    update_initiative,
)
from tests.factories import write_quarter
from tests.pipeline import CATALOG, RUBRIC

GREEN = ["PRJ-Retail-2", "PRJ-Wealth-2"]  # active, health green, updated 2026-03-20
COMPLETED = ["PRJ-Retail-0"]  # completed on 2026-03-15 (PULSE_PROJECTS)


def approved_first_cycle(
    engine: sa.Engine, settings: Settings, tmp_path: Path, *links: str
) -> None:
    """Q1 scored on 55 % business cases, its backlog approved, MTI-1 process linked."""
    run_first_cycle(engine, settings, tmp_path, projects=PULSE_PROJECTS)
    update_initiative(engine, MTI_1, linked_projects=list(links))
    advance(engine, settings)


def refresh(engine: sa.Engine, settings: Settings, tmp_path: Path, *, case_share: float) -> None:
    """A weekly refresh of Q2: gathered and accepted, not scored."""
    inbox = write_quarter(tmp_path / "refresh", case_share=case_share, projects=PULSE_PROJECTS)
    gather(Setup(settings, engine=engine, rubric=RUBRIC), Q2, default_sources(inbox))


def pulse(engine: sa.Engine, settings: Settings, day: date = PULSE_DAY) -> Pulse:
    return run_pulse(engine=engine, as_of=day, settings=settings, catalog=CATALOG, rubric=RUBRIC)


def reading_of(found: Pulse, initiative_id: str = MTI_1) -> store.InitiativePulse:
    return next(p for i, p in found.readings if i.id == initiative_id)


# the pulse on the store ------------------------------------------------------------------


def test_a_metric_that_improved_in_a_later_fetch_puts_the_cell_on_track(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    approved_first_cycle(engine, settings, tmp_path, *GREEN)
    refresh(engine, settings, tmp_path, case_share=0.7)

    found = pulse(engine, settings)

    assert found.evidence_cycle == Q2
    reading = reading_of(found)
    moving = [
        "Retail business case coverage 55 % → 70 %, needs >= 85 %",
        "Wealth business case coverage 55 % → 70 %, needs >= 85 %",
    ]
    assert (reading.state, reading.findings) == ("on track", [f"moving: {'; '.join(moving)}"])
    assert reading.cell == {
        "state": "on track",
        "baseline": Q1,
        "evidence_cycle": Q2,
        "units": [
            {"unit": "Retail", "was": 2, "now": 2, "target": 3},
            {"unit": "Wealth", "was": 2, "now": 2, "target": 3},
        ],
        "moving": moving,
    }
    (stored,) = [p for p in stored_pulses(engine) if p.initiative_id == MTI_1]
    assert stored.cell == reading.cell  # kept in the store as read


@pytest.mark.parametrize(
    ("links", "projects_finding"),
    [(GREEN, None), (COMPLETED, None), ((), "no linked projects: link the projects")],
    ids=["green projects", "completed projects", "no linked project"],
)
def test_unchanged_evidence_is_at_risk_whatever_the_projects_say(
    engine: sa.Engine,
    settings: Settings,
    tmp_path: Path,
    links: list[str],
    projects_finding: str | None,
) -> None:
    approved_first_cycle(engine, settings, tmp_path, *links)

    found = pulse(engine, settings)

    assert found.evidence_cycle == Q1
    reading = reading_of(found)
    assert reading.state == "at risk"
    assert reading.findings[0] == NOT_MOVING
    assert [p["project_id"] for p in reading.projects] == list(links)
    if projects_finding is None:
        assert reading.findings == [NOT_MOVING]  # the projects themselves flag nothing
    else:
        assert reading.findings[1].startswith(projects_finding)
    assert reading.cell["state"] == "at risk" and reading.cell["moving"] == []


@pytest.mark.parametrize(
    ("links", "state"),
    [(COMPLETED, "done"), ((), "done"), (GREEN, "on track")],
    ids=["projects completed", "no linked project", "projects still running"],
)
def test_a_cell_at_its_target_is_done_once_its_projects_are(
    engine: sa.Engine, settings: Settings, tmp_path: Path, links: list[str], state: str
) -> None:
    approved_first_cycle(engine, settings, tmp_path, *links)
    refresh(engine, settings, tmp_path, case_share=0.9)

    reading = reading_of(pulse(engine, settings))

    assert reading.state == state
    assert reading.findings[0] == "the cell reached level 3 in every unit"
    assert reading.cell["state"] == "done"
    assert reading.cell["units"] == [
        {"unit": "Retail", "was": 2, "now": 3, "target": 3},
        {"unit": "Wealth", "was": 2, "now": 3, "target": 3},
    ]


def test_a_level_that_fell_is_off_track_even_under_green_projects(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    approved_first_cycle(engine, settings, tmp_path, *GREEN)
    refresh(engine, settings, tmp_path, case_share=0.3)

    reading = reading_of(pulse(engine, settings))

    assert (reading.state, reading.findings) == (
        "off track",
        ["the capability fell back: Retail level 2 → 1, Wealth level 2 → 1"],
    )


def test_the_pulse_follows_in_flight_initiatives_whatever_their_cycle_s_phase(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    approved_first_cycle(engine, settings, tmp_path)
    move(engine, Q1, "improve", "closed")  # reviewed and closed, its initiatives open
    backlog = [i.id for i in backlog_of(engine, Q1)]
    done, dropped, overdue, deferred, later, *rest = (i for i in backlog if i != MTI_1)
    for initiative_id, status in (
        (done, "done"),
        (dropped, "dropped"),
        (overdue, "overdue"),
        (deferred, "deferred"),
    ):
        update_initiative(engine, initiative_id, status=status)
    update_initiative(engine, later, approved_in=Q3)  # approved in a later backlog

    found = pulse(engine, settings)

    pulsed = [i for i in backlog if i in (MTI_1, overdue, *rest)]  # in rank order
    assert [i.id for i, _ in found.readings] == pulsed
    assert {i.status for i, _ in found.readings} == {"approved", "overdue"}
    assert [p.initiative_id for p in stored_pulses(engine)] == pulsed
    assert reading_of(found).findings[0] == NOT_MOVING
    in_q3 = pulse(engine, settings, date(2026, 7, 15))
    assert later in [i.id for i, _ in in_q3.readings]


# the cell's reading, rule by rule ---------------------------------------------------------


def score(unit: str, level: int | None, target: int | None = 3, **fields: Any) -> store.Score:
    return store.Score(
        cycle_id=Q1,
        unit=unit,
        capability="MTI-1",
        dimension="process",
        level=level,
        target_level=target,
        rubric_version=RUBRIC.version,
        **fields,
    )


def now(unit: str, level: int | None) -> CellScore:
    return CellScore(unit, "MTI-1", "process", level, ())


def cell(
    baseline: list[store.Score],
    levels: Mapping[str, int | None],
    *,
    evidence_cycle: str | None = Q2,
) -> CellReading:
    initiative = stored_initiative("MTI-1", "process", rank=1, target=3)
    scored = {unit: now(unit, level) for unit, level in levels.items()}
    return read_cell(initiative, baseline, scored, evidence_cycle=evidence_cycle)


def test_the_units_compared_are_those_below_the_target_at_the_baseline() -> None:
    baseline = [
        score("Retail", 2),
        score("Wealth", None),  # unknown: below
        score("Insurance", 1, target=2),  # below its own target, lower than the initiative's
        score("Treasury", 2, target=2),  # at its own target: not compared
        score("Leasing", None, basis="not_applicable"),  # the rubric does not apply
        score("Cards", 3),  # already at target
        store.Score(
            cycle_id=Q1,
            unit="Retail",
            capability="GO-1",
            dimension="process",
            level=1,
            rubric_version=RUBRIC.version,
        ),  # another cell
    ]

    reading = cell(baseline, {"Retail": 3, "Wealth": 3, "Insurance": 2})

    assert [u.to_json() for u in reading.units] == [
        {"unit": "Retail", "was": 2, "now": 3, "target": 3},
        {"unit": "Wealth", "was": None, "now": 3, "target": 3},
        {"unit": "Insurance", "was": 1, "now": 2, "target": 2},
    ]
    assert (reading.state, reading.finding) == (
        PulseState.DONE,
        "the cell reached its target in every unit: Retail 3, Wealth 3, Insurance 2",
    )


@pytest.mark.parametrize(
    ("levels", "state", "finding"),
    [
        ({"Retail": 3, "Wealth": 3}, "done", "the cell reached level 3 in every unit"),
        ({"Retail": 1, "Wealth": 3}, "off track", "the capability fell back: Retail level 2 → 1"),
        ({"Retail": 2, "Wealth": 2}, "on track", "moving: Wealth level unknown → 2"),
        ({"Retail": 3, "Wealth": None}, "on track", "moving: Retail level 2 → 3"),
        (
            {"Retail": 2},
            "at risk",
            "the capability is not moving: Retail level 2; Wealth level unknown",
        ),
        (
            {},
            "no evidence",
            "no system evidence judges the cell in Retail, Wealth (the evidence of 2026-Q2)",
        ),
        ({"Retail": None}, "no evidence", "no system evidence judges the cell in Retail, Wealth"),
    ],
)
def test_the_cell_s_state_from_its_levels_then_and_now(
    levels: dict[str, int | None], state: str, finding: str
) -> None:
    reading = cell([score("Retail", 2), score("Wealth", None)], levels)

    assert reading.state == state
    assert reading.finding.startswith(finding), reading.finding


def test_a_survey_level_is_not_what_the_systems_showed() -> None:
    baseline = [score("Retail", 2, basis="survey")]

    reading = cell(baseline, {"Retail": 2})

    assert [u.to_json() for u in reading.units] == [
        {"unit": "Retail", "was": None, "now": 2, "target": 3}
    ]
    assert (reading.state, reading.finding) == ("on track", "moving: Retail level unknown → 2")


def test_a_next_level_metric_moves_when_it_visibly_nears_its_threshold() -> None:
    business, benefit = RUBRIC.cell("MTI-1", "process")[3]  # >= 85 % and >= 50 %
    trace = [
        {"rule": business.id, "level": 3, "metric": business.metric, "value": 0.55},
        {"rule": benefit.id, "level": 3, "metric": benefit.metric, "value": 0.6},
    ]
    baseline = score("Retail", 2, trace=trace)

    def moving(business_now: float, benefit_now: float) -> tuple[str, ...]:
        outcomes = (
            RuleOutcome(business, business_now, Outcome.FAIL, ""),
            RuleOutcome(benefit, benefit_now, Outcome.PASS, ""),
        )
        now = CellScore("Retail", "MTI-1", "process", 2, outcomes)
        return read_unit(baseline, now, target=3).moving

    assert moving(0.62, 0.7) == ("Retail business case coverage 55 % → 62 %, needs >= 85 %",)
    assert moving(0.553, 0.7) == ()  # 55 % → 55 %: hidden by the rounding
    assert moving(0.5, 0.9) == ()  # away from its threshold; the other passed already


def test_without_evidence_or_baseline_the_cell_has_no_evidence() -> None:
    assert cell([score("Retail", 2)], {}, evidence_cycle=None).finding == (
        "no system evidence judges the cell in Retail (no evidence gathered)"
    )
    assert (cell([], {"Retail": 3}).state, cell([], {"Retail": 3}).finding) == (
        "no evidence",
        f"the cell has no score in {Q1} to compare",
    )


def projects_reading(state: PulseState | None) -> ProjectsReading:
    findings = ("no linked projects: …",) if state is None else ()
    return ProjectsReading(state, findings, None, ())


def cell_reading(state: PulseState) -> CellReading:
    unit = UnitReading("Retail", 3, 2, 3 if state == PulseState.DONE else 2)
    return CellReading(state, f"the cell is {state}", Q1, Q2, (unit,))


@pytest.mark.parametrize(
    ("projects", "cell_state", "state"),
    [
        (None, PulseState.ON_TRACK, PulseState.ON_TRACK),  # no project: the cell decides
        (None, PulseState.DONE, PulseState.DONE),
        (PulseState.DONE, PulseState.AT_RISK, PulseState.AT_RISK),  # completed, cell short
        (PulseState.DONE, PulseState.DONE, PulseState.DONE),
        (PulseState.ON_TRACK, PulseState.DONE, PulseState.ON_TRACK),
        (PulseState.ON_TRACK, PulseState.AT_RISK, PulseState.AT_RISK),
        (PulseState.OFF_TRACK, PulseState.ON_TRACK, PulseState.OFF_TRACK),
        (PulseState.NO_EVIDENCE, PulseState.ON_TRACK, PulseState.NO_EVIDENCE),
        (PulseState.AT_RISK, PulseState.NO_EVIDENCE, PulseState.AT_RISK),
    ],
)
def test_an_initiative_takes_the_worse_of_its_cell_and_its_projects(
    projects: PulseState | None, cell_state: PulseState, state: PulseState
) -> None:
    initiative = stored_initiative("MTI-1", "process", rank=1, target=3)

    reading = judge_initiative(
        initiative, projects_reading(projects), cell_reading(cell_state), as_of=PULSE_DAY
    )

    assert reading.state == state
    assert reading.findings[0] == f"the cell is {cell_state}"
    assert reading.findings[1:] == (["no linked projects: …"] if projects is None else [])
    assert reading.cell["state"] == cell_state
