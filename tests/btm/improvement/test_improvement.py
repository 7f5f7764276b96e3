"""The improvement cycle (btm/improvement/): the configuration of the backlog's priority,
the backlog proposed in design, the PMO's gate, the monthly pulse, the improve review, the
backlog file's round trip, and what the report and `btm status` show of them.

Whole cycles run through tests/pipeline.run_cycle on generated evidence; the rules of a
single phase are checked on cycles and scores written straight into the store."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa
import yaml
from sqlmodel import col, select

from btm import store
from btm.errors import BtmError, ConfigurationError
from btm.improvement import backlog as backlog_steps
from btm.improvement import progress as progress_steps
from btm.improvement.backlog import (
    BacklogImport,
    build_backlog,
    export_backlog,
    initiative_id,
    propose_backlog,
)
from btm.improvement.backlog_file import InitiativeFileError
from btm.improvement.config import (
    CONFIG_FILE,
    DEFAULT_OWNER,
    PMO_CONFIG,
    ImprovementConfig,
    PulseRules,
    load_config,
)
from btm.improvement.phases import move_to_phase, phase_statuses
from btm.improvement.progress import Progress, after_assessment
from btm.improvement.pulse import ProjectReading, Pulse, judge_projects, read_project, run_pulse
from btm.improvement.review import review_cycle
from btm.improvement.section import Improvement, report_section
from btm.reporting.compose import render_cycle_report
from btm.settings import Settings
from tests.factories import write_quarter
from tests.pipeline import CATALOG, JANUARY, RUBRIC, cycle_as_of, run_cycle

Q1, Q2, Q3 = "2026-Q1", "2026-Q2", "2026-Q3"
MTI_1 = f"{Q1}-MTI-1-process"  # 55 % business cases: level 2 of its target 3
PMO = "Ana Lima"
APPROVAL = "backlog reviewed at the portfolio board"
VERSION = "test-rubric"  # of the scores written straight into the store

# Projects the pulse reads on 2026-04-15 (their last status update, 2026-03-20, is fresh)
PULSE_PROJECTS = {
    "PRJ-Retail-0": {"status": "completed", "actual_end": "2026-03-15", "percent_complete": "100"},
    "PRJ-Retail-1": {"health": "red"},
    "PRJ-Wealth-2": {"percent_complete": "30"},
}
PULSE_DAY = date(2026, 4, 15)
# MTI-1 process read again on Q1's evidence, as it was approved on (level 3 needs 85 %)
NOT_MOVING = (
    "the capability is not moving: "
    "Retail level 2 (business case coverage 55 %, needs >= 85 %); "
    "Wealth level 2 (business case coverage 55 %, needs >= 85 %)"
)


def run_first_cycle(
    engine: sa.Engine,
    settings: Settings,
    tmp_path: Path,
    projects: Mapping[str, Mapping[str, str]] | None = None,
) -> None:
    run_cycle(
        Q1, write_quarter(tmp_path / "q1", case_share=0.55, projects=projects), engine, settings
    )


def run_second_cycle(engine: sa.Engine, settings: Settings, tmp_path: Path) -> None:
    run_cycle(Q2, write_quarter(tmp_path / "q2", case_share=0.85), engine, settings)


def advance(
    engine: sa.Engine,
    settings: Settings,
    cycle_id: str = Q1,
    *,
    by: str = PMO,
    reason: str = APPROVAL,
) -> store.PhaseChange:
    return progress_steps.advance(
        engine=engine,
        cycle_id=cycle_id,
        actor=by,
        reason=reason,
        catalog=CATALOG,
        settings=settings,
    )


def history(engine: sa.Engine, cycle_id: str) -> list[store.PhaseChange]:
    with store.session_scope(engine) as session:
        return store.phase_history(session=session, cycle_id=cycle_id)


def backlog_of(engine: sa.Engine, cycle_id: str) -> list[store.Initiative]:
    with store.session_scope(engine) as session:
        return store.initiatives_of(session=session, cycle_id=cycle_id)


def snapshot(engine: sa.Engine, cycle_id: str) -> list[dict[str, Any]]:
    return [i.model_dump() for i in backlog_of(engine, cycle_id)]


def update_initiative(engine: sa.Engine, initiative_id: str, **fields: Any) -> None:
    with store.session_scope(engine) as session:
        initiative = session.get(store.Initiative, initiative_id)
        assert initiative is not None
        for name, value in fields.items():
            setattr(initiative, name, value)
        session.add(initiative)
        session.commit()


def stored_pulses(engine: sa.Engine) -> list[store.InitiativePulse]:
    with store.session_scope(engine) as session:
        statement = select(store.InitiativePulse).order_by(col(store.InitiativePulse.id))
        return list(session.exec(statement))


def score(
    unit: str,
    capability: str,
    dimension: str,
    level: int | None,
    target: int | None = 3,
    *,
    cycle_id: str = Q1,
) -> store.Score:
    gap = None if level is None or target is None else target - level
    return store.Score(
        cycle_id=cycle_id,
        unit=unit,
        capability=capability,
        dimension=dimension,
        level=level,
        target_level=target,
        gap=gap,
        rubric_version=VERSION,
        trace=[],
    )


def scored_cycle(engine: sa.Engine, cycle_id: str, scores: Sequence[store.Score] = ()) -> None:
    """A cycle opened (in assess) and scored, straight in the store."""
    with store.session_scope(engine) as session:
        store.open_cycle(session=session, cycle_id=cycle_id, as_of=cycle_as_of(cycle_id))
        store.replace_scores(
            session=session, cycle_id=cycle_id, rubric_version=VERSION, scores=scores
        )
        store.complete_cycle(session=session, cycle_id=cycle_id, rubric_version=VERSION)


def move(engine: sa.Engine, cycle_id: str, *phases: str) -> None:
    for phase in phases:
        move_to_phase(engine=engine, cycle_id=cycle_id, phase=phase, actor="tests", reason="set up")


def shipped_config(**overrides: Any) -> ImprovementConfig:
    raw = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))
    return ImprovementConfig.model_validate({**raw, **overrides})


def write_override(home: Path, text: str) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / PMO_CONFIG
    path.write_text(text, encoding="utf-8")
    return path


# configuration ------------------------------------------------------------------------


def test_the_shipped_configuration_is_the_file_as_written(tmp_path: Path) -> None:
    raw = yaml.safe_load(CONFIG_FILE.read_text(encoding="utf-8"))

    config = load_config(catalog=CATALOG)

    assert config.model_dump() == raw
    assert load_config(catalog=CATALOG, home=tmp_path) == config  # no override


def test_a_pmo_override_replaces_whole_top_level_keys(btm_home: Path) -> None:
    write_override(btm_home, "backlog_size: 3\narea_weights: {GO: 2.0}\n")
    shipped = load_config(catalog=CATALOG)

    config = load_config(catalog=CATALOG, home=btm_home)

    assert config.backlog_size == 3
    assert config.area_weights == {"GO": 2.0}  # replaced, not merged: MTI weighs 1 again
    assert config.priority(gap=1, area="MTI", capability="MTI-4") == 1.0
    assert config.owners == shipped.owners and config.depends_on == shipped.depends_on
    assert config.pulse == shipped.pulse


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("depends_on: {GO-2: [GO-9]}\n", ["depends_on names 'GO-9'"]),
        ("depends_on: {XX-1: [GO-1]}\n", ["depends_on names 'XX-1'"]),
        ("area_weights: {GO: 1.0, XX: 2.0}\n", ["'XX', not an area"]),
        ("owners: {YY: Someone}\n", ["'YY', not an area"]),
        ("depends_on: {GO-2: [GO-3], GO-3: [GO-2]}\n", ["depends_on loops: GO-2 -> GO-3 -> GO-2"]),
        ("depends_on: {GO-2: [GO-2]}\n", ["depends_on loops: GO-2 -> GO-2"]),
        ("backlog_sise: 3\n", ["backlog_sise: Extra inputs are not permitted"]),
        (
            "pulse: {slip_days_off_track: -1, stale_update_days: 45}\n",
            ["pulse.slip_days_off_track"],
        ),
    ],
)
def test_a_mistake_in_the_pmo_file_names_the_files_and_the_key(
    btm_home: Path, text: str, named: list[str]
) -> None:
    path = write_override(btm_home, text)

    with pytest.raises(ConfigurationError) as caught:
        load_config(catalog=CATALOG, home=btm_home)

    message = str(caught.value)
    assert message.startswith(f"{path} laid over {CONFIG_FILE}: ")
    for part in named:
        assert part in message


@pytest.mark.parametrize("text", ["area_weights: {XX: 1.0}\n", "owners: {XX: Someone}\n"])
def test_an_unknown_area_names_the_mapping_it_is_in(btm_home: Path, text: str) -> None:
    write_override(btm_home, text)
    section = text.split(":", 1)[0]

    with pytest.raises(ConfigurationError) as caught:
        load_config(catalog=CATALOG, home=btm_home)

    problem = str(caught.value).split(f"{CONFIG_FILE}: ", 1)[1]
    assert section in problem


@pytest.mark.parametrize("text", ["- backlog_size: 3\n", "10\n"])
def test_an_override_that_is_not_a_mapping_is_a_configuration_error(
    btm_home: Path, text: str
) -> None:
    write_override(btm_home, text)

    with pytest.raises(ConfigurationError, match=r"improvement\.yaml"):
        load_config(catalog=CATALOG, home=btm_home)


def test_dependents_count_every_capability_resting_on_one() -> None:
    shipped = load_config(catalog=CATALOG)
    assert shipped.dependents["GO-1"] == len(CATALOG.capabilities) - 1  # everything rests on it
    # SEA-2 <- SEA-3, SEA-4; SEA-3 <- SP-3, SEA-4; SEA-4 <- SP-4, SEA-5; SP-4 <- SEA-5
    assert shipped.dependents["SEA-2"] == 5
    assert "SEA-5" not in shipped.dependents  # nothing rests on it

    # a diamond: D rests on A directly and through B and C; E on D
    config = shipped_config(depends_on={"B": ["A"], "C": ["B"], "D": ["A", "C"], "E": ["D"]})
    assert config.dependents == {"A": 4, "B": 3, "C": 2, "D": 1}


def test_priority_is_gap_times_area_weight_times_the_dependency_bonus() -> None:
    config = shipped_config(
        dependency_weight=0.25,
        area_weights={"MTI": 1.5},
        depends_on={"MTI-2": ["MTI-1"], "MTI-3": ["MTI-2"]},
    )

    assert config.priority(gap=2, area="MTI", capability="MTI-1") == 4.5  # 2 x 1.5 x (1 + .25 x 2)
    assert config.priority(gap=1, area="MTI", capability="MTI-2") == 1.875  # 1 x 1.5 x 1.25
    assert config.priority(gap=1.5, area="GO", capability="GO-1") == 1.5  # no weight, no dependents
    assert config.priority(gap=0.5, area="MTI", capability="MTI-3") == 0.75
    shipped = load_config(catalog=CATALOG)
    assert shipped.priority(gap=2, area="MTI", capability="MTI-2") == 2.64  # 2 x 1.2 x 1.1
    assert shipped.priority(gap=1, area="GO", capability="GO-1") == 1.8  # 1 x 1 x (1 + .05 x 16)


# design: the proposed backlog -----------------------------------------------------------


def propose(
    scores: Sequence[store.Score],
    *,
    cycle_id: str = Q1,
    config: ImprovementConfig | None = None,
) -> list[store.Initiative]:
    return propose_backlog(
        cycle_id=cycle_id,
        scores=scores,
        catalog=CATALOG,
        config=config or load_config(catalog=CATALOG),
        calendar=JANUARY,
    )


def test_cells_at_target_are_skipped_and_unknown_levels_ignored() -> None:
    backlog = propose(
        [
            score("Retail", "GO-2", "process", 3),
            score("Wealth", "GO-2", "process", 4),  # above target counts as at target
            score("Retail", "GO-2", "organization", None),
            score("Wealth", "GO-2", "organization", 3),
            score("Retail", "GO-2", "information", None),
            score("Wealth", "GO-2", "information", 2),
            score("Retail", "GO-2", "technology", 1, target=None),  # no target: not judged
        ]
    )

    (only,) = backlog
    assert (only.capability, only.dimension) == ("GO-2", "information")
    assert (only.gap, only.level, only.target_level) == (1.0, 2, 3)  # Wealth alone: 3 - 2
    assert only.title.endswith(": lift Wealth to level 3")


def test_the_backlog_is_ranked_by_priority_ties_in_catalogue_order() -> None:
    scores = [
        score("Retail", "SP-3", "technology", 2),  # 1.0
        score("Retail", "SP-2", "technology", 2),  # 1.0
        score("Retail", "SP-2", "process", 2),  # 1.0
        score("Retail", "MTI-4", "process", 2),  # 1 x 1.2
        score("Retail", "GO-2", "process", 1),  # 2 x 1.0
    ]

    backlog = propose(scores)

    assert [(i.rank, i.capability, i.dimension, i.priority) for i in backlog] == [
        (1, "GO-2", "process", 2.0),
        (2, "MTI-4", "process", 1.2),
        (3, "SP-2", "process", 1.0),
        (4, "SP-2", "technology", 1.0),
        (5, "SP-3", "technology", 1.0),
    ]
    smaller = propose(scores, config=shipped_config(backlog_size=2))
    assert [i.id for i in smaller] == [i.id for i in backlog[:2]]


def test_an_initiative_aims_one_level_above_its_lowest_unit() -> None:
    backlog = propose(
        [
            score("Retail", "MTI-1", "process", 1, target=4),
            score("Wealth", "MTI-1", "process", 3, target=4),
            score("Retail", "GO-3", "organization", 3, target=4),
            score("Wealth", "GO-3", "organization", 3, target=4),
        ],
        cycle_id="2026-Q4",
    )

    mti, go = backlog
    assert mti.id == "2026-Q4-MTI-1-process" and go.id == "2026-Q4-GO-3-organization"
    assert (mti.level, mti.target_level, mti.gap) == (1, 2, 2.0)  # min(4, 1 + 1); (3 + 1) / 2
    assert mti.title.endswith(": lift Retail to level 2")
    assert (go.level, go.target_level) == (3, 4)  # min(4, 3 + 1)
    assert go.title.endswith(": lift Retail, Wealth to level 4")
    assert {i.due_cycle for i in backlog} == {"2027-Q1"}  # the next cycle, across the year
    assert (mti.owner, go.owner) == ("Head of PMO", "CIO office")
    assert {i.status for i in backlog} == {"proposed"}
    assert all(i.linked_projects == [] for i in backlog)


def test_owner_and_due_cycle_follow_the_configuration() -> None:
    config = shipped_config(owners={"GO": "CIO office"}, due_in_cycles=2)

    (initiative,) = propose([score("Retail", "SP-1", "process", 2)], config=config)

    assert initiative.owner == DEFAULT_OWNER  # SP names no owner
    assert initiative.due_cycle == Q3


def test_an_initiative_with_per_unit_targets_names_the_units_below_their_own_target() -> None:
    (initiative,) = propose(
        [
            score("Retail", "MTI-1", "process", 2, target=2),
            score("Wealth", "MTI-1", "process", 3, target=5),
        ]
    )

    assert "Wealth" in initiative.title and "Retail" not in initiative.title


# phases, end to end ---------------------------------------------------------------------


def test_a_scored_cycle_moves_to_design_with_its_proposed_backlog(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)

    backlog = backlog_of(engine, Q1)
    assert [(c.phase, c.actor, c.reason) for c in history(engine, Q1)] == [
        ("assess", "btm", "opened to gather its evidence"),
        (
            "design",
            "tests",
            f"scored; {len(backlog)} initiatives proposed, sent with the baseline report",
        ),
    ]
    with store.session_scope(engine) as session:
        scores = store.get_scores(session=session, cycle_id=Q1)
    assert [i.id for i in backlog] == [i.id for i in propose(scores)]
    assert MTI_1 in [i.id for i in backlog]
    assert [i.rank for i in backlog] == list(range(1, len(backlog) + 1))
    assert {i.status for i in backlog} == {"proposed"}


def test_advancing_from_design_approves_the_backlog_and_records_who_and_why(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    before = snapshot(engine, Q1)
    for by, reason in (("  ", APPROVAL), (PMO, ""), ("", " ")):
        with pytest.raises(BtmError, match="--by NAME --reason TEXT"):
            advance(engine, settings, by=by, reason=reason)
    assert [c.phase for c in history(engine, Q1)] == ["assess", "design"]
    assert snapshot(engine, Q1) == before
    dropped = next(i.id for i in backlog_of(engine, Q1) if i.id != MTI_1)
    update_initiative(engine, dropped, status="dropped")

    change = advance(engine, settings)

    assert (change.cycle_id, change.phase, change.actor, change.reason) == (
        Q1,
        "execute",
        PMO,
        APPROVAL,
    )
    assert [(c.phase, c.actor) for c in history(engine, Q1)][-1] == ("execute", PMO)
    statuses = {i.id: i.status for i in backlog_of(engine, Q1)}
    assert statuses.pop(dropped) == "dropped"
    assert set(statuses.values()) == {"approved"}
    with pytest.raises(BtmError, match=f"improve compares its levels with {Q2}'s"):
        advance(engine, settings)  # no later cycle is scored
    assert len(history(engine, Q1)) == 3


def test_running_a_cycle_again_adds_no_phase_change_and_keeps_its_backlog(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    changes = [(c.id, c.phase) for c in history(engine, Q1)]
    update_initiative(engine, MTI_1, owner="Zoë Müller")  # the PMO's edit in design
    before = snapshot(engine, Q1)

    run_first_cycle(engine, settings, tmp_path)

    assert [(c.id, c.phase) for c in history(engine, Q1)] == changes
    assert snapshot(engine, Q1) == before
    kept = build_backlog(
        engine=engine, cycle_id=Q1, catalog=CATALOG, settings=settings, actor="btm"
    )
    assert [i.model_dump() for i in kept] == before


def test_the_next_cycle_improves_and_closes_the_executing_one(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    advance(engine, settings)

    run_second_cycle(engine, settings, tmp_path)

    changes = history(engine, Q1)
    assert [(c.phase, c.actor) for c in changes] == [
        ("assess", "btm"),
        ("design", "tests"),
        ("execute", PMO),
        ("improve", "tests"),
        ("closed", "tests"),
    ]
    assert changes[3].reason == f"{Q2} is scored: its levels are compared with this cycle's"
    assert changes[4].reason.startswith(f"reviewed against {Q2}: ")
    assert [c.phase for c in history(engine, Q2)] == ["assess", "design"]
    with store.session_scope(engine) as session:
        stored = session.get(store.CycleReview, Q1)
        before = store.get_scores(session=session, cycle_id=Q1)
        after = store.get_scores(session=session, cycle_id=Q2)
    assert stored is not None and stored.compared_with == Q2
    review = stored.review
    was = {(s.unit, s.capability, s.dimension): s.level for s in before}
    fell = [
        (s.unit, s.capability, s.dimension, old, s.level)
        for s in after
        if (old := was[(s.unit, s.capability, s.dimension)]) is not None
        and s.level is not None
        and s.level < old
    ]
    assert fell, "the second quarter's evidence lowers some levels"
    assert [
        (r["unit"], r["capability"], r["dimension"], r["from"], r["to"])
        for r in review["regressions"]
    ] == fell
    outcomes = {o["initiative"]: o for o in review["initiatives"]}
    assert set(outcomes) == {i.id for i in backlog_of(engine, Q1)}  # every one was approved
    assert outcomes[MTI_1] == {
        "initiative": MTI_1,
        "target_level": 3,
        "due_cycle": Q2,
        "reached": True,  # 85 % business cases: level 4 in both units
        "verdict": "done",
        "judgement": f"reached level 3 at {Q2}, on time",
        "units_below": [],
        "last_pulse": None,
    }
    below_target = {
        (s.capability, s.dimension)
        for s in after
        if s.level is not None and s.target_level is not None and s.level < s.target_level
    }
    assert {(p["capability"], p["dimension"]) for p in review["proposed_targets"]} == below_target
    with pytest.raises(BtmError, match=f"{Q1} is closed"):
        advance(engine, settings)


def test_a_cycle_left_in_design_waits_at_the_gate_when_the_next_one_runs(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    before = snapshot(engine, Q1)

    run_second_cycle(engine, settings, tmp_path)

    assert [c.phase for c in history(engine, Q1)] == ["assess", "design"]
    assert snapshot(engine, Q1) == before  # still proposed: no run passes the gate
    assert [c.phase for c in history(engine, Q2)] == ["assess", "design"]
    with store.session_scope(engine) as session:
        assert session.get(store.CycleReview, Q1) is None
    progress = after_assessment(
        engine=engine, cycle_id=Q2, catalog=CATALOG, settings=settings, actor="tests"
    )
    assert progress == Progress(designed=None, backlog=0, improved=(), waiting=(Q1,))
    assert progress.lines(settings) == [
        f"{Q1}: still waits in design for the PMO's approval of its backlog "
        "(`btm cycle advance`); not passed by a scheduled run"
    ]
    assert len(history(engine, Q2)) == 2


# phases, rule by rule -------------------------------------------------------------------


def test_advancing_an_executing_cycle_needs_a_later_scored_cycle(engine: sa.Engine) -> None:
    settings = Settings()
    scored_cycle(engine, Q1, [score("Retail", "MTI-1", "process", 2)])
    move(engine, Q1, "design", "execute")
    with store.session_scope(engine) as session:  # the next cycle opened, not scored yet
        store.open_cycle(session=session, cycle_id=Q2, as_of=cycle_as_of(Q2))

    with pytest.raises(BtmError) as caught:
        advance(engine, settings)

    assert str(caught.value) == (
        f"{Q1} executes until the next cycle is scored: improve compares its levels with "
        f"{Q2}'s; run that cycle first"
    )
    assert [c.phase for c in history(engine, Q1)][-1] == "execute"


def test_advance_refuses_a_closed_an_unknown_and_an_unscored_cycle(engine: sa.Engine) -> None:
    settings = Settings()
    scored_cycle(engine, Q1)
    move(engine, Q1, "design", "execute", "improve", "closed")
    with store.session_scope(engine) as session:
        store.open_cycle(session=session, cycle_id=Q2, as_of=cycle_as_of(Q2))

    with pytest.raises(BtmError, match=f"^{Q1} is closed; `btm status` shows the open cycle$"):
        advance(engine, settings, Q1)
    with pytest.raises(BtmError, match=f"^there is no cycle {Q3};"):
        advance(engine, settings, Q3)
    with pytest.raises(BtmError, match=rf"{Q2} is not scored yet; run `btm run --cycle {Q2}`"):
        advance(engine, settings, Q2)
    assert len(history(engine, Q1)) == 5 and len(history(engine, Q2)) == 1


def test_a_design_without_an_initiative_to_execute_cannot_be_approved(engine: sa.Engine) -> None:
    settings = Settings()
    scored_cycle(engine, Q1)  # no score below target: an empty backlog
    move(engine, Q1, "design")

    with pytest.raises(BtmError, match=f"btm initiatives import --cycle {Q1} FILE"):
        advance(engine, settings)
    assert [c.phase for c in history(engine, Q1)] == ["assess", "design"]


def review_scores() -> tuple[list[store.Score], list[store.Score]]:
    before = [
        score("Retail", "MTI-1", "process", 2),
        score("Wealth", "MTI-1", "process", 2),
        score("Retail", "GO-2", "process", 4),
        score("Wealth", "GO-2", "process", None),
        score("Retail", "GO-3", "information", 2),
    ]
    after = [
        score("Retail", "MTI-1", "process", 3, cycle_id=Q2),
        score("Wealth", "MTI-1", "process", 2, cycle_id=Q2),
        score("Retail", "GO-2", "process", 3, cycle_id=Q2),  # fell from 4
        score("Wealth", "GO-2", "process", 2, cycle_id=Q2),  # was unknown: no regression
        score("Retail", "GO-3", "information", 3, cycle_id=Q2),
    ]
    return before, after


def stored_initiative(
    capability: str, dimension: str, *, rank: int, target: int, status: str = "approved"
) -> store.Initiative:
    return store.Initiative(
        id=initiative_id(Q1, capability, dimension),
        cycle_id=Q1,
        rank=rank,
        priority=1.0,
        capability=capability,
        dimension=dimension,
        level=2,
        target_level=target,
        gap=1.0,
        owner="Head of PMO",
        due_cycle=Q2,
        status=status,
        title=f"lift {capability} {dimension}",
    )


def test_the_review_compares_levels_targets_and_initiatives(engine: sa.Engine) -> None:
    before, after = review_scores()
    scored_cycle(engine, Q1, before)
    scored_cycle(engine, Q2, after)
    with store.session_scope(engine) as session:
        session.add_all(
            [
                stored_initiative("MTI-1", "process", rank=1, target=3),
                stored_initiative("GO-3", "information", rank=2, target=3),
                stored_initiative("SP-1", "technology", rank=3, target=2),  # unknown in Q2
                stored_initiative("GO-2", "process", rank=4, target=4, status="dropped"),
            ]
        )
        session.commit()
        for day, state in ((date(2026, 5, 1), "at risk"), (date(2026, 4, 1), "on track")):
            store.replace_pulses(
                session=session,
                as_of=day,
                pulses=[store.InitiativePulse(initiative_id=MTI_1, as_of=day, state=state)],
            )

    review = review_cycle(engine=engine, cycle_id=Q1, compared_with=Q2, catalog=CATALOG)

    assert review == {
        "compared_with": Q2,
        "enterprise": {"before": 2.5, "after": 2.6},  # 10 / 4 known, 13 / 5
        "cells_at_target": {"before": 1, "after": 3, "of": 5},
        "regressions": [
            {"unit": "Retail", "capability": "GO-2", "dimension": "process", "from": 4, "to": 3}
        ],
        "initiatives": [
            {
                "initiative": MTI_1,
                "target_level": 3,
                "due_cycle": Q2,
                "reached": False,
                "verdict": "overdue",
                "judgement": f"overdue: due {Q2}, at {Q2} Wealth below 3",
                "units_below": ["Wealth"],
                "last_pulse": "at risk",  # the newest reading, not the last stored
            },
            {
                "initiative": f"{Q1}-GO-3-information",
                "target_level": 3,
                "due_cycle": Q2,
                "reached": True,
                "verdict": "done",
                "judgement": f"reached level 3 at {Q2}, on time",
                "units_below": [],
                "last_pulse": None,
            },
            {
                "initiative": f"{Q1}-SP-1-technology",
                "target_level": 2,
                "due_cycle": Q2,
                "reached": False,  # no known level to reach it with
                "verdict": "overdue",
                "judgement": f"overdue: due {Q2}, at {Q2} no known level",
                "units_below": [],
                "last_pulse": None,
            },
        ],
        "proposed_targets": [
            {"capability": "GO-2", "dimension": "process", "level": 2, "proposed_target": 3},
            {"capability": "MTI-1", "dimension": "process", "level": 2, "proposed_target": 3},
        ],
    }


def test_advancing_an_executing_cycle_reviews_and_closes_it(engine: sa.Engine) -> None:
    before, after = review_scores()
    scored_cycle(engine, Q1, before)
    scored_cycle(engine, Q2, after)
    with store.session_scope(engine) as session:
        session.add(stored_initiative("MTI-1", "process", rank=1, target=3))
        session.add(stored_initiative("GO-3", "information", rank=2, target=3))
        session.commit()
    move(engine, Q1, "design", "execute")

    change = advance(engine, Settings(), by=PMO, reason="reviewed early")

    assert [(c.phase, c.actor, c.reason) for c in history(engine, Q1)][-2:] == [
        ("improve", PMO, "reviewed early"),
        (
            "closed",
            PMO,
            f"reviewed against {Q2}: 1 of 2 initiatives reached their target, 1 regressions; "
            f"{Q2} is the open cycle",
        ),
    ]
    assert change.phase == "closed"
    with store.session_scope(engine) as session:
        stored = session.get(store.CycleReview, Q1)
    assert stored is not None and stored.compared_with == Q2
    assert stored.review == review_cycle(
        engine=engine, cycle_id=Q1, compared_with=Q2, catalog=CATALOG
    )


# pulse ------------------------------------------------------------------------------------

RULES = PulseRules(slip_days_off_track=30, stale_update_days=45)
AS_OF = date(2026, 5, 15)


def project(**fields: Any) -> dict[str, Any]:
    """A project row as latest_projects gives it: on track on AS_OF unless overridden."""
    row: dict[str, Any] = {
        "project_id": "PRJ-7",
        "status": "active",
        "health": "green",
        "planned_end": pd.Timestamp("2026-09-30"),
        "forecast_end": pd.Timestamp("2026-09-30"),
        "percent_complete": 40.0,
        "last_status_update": pd.Timestamp("2026-05-01"),
    }
    return row | fields


@pytest.mark.parametrize(
    ("fields", "flags"),
    [
        ({}, ()),
        (
            {"status": "completed", "health": "red", "planned_end": pd.Timestamp("2026-01-31")},
            (),
        ),
        ({"health": "red"}, (("off track", "health red"),)),
        ({"health": "amber"}, (("at risk", "health amber"),)),
        ({"status": "on_hold", "health": None}, (("off track", "on hold"),)),
        ({"status": "cancelled", "health": float("nan")}, (("off track", "cancelled"),)),
        (
            {"planned_end": pd.Timestamp("2026-05-14"), "forecast_end": pd.NaT},
            (("off track", "past its planned end 2026-05-14 and not completed"),),
        ),
        ({"planned_end": pd.Timestamp("2026-05-15"), "forecast_end": pd.NaT}, ()),  # ends today
        (
            {"forecast_end": pd.Timestamp("2026-10-31")},
            (("off track", "forecast 31 days after its planned end"),),
        ),
        (
            {"forecast_end": pd.Timestamp("2026-10-30")},
            (("at risk", "forecast 30 days after its planned end"),),
        ),
        ({"forecast_end": pd.Timestamp("2026-09-01")}, ()),  # early
        (
            {"last_status_update": pd.Timestamp("2026-03-30")},
            (("at risk", "no status update for over 45 days (last on 2026-03-30)"),),
        ),
        ({"last_status_update": pd.Timestamp("2026-03-31")}, ()),  # 45 days: not yet stale
        (
            {"last_status_update": pd.NaT},
            (("at risk", "no status update for over 45 days (never)"),),
        ),
        (
            {"health": "amber", "last_status_update": None},
            (
                ("at risk", "health amber"),
                ("at risk", "no status update for over 45 days (never)"),
            ),
        ),
    ],
)
def test_a_project_is_read_from_its_status_health_schedule_and_updates(
    fields: dict[str, Any], flags: tuple[tuple[str, str], ...]
) -> None:
    reading = read_project(project(**fields), as_of=AS_OF, rules=RULES)

    assert reading.flags == flags
    assert reading.project_id == "PRJ-7"


def test_a_project_s_progress_is_its_percent_complete_or_100_once_completed() -> None:
    def progress(**fields: Any) -> float | None:
        return read_project(project(**fields), as_of=AS_OF, rules=RULES).progress

    assert progress() == 40.0
    assert progress(percent_complete=float("nan")) is None
    assert progress(percent_complete=None) is None
    assert progress(status="completed", percent_complete=70.0) == 100.0
    reading = read_project(project(health="amber"), as_of=AS_OF, rules=RULES)
    assert reading.to_json() == {
        "project_id": "PRJ-7",
        "status": "active",
        "health": "amber",
        "progress": 40.0,
        "flags": ["health amber"],
    }


def initiative_linked(*projects: str) -> store.Initiative:
    initiative = stored_initiative("MTI-1", "process", rank=1, target=3)
    initiative.linked_projects = list(projects)
    return initiative


def reading(project_id: str, **fields: Any) -> ProjectReading:
    return read_project(project(project_id=project_id, **fields), as_of=AS_OF, rules=RULES)


READINGS = {
    "PRJ-1": reading("PRJ-1"),  # on track, 40 %
    "PRJ-2": reading("PRJ-2", status="completed"),
    "PRJ-3": reading("PRJ-3", status="completed", percent_complete=float("nan")),
    "PRJ-4": reading("PRJ-4", health="amber", percent_complete=float("nan")),
    "PRJ-5": reading("PRJ-5", health="red", percent_complete=10.0),
}


@pytest.mark.parametrize(
    ("links", "state", "progress", "finding"),
    [
        ((), None, None, "no linked projects: link the projects that deliver it"),
        (
            ("PRJ-8", "PRJ-9"),
            "no evidence",
            None,
            "none of its projects is in the evidence: PRJ-8, PRJ-9",
        ),
        (("PRJ-1", "PRJ-9"), "at risk", 40.0, "not in the evidence: PRJ-9"),
        (("PRJ-5", "PRJ-9"), "off track", 10.0, "PRJ-5: health red"),
        (("PRJ-2", "PRJ-3"), "done", 100.0, None),
        (("PRJ-2", "PRJ-1"), "on track", 70.0, None),  # (100 + 40) / 2
        (("PRJ-1", "PRJ-4"), "at risk", 40.0, "PRJ-4: health amber"),  # unknown progress left out
        (("PRJ-4", "PRJ-5", "PRJ-2"), "off track", 55.0, "PRJ-5: health red"),
    ],
)
def test_an_initiative_s_projects_are_judged_by_the_worst_of_them(
    links: tuple[str, ...], state: str | None, progress: float | None, finding: str | None
) -> None:
    projects = judge_projects(initiative_linked(*links), READINGS)

    assert projects.state == state  # None: no project to judge, the cell decides
    assert projects.progress == progress
    if finding is None:
        assert projects.findings == ()
    else:
        assert any(f.startswith(finding) for f in projects.findings), projects.findings
    assert [p.project_id for p in projects.projects] == [p for p in links if p in READINGS]


def edit_backlog(path: Path, edits: Mapping[str, Mapping[str, Any]]) -> None:
    """Apply field edits, by initiative id, to an exported backlog file (CSV or YAML)."""
    entries = read_entries(path)
    for entry in entries:
        entry.update(edits.get(str(entry["id"]), {}))
    write_entries(path, entries)


def read_entries(path: Path) -> list[dict[str, Any]]:
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as handle:
            return list(csv.DictReader(handle))
    return list(yaml.safe_load(path.read_text(encoding="utf-8"))["initiatives"])


def write_entries(path: Path, entries: Sequence[Mapping[str, Any]]) -> None:
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=list(entries[0]))
            writer.writeheader()
            writer.writerows(entries)
        return
    document = {"cycle": Q1, "initiatives": list(entries)}
    path.write_text(yaml.safe_dump(document, sort_keys=False, allow_unicode=True), encoding="utf-8")


def links(path: Path, *projects: str) -> Any:
    """Linked projects as the file's format writes them."""
    return "; ".join(projects) if path.suffix == ".csv" else list(projects)


def import_backlog(
    engine: sa.Engine, settings: Settings, path: Path, cycle_id: str = Q1
) -> BacklogImport:
    return backlog_steps.import_backlog(
        engine=engine, cycle_id=cycle_id, path=path, catalog=CATALOG, settings=settings
    )


def test_the_pulse_reads_the_approved_initiatives_of_executing_cycles(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path, projects=PULSE_PROJECTS)
    path = tmp_path / "backlog.yaml"
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    others = [i.id for i in backlog_of(engine, Q1) if i.id != MTI_1]
    edit_backlog(
        path,
        {MTI_1: {"linked_projects": ["PRJ-Retail-0", "PRJ-Wealth-2"]}}
        | {
            other: {"status": "dropped", "decided_by": PMO, "decision_reason": "one at a time"}
            for other in others
        },
    )
    import_backlog(engine, settings, path)

    def pulse(day: date) -> Pulse:
        return run_pulse(
            engine=engine, as_of=day, settings=settings, catalog=CATALOG, rubric=RUBRIC
        )

    assert pulse(PULSE_DAY).readings == ()  # in design: nothing executes yet
    assert stored_pulses(engine) == []
    advance(engine, settings)

    first = pulse(PULSE_DAY)

    assert first.evidence_cycle == Q1
    ((initiative, reading_),) = first.readings  # the dropped ones are not read
    assert initiative.id == MTI_1 and initiative.status == "approved"
    # its projects are on track, its cell does not move on the evidence it was scored on
    assert (reading_.state, reading_.progress) == ("at risk", 65.0)  # (100 + 30) / 2
    assert reading_.findings == [NOT_MOVING]
    assert [p["project_id"] for p in reading_.projects] == ["PRJ-Retail-0", "PRJ-Wealth-2"]
    assert first.count("at risk") == 1
    assert [(p.initiative_id, p.as_of, p.state) for p in stored_pulses(engine)] == [
        (MTI_1, PULSE_DAY, "at risk")
    ]

    # while it executes the PMO re-links MTI-1 and adds an initiative, not approved
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    edit_backlog(path, {MTI_1: {"linked_projects": ["PRJ-Retail-1"]}})
    added = {name: "" for name in read_entries(path)[0]} | {
        "capability": "SP-3",
        "dimension": "process",
        "target_level": 3,
        "owner": "Strategy office",
        "due_cycle": Q2,
        "linked_projects": ["PRJ-Wealth-2"],
    }
    write_entries(path, [*read_entries(path), added])
    assert import_backlog(engine, settings, path).added == 1
    assert [i.id for i, _ in pulse(PULSE_DAY).readings] == [MTI_1]  # the same day: replaced
    later = pulse(date(2026, 5, 15))

    assert [(p.as_of, p.state, p.findings) for p in stored_pulses(engine)] == [
        (PULSE_DAY, "off track", [NOT_MOVING, "PRJ-Retail-1: health red"]),
        (
            date(2026, 5, 15),
            "off track",
            [
                NOT_MOVING,
                "PRJ-Retail-1: health red",
                "PRJ-Retail-1: no status update for over 45 days (last on 2026-03-20)",
            ],
        ),
    ]
    assert later.count("off track") == 1
    with store.session_scope(engine) as session:
        latest = store.latest_pulses(session=session, initiative_ids=[MTI_1])
    assert latest[MTI_1].as_of == date(2026, 5, 15)


# the backlog file ---------------------------------------------------------------------------


def test_a_backlog_is_imported_only_in_design_or_execute(engine: sa.Engine, tmp_path: Path) -> None:
    settings = Settings()
    path = tmp_path / "backlog.yaml"
    scored_cycle(engine, Q1, [score("Retail", "MTI-1", "process", 2)])
    scored_cycle(engine, Q2)
    move(engine, Q2, "design", "execute", "improve", "closed")

    with pytest.raises(BtmError, match=f"^{Q1} is assess: a backlog is imported in the design"):
        import_backlog(engine, settings, path, Q1)
    with pytest.raises(BtmError, match=f"^{Q2} is closed: "):
        import_backlog(engine, settings, path, Q2)
    with pytest.raises(BtmError, match=f"^{Q3} is not opened: "):
        import_backlog(engine, settings, path, Q3)
    with pytest.raises(BtmError, match=f"^{Q1} has no backlog yet"):
        export_backlog(engine=engine, cycle_id=Q1, path=path)


@pytest.mark.parametrize("suffix", [".yaml", ".csv"])
def test_an_edited_backlog_file_updates_adds_and_renumbers_initiatives(
    engine: sa.Engine, settings: Settings, tmp_path: Path, suffix: str
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    path = tmp_path / f"backlog{suffix}"
    exported = export_backlog(engine=engine, cycle_id=Q1, path=path)
    first, *rest = backlog_of(engine, Q1)
    assert exported == 1 + len(rest) and rest, "the test needs two initiatives"
    second = rest[0]
    edit_backlog(
        path,
        {
            first.id: {
                "owner": "Zoë Müller",
                "linked_projects": links(path, "PRJ-Retail-0", "PRJ-Wealth-3"),
                "rank": 30,
            },
            second.id: {
                "status": "dropped",
                "decided_by": "Ann Lee",
                "decision_reason": "no sponsor this year",
                "rank": 10,
            },
        }
        | {i.id: {"rank": 40 + n} for n, i in enumerate(rest[1:])},
    )
    entries = read_entries(path)
    new = {name: "" for name in entries[0]} | {
        "capability": "SP-3",
        "dimension": "process",
        "target_level": 3,
        "owner": "Strategy office",
        "due_cycle": Q3,
        "rank": 20,
    }
    write_entries(path, [*entries, new])

    result = import_backlog(engine, settings, path)

    assert result == BacklogImport(
        updated=1 + len(rest), added=1, dropped=1, decided=1, untouched=()
    )
    backlog = {i.id: i for i in backlog_of(engine, Q1)}
    assert (backlog[first.id].owner, backlog[first.id].linked_projects) == (
        "Zoë Müller",
        ["PRJ-Retail-0", "PRJ-Wealth-3"],
    )
    assert backlog[first.id].status == "proposed" and backlog[second.id].status == "dropped"
    added = backlog[f"{Q1}-SP-3-process"]
    assert (added.status, added.owner, added.target_level, added.due_cycle) == (
        "proposed",
        "Strategy office",
        3,
        Q3,
    )
    assert [i.id for i in backlog_of(engine, Q1)] == [
        second.id,
        added.id,
        first.id,
        *(i.id for i in rest[1:]),
    ]
    assert [i.rank for i in backlog_of(engine, Q1)] == list(range(1, len(backlog) + 1))


def test_a_link_to_a_project_not_in_the_evidence_changes_nothing(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    path = tmp_path / "backlog.csv"
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    first, second, *_ = backlog_of(engine, Q1)
    edit_backlog(
        path,
        {
            first.id: {"owner": "Zoë Müller", "linked_projects": "PRJ-Retail-0"},
            second.id: {"linked_projects": "PRJ-Retail-1; PRJ-Nowhere"},
        },
    )
    before = snapshot(engine, Q1)

    with pytest.raises(InitiativeFileError) as caught:
        import_backlog(engine, settings, path)

    assert caught.value.problems[0].startswith(
        "row 3, column linked_projects: unknown project 'PRJ-Nowhere'"
    )
    assert str(path) in str(caught.value)
    assert snapshot(engine, Q1) == before


def test_a_new_initiative_must_aim_above_its_cell_s_level(
    engine: sa.Engine, tmp_path: Path
) -> None:
    settings = Settings()
    scored_cycle(
        engine,
        Q1,
        [score("Retail", "MTI-1", "process", 2), score("Retail", "GO-1", "information", 5)],
    )
    build_backlog(engine=engine, cycle_id=Q1, catalog=CATALOG, settings=settings, actor="btm")
    move(engine, Q1, "design")
    path = tmp_path / "backlog.yaml"
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    added = {name: "" for name in read_entries(path)[0]} | {
        "capability": "GO-1",
        "dimension": "information",
        "target_level": 2,
        "owner": "CIO office",
        "due_cycle": Q2,
    }
    write_entries(path, [*read_entries(path), added])
    before = snapshot(engine, Q1)

    with pytest.raises(BtmError, match="initiative 2, field target_level"):
        import_backlog(engine, settings, path)
    assert snapshot(engine, Q1) == before


def test_initiatives_the_file_leaves_out_are_untouched(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)
    path = tmp_path / "backlog.yaml"
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    rest = backlog_of(engine, Q1)[1:]
    before = snapshot(engine, Q1)[1:]
    write_entries(path, [e | {"owner": "Zoë Müller"} for e in read_entries(path)[:1]])

    result = import_backlog(engine, settings, path)

    assert result.untouched == tuple(sorted(i.id for i in rest))
    assert result.summary == (
        f"1 initiatives updated, 0 added, 0 dropped; not in the file, left as they were: "
        f"{', '.join(result.untouched)}"
    )
    assert backlog_of(engine, Q1)[0].owner == "Zoë Müller"
    assert snapshot(engine, Q1)[1:] == before


# the report and `btm status` ----------------------------------------------------------------


def section(engine: sa.Engine, settings: Settings, cycle_id: str) -> Improvement:
    found = report_section(engine=engine, cycle_id=cycle_id, catalog=CATALOG, settings=settings)
    assert found is not None
    return found


def test_the_report_shows_the_backlog_waiting_for_and_then_approved_by_the_pmo(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path)

    proposed = section(engine, settings, Q1)

    assert proposed.backlog_text == "proposed, waiting for the PMO's approval"
    assert proposed.phase_text.startswith("design")
    assert "the PMO's approval of the backlog" in proposed.phase_text
    assert (proposed.executed_cycle_id, proposed.executed, proposed.regressions) == (None, (), ())
    assert [(line.rank, line.status) for line in proposed.backlog] == [
        (i.rank, "proposed") for i in backlog_of(engine, Q1)
    ]
    change = advance(engine, settings)
    approved = section(engine, settings, Q1)
    assert approved.backlog_text == f"approved by {PMO} on {change.entered_at:%Y-%m-%d}"
    assert approved.phase_text.startswith("execute")
    assert f"the scoring of {Q2}" in approved.phase_text
    assert (
        report_section(engine=engine, cycle_id=Q2, catalog=CATALOG, settings=settings) is None
    )  # never opened


def test_the_next_report_shows_each_executed_initiative_s_pulse_and_outcome(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run_first_cycle(engine, settings, tmp_path, projects=PULSE_PROJECTS)
    update_initiative(engine, MTI_1, linked_projects=["PRJ-Retail-0", "PRJ-Wealth-2"])
    advance(engine, settings)
    run_pulse(engine=engine, as_of=PULSE_DAY, settings=settings, catalog=CATALOG, rubric=RUBRIC)
    run_second_cycle(engine, settings, tmp_path)

    shown = section(engine, settings, Q2)

    assert shown.executed_cycle_id == Q1
    with store.session_scope(engine) as session:
        review = session.get(store.CycleReview, Q1)
    assert review is not None
    outcomes = {o["initiative"]: o for o in review.review["initiatives"]}
    executed = store.backlog_of(engine=engine, cycle_id=Q1)  # in the ranks of Q2's backlog
    assert [(line.capability_id, line.dimension) for line in shown.executed] == [
        (i.capability, i.dimension) for i in executed
    ]
    for line, initiative in zip(shown.executed, executed, strict=True):
        outcome = outcomes[initiative.id]
        below = ", ".join(outcome["units_below"])
        assert line.outcome_text == (
            "reached"
            if outcome["reached"]
            else f"overdue: due {Q2}, {below} below {outcome['target_level']}"
        )
        if initiative.id != MTI_1:  # no linked project: its cell, unmoved in the pulse, decides
            assert (line.state, line.progress_text) == ("at risk", "–")
    mti = next(line for line in shown.executed if line.capability_id == "MTI-1")
    assert (mti.state, mti.progress_text, mti.outcome_text) == ("at risk", "65 %", "reached")
    assert mti.projects_text == "PRJ-Retail-0, PRJ-Wealth-2"
    assert shown.backlog_text == "proposed, waiting for the PMO's approval"

    rendered = render_cycle_report(
        engine=engine, cycle_id=Q2, catalog=CATALOG, rubric=RUBRIC, settings=settings
    )

    html = rendered.html.split(">Improvement initiatives</h2>", 1)[1]
    html = html.split(">Quarantined evidence</h2>", 1)[0]
    text = rendered.text.split("IMPROVEMENT INITIATIVES", 1)[1].split("QUARANTINED EVIDENCE")[0]
    assert ">65 %</td>" in html and ", 65 %, reached" in text
    for line in shown.executed:
        assert f">{line.progress_text}</td>" in html
        assert f": {line.state}, {line.progress_text}, {line.outcome_text}" in text


def test_status_says_what_each_phase_waits_for_naming_the_pmo(
    engine: sa.Engine, btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_PMO", "the Office of the CIO")
    settings = Settings()
    assert settings.pmo == "the Office of the CIO"
    scored_cycle(engine, Q1, [score("Retail", "MTI-1", "process", 2)])
    move(engine, Q1, "design")
    with store.session_scope(engine) as session:
        store.open_cycle(session=session, cycle_id=Q2, as_of=cycle_as_of(Q2))

    statuses = phase_statuses(engine=engine, settings=settings)

    assert [(s.cycle_id, s.phase, s.actor, s.reason) for s in statuses] == [
        (Q1, "design", "tests", "set up"),
        (Q2, "assess", "btm", "opened to gather its evidence"),
    ]
    design, assess = statuses
    assert design.waits_for == (
        f"the Office of the CIO's approval of the backlog: `btm initiatives export --cycle {Q1} "
        f"FILE`, review, `btm initiatives import --cycle {Q1} FILE`, then "
        f"`btm cycle advance --cycle {Q1} --by NAME --reason TEXT`"
    )
    assert assess.waits_for.startswith(
        "its scoring: the quarterly-cycle run on or after 2026-07-01"
    )
    assert set(design.to_json()) == {"cycle_id", "phase", "since", "actor", "reason", "waits_for"}
    move(engine, Q1, "execute")
    executing = phase_statuses(engine=engine, settings=settings)[0]
    assert executing.waits_for.startswith(f"the scoring of {Q2} (quarterly-cycle on 2026-07-01)")


def test_a_backlog_file_approves_only_with_who_and_why(engine: sa.Engine, tmp_path: Path) -> None:
    settings = Settings()
    scored_cycle(engine, Q1, [score("Retail", "MTI-1", "process", 2)])
    build_backlog(engine=engine, cycle_id=Q1, catalog=CATALOG, settings=settings, actor="btm")
    move(engine, Q1, "design")
    path = tmp_path / "backlog.csv"
    export_backlog(engine=engine, cycle_id=Q1, path=path)
    write_entries(path, [{**e, "status": "approved"} for e in read_entries(path)])
    before = snapshot(engine, Q1)

    with pytest.raises(BtmError, match=r"row 2, column decided_by: empty; a change of status"):
        import_backlog(engine, settings, path)
    assert snapshot(engine, Q1) == before
