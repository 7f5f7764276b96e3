"""Initiatives with a horizon (issue 17): approved in one cycle, due a later one, carried
over into the backlogs between with their owner, links and history, pulsed monthly, judged
at their due cycle; and the PMO's decisions one initiative at a time, each with who and
why, in `btm cycle history`.

Whole cycles run through tests/pipeline.run_cycle on generated evidence: 55 % of the
investments with a business case leave MTI-1 process at level 2 of its target 3, 85 %
lift it to 4."""

from __future__ import annotations

import csv
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from btm import store
from btm.cli import app
from btm.errors import BtmError
from btm.improvement.backlog import export_backlog, import_backlog
from btm.improvement.config import load_config
from btm.improvement.progress import advance
from btm.improvement.pulse import run_pulse
from btm.settings import Settings
from btm.vocabulary import InitiativeStatus
from tests.factories import write_quarter
from tests.pipeline import CATALOG, JANUARY, RUBRIC, run_cycle

CYCLES = ("2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4", "2027-Q1", "2027-Q2")
C1, C2, C3 = CYCLES[:3]
MTI_1 = f"{C1}-MTI-1-process"
PMO = "Ana Lima"


def run(cycle_id: str, engine: sa.Engine, settings: Settings, tmp_path: Path, share: float) -> None:
    inbox = write_quarter(tmp_path / cycle_id, case_share=share)
    run_cycle(cycle_id, inbox, engine, settings)


def approve(engine: sa.Engine, settings: Settings, cycle_id: str) -> None:
    advance(
        engine=engine,
        cycle_id=cycle_id,
        actor=PMO,
        reason="backlog reviewed at the portfolio board",
        catalog=CATALOG,
        settings=settings,
    )


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def edit(path: Path, edits: dict[str, dict[str, str]]) -> None:
    rows = read_rows(path)
    for row in rows:
        row.update(edits.get(row["id"], {}))
    write_rows(path, rows)


def import_file(engine: sa.Engine, settings: Settings, path: Path, cycle_id: str = C1) -> Any:
    return import_backlog(
        engine=engine, cycle_id=cycle_id, path=path, catalog=CATALOG, settings=settings
    )


def backlog_ids(engine: sa.Engine, cycle_id: str) -> list[str]:
    return [i.id for i in store.backlog_of(engine=engine, cycle_id=cycle_id)]


def initiative(engine: sa.Engine, initiative_id: str) -> store.Initiative:
    with store.session_scope(engine) as session:
        found = session.get(store.Initiative, initiative_id)
    assert found is not None
    return found


def pulsed_on(engine: sa.Engine, initiative_id: str) -> list[date]:
    with store.session_scope(engine) as session:
        pulses = session.query(store.InitiativePulse).filter_by(initiative_id=initiative_id)
        return sorted(p.as_of for p in pulses)


def pulse(engine: sa.Engine, settings: Settings, day: date) -> list[str]:
    reading = run_pulse(engine=engine, as_of=day, settings=settings, catalog=CATALOG, rubric=RUBRIC)
    return [i.id for i, _ in reading.readings]


MONTHS = {C2: (4, 5, 6), C3: (7, 8, 9), "2026-Q4": (10, 11, 12)}


def pulsed_in(engine: sa.Engine, settings: Settings, quarter: str) -> list[date]:
    """The monthly pulses of a quarter (the 15th of each month) that read MTI_1."""
    days = [date(2026, month, 15) for month in MONTHS[quarter]]
    return [day for day in days if MTI_1 in pulse(engine, settings, day)]


def test_an_initiative_due_two_cycles_on_is_carried_once_pulsed_monthly_and_judged_when_due(
    engine: sa.Engine, settings: Settings, tmp_path: Path
) -> None:
    run(C1, engine, settings, tmp_path, share=0.55)
    path = tmp_path / "backlog.csv"
    export_backlog(engine=engine, cycle_id=C1, path=path)
    edit(
        path,
        {
            MTI_1: {
                "due_cycle": C3,
                "linked_projects": "PRJ-Retail-1; PRJ-Wealth-2",
                "owner": "Zoë Müller",
                "status": "approved",
                "decided_by": PMO,
                "decision_reason": "two quarters: the case template first, then the board",
            }
        },
    )
    import_file(engine, settings, path)
    approve(engine, settings, C1)
    pulsed = pulsed_in(engine, settings, C2)

    run(C2, engine, settings, tmp_path, share=0.55)  # not there yet: carried over

    carried = initiative(engine, MTI_1)
    assert (carried.status, carried.judged_in, carried.carried_into) == ("approved", None, [C2])
    assert (carried.owner, carried.linked_projects) == (
        "Zoë Müller",
        ["PRJ-Retail-1", "PRJ-Wealth-2"],
    )
    assert MTI_1 in backlog_ids(engine, C2)
    assert f"{C2}-MTI-1-process" not in backlog_ids(engine, C2)  # carried, not proposed again
    approve(engine, settings, C2)
    pulsed += pulsed_in(engine, settings, C3)

    run(C3, engine, settings, tmp_path, share=0.85)  # its due cycle: level 4 in both units

    judged = initiative(engine, MTI_1)
    assert (judged.status, judged.judged_in, judged.carried_into) == ("done", C3, [C2])
    approve(engine, settings, C3)
    after = pulsed_in(engine, settings, "2026-Q4")
    for cycle_id in CYCLES[3:]:
        run(cycle_id, engine, settings, tmp_path, share=0.85)
        approve(engine, settings, cycle_id)

    assert pulsed == [date(2026, m, 15) for m in (*MONTHS[C2], *MONTHS[C3])]
    assert pulsed_on(engine, MTI_1) == pulsed and after == []
    assert [c for c in CYCLES if MTI_1 in backlog_ids(engine, c)] == [C1, C2]
    assert initiative(engine, MTI_1).carried_into == [C2]  # carried over once
    decisions = [
        (d.cycle_id, d.decision, d.actor)
        for d in store.decisions_of(engine=engine, cycle_ids=list(CYCLES))
        if d.initiative_id == MTI_1
    ]
    assert decisions == [(C1, "approved", PMO), (C2, "carried", "tests"), (C3, "done", "tests")]
    review = store.review_of(engine=engine, cycle_id=C2)
    assert review is not None
    (outcome,) = [o for o in review.review["initiatives"] if o["initiative"] == MTI_1]
    assert (
        outcome["verdict"] == "done" and outcome["judgement"] == f"reached level 3 at {C3}, on time"
    )


def test_per_initiative_decisions_are_checked_first_applied_together_and_kept_in_history(
    engine: sa.Engine,
    database_url: str,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run(C1, engine, settings, tmp_path, share=0.55)
    path = tmp_path / "backlog.csv"
    export_backlog(engine=engine, cycle_id=C1, path=path)
    first, second, third, fourth, *_ = backlog_ids(engine, C1)
    before = [i.model_dump() for i in store.backlog_of(engine=engine, cycle_id=C1)]
    priority = initiative(engine, first).priority
    decided = {
        first: {
            "status": "approved",
            "decided_by": PMO,
            "decision_reason": "funded from the change budget",
            "approver": "CFO",
            "cost_estimate": "120000",
            "effort_days": "30",
            "expected_gain": "2",
        },
        second: {"status": "deferred", "decided_by": PMO, "decision_reason": "after the merger"},
        third: {"status": "dropped", "decided_by": "Ben Ode", "decision_reason": "out of scope"},
        fourth: {"status": "approved", "decided_by": "", "effort_days": "-3"},
    }
    edit(path, decided)

    with pytest.raises(BtmError) as refused:
        import_file(engine, settings, path)

    assert str(refused.value).splitlines()[1:] == [
        "  row 5, column decided_by: empty; a change of status is a decision: write who "
        "decided (the row's status says what was decided)",
        "  row 5, column decision_reason: empty; a change of status is a decision: write why "
        "(the row's status says what was decided)",
        "  row 5, column effort_days: '-3' is not a number from 0; write one, or leave it empty",
    ]
    assert [i.model_dump() for i in store.backlog_of(engine=engine, cycle_id=C1)] == before
    assert store.decisions_of(engine=engine, cycle_ids=[C1]) == []

    decided[fourth] = {
        "status": "approved",
        "decided_by": "Ben Ode",
        "decision_reason": "quick win",
        "effort_days": "",
    }
    edit(path, decided)
    outcome = import_file(engine, settings, path)
    approve(engine, settings, C1)

    assert outcome.decided == 4
    weighed = initiative(engine, first)
    config = load_config(catalog=CATALOG, home=settings.resolved_home)
    assert (weighed.approver, weighed.cost_estimate, weighed.effort_days) == ("CFO", 120000, 30)
    assert weighed.priority == pytest.approx(
        priority * 2 / (1 + 30 / config.effort_scale_days), abs=0.01
    )
    assert weighed.priority_basis.endswith(f"/ effort {1 + 30 / config.effort_scale_days:.2f}")
    statuses = {i.id: i.status for i in store.backlog_of(engine=engine, cycle_id=C1)}
    assert [statuses[i] for i in (first, second, third, fourth)] == [
        "approved",
        "deferred",
        "dropped",
        "approved",
    ]
    assert all(s == "approved" for i, s in statuses.items() if i not in (second, third))
    monkeypatch.setenv("BTM_DATABASE_URL", database_url)
    shown = CliRunner().invoke(app, ["cycle", "history", "--cycle", C1, "--json"])
    assert shown.exit_code == 0, shown.output
    history = json.loads(shown.output)["decisions"]
    assert [(d["initiative"], d["decision"], d["actor"], d["reason"]) for d in history[:4]] == [
        (first, "approved", PMO, "funded from the change budget"),
        (second, "deferred", PMO, "after the merger"),
        (third, "dropped", "Ben Ode", "out of scope"),
        (fourth, "approved", "Ben Ode", "quick win"),
    ]
    gate = [d for d in history[4:]]
    assert gate and all(
        (d["decision"], d["actor"], d["reason"])
        == ("approved", PMO, "at the gate: backlog reviewed at the portfolio board")
        for d in gate
    )
    assert {d["initiative"] for d in gate} == {
        i for i, s in statuses.items() if i not in (first, second, third, fourth)
    }
    table = CliRunner().invoke(app, ["cycle", "history", "--cycle", C1], env={"COLUMNS": "250"})
    assert "Initiative decisions" in table.output and "after the merger" in table.output

    run(C2, engine, settings, tmp_path, share=0.55)  # the deferred one is proposed again

    again = initiative(engine, second)
    assert (again.status, again.carried_into, again.due_cycle) == ("proposed", [C2], C3)
    assert second in backlog_ids(engine, C2) and third not in backlog_ids(engine, C2)
    (carried,) = [
        d for d in store.decisions_of(engine=engine, cycle_ids=[C2]) if d.initiative_id == second
    ]
    assert carried.reason == f"deferred in {C1}; proposed again, due {C3}"
    late = initiative(engine, first)  # due C2, and MTI-2 process still below 2 there
    assert (InitiativeStatus(late.status), late.judged_in, late.carried_into) == (
        InitiativeStatus.OVERDUE,
        C2,
        [C2],
    )
    assert [
        (d.decision, d.reason)
        for d in store.decisions_of(engine=engine, cycle_ids=[C2])
        if d.initiative_id == first
    ] == [
        ("overdue", f"overdue: due {C2}, at {C2} Retail, Wealth below 2"),
        ("carried", f"overdue since {C2}: approve a later due cycle, or drop it"),
    ]


def test_initiatives_stored_before_horizons_keep_their_approval_both_ways(
    database_url: str,
) -> None:
    """Revision 0012 on a store of 0011: an approved initiative was approved in its own
    cycle and carried nowhere; a downgrade reads done and overdue as approved, deferred
    as proposed, and keeps every row."""
    from alembic import command

    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    columns = (
        "id, cycle_id, rank, priority, capability, dimension, level, target_level, gap, "
        "owner, due_cycle, linked_projects, status, title, guidance, created_at, updated_at"
    )

    def row(name: str, status: str) -> str:
        return (
            f"('{C1}-{name}', '{C1}', 1, 1.5, '{name[:5]}', 'process', 2, 3, 1.0, 'PMO', "
            f"'{C2}', '[\"PRJ-1\"]', '{status}', 'lift it', '[]', "
            "'2026-04-01 00:00:00', '2026-04-01 00:00:00')"
        )

    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011")
        connection.execute(
            sa.text(
                f"INSERT INTO cycle (id, as_of, started_at) VALUES ('{C1}', '2026-03-31', "
                "'2026-04-01 00:00:00')"
            )
        )
        connection.execute(
            sa.text(
                f"INSERT INTO initiative ({columns}) VALUES "
                f"{row('MTI-1-p', 'approved')}, {row('GO-1-pr', 'proposed')}"
            )
        )
    store.init_db(engine)

    kept = {i.id: i for i in store.all_initiatives(engine=engine)}
    approved, proposed = kept[f"{C1}-MTI-1-p"], kept[f"{C1}-GO-1-pr"]
    assert (approved.approved_in, approved.carried_into, approved.linked_projects) == (
        C1,
        [],
        ["PRJ-1"],
    )
    assert (proposed.approved_in, proposed.carried_into, proposed.priority_basis) == (None, [], "")
    approved.status, proposed.status = InitiativeStatus.DONE, InitiativeStatus.DEFERRED
    store.save_initiatives(engine=engine, initiatives=[approved, proposed])
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0011")
        back: dict[str, str] = dict(
            connection.execute(sa.text("SELECT id, status FROM initiative")).tuples().all()
        )
    assert back == {approved.id: "approved", proposed.id: "proposed"}
    engine.dispose()


def cell_score(unit: str, capability: str, level: int | None, basis: str) -> store.Score:
    unknown = [
        {"rule": "MTI-1.p.2", "level": 2, "metric": "business_case_coverage", "operator": ">=",
         "threshold": 0.5, "value": None, "outcome": "unknown", "trend": None,
         "reason": "no valid 'investments' evidence for this metric", "improve": "Write cases"},
    ]  # fmt: skip
    return store.Score(
        cycle_id=C1,
        unit=unit,
        capability=capability,
        dimension="process",
        level=level,
        target_level=3,
        gap=None if level is None else 3 - level,
        basis=basis,
        rubric_version="test",
        trace=unknown if level is None else [],
    )


def test_a_cell_no_unit_can_be_judged_is_proposed_after_every_known_gap() -> None:
    from btm.improvement.backlog import propose_backlog

    scores = [
        cell_score(unit, capability, level, basis)
        for unit in ("Retail", "Wealth")
        for capability, level, basis in (
            ("MTI-2", 2, "system"),  # a known gap, priority 1 x 1.2 x 1.1 = 1.32
            ("GO-1", None, "unknown"),  # unknown everywhere: 2 x 1.8 = 3.6, but unmeasured
            ("SEA-2", None, "not_applicable"),
        )
    ]
    config = load_config(catalog=CATALOG)

    def proposed(room: int) -> list[store.Initiative]:
        return propose_backlog(
            cycle_id=C1, scores=scores, catalog=CATALOG, config=config, calendar=JANUARY, room=room
        )

    known, unknown = proposed(10)
    assert [(i.capability, i.rank, i.level, i.target_level) for i in (known, unknown)] == [
        ("MTI-2", 1, 2, 3),
        ("GO-1", 2, None, 2),
    ]
    assert unknown.title.endswith(
        "gather the evidence to judge Retail, Wealth, and lift them to level 2"
    )
    assert unknown.guidance == [
        "business case coverage unknown (no valid 'investments' evidence for this metric), "
        "needs >= 50 %: Write cases"
    ]
    assert unknown.priority_basis == "gap 2.00 x value 1.80 / effort 1 (not estimated)"
    assert [i.capability for i in proposed(1)] == ["MTI-2"]


def test_a_deferred_initiative_whose_cell_got_there_meanwhile_is_settled_not_carried(
    engine: sa.Engine, settings: Settings
) -> None:
    from btm.improvement.backlog import build_backlog
    from tests.btm.improvement.test_improvement import score, scored_cycle

    units = ("Retail", "Wealth")
    scored_cycle(engine, C1, [score(u, "MTI-1", "process", 2) for u in units])
    build_backlog(engine=engine, cycle_id=C1, catalog=CATALOG, settings=settings, actor="tests")
    deferred = initiative(engine, MTI_1)
    deferred.status = InitiativeStatus.DEFERRED
    store.save_initiatives(engine=engine, initiatives=[deferred])
    scored_cycle(engine, C2, [score(u, "MTI-1", "process", 3, cycle_id=C2) for u in units])

    built = build_backlog(
        engine=engine, cycle_id=C2, catalog=CATALOG, settings=settings, actor="run"
    )

    assert built == []
    settled = initiative(engine, MTI_1)
    assert (settled.status, settled.carried_into) == ("dropped", [])
    ((why, who),) = [(d.reason, d.actor) for d in store.decisions_of(engine=engine, cycle_ids=[C2])]
    assert (why, who) == (f"not needed any more: every unit is at level 3 at {C2}", "run")


def test_a_gate_passed_late_never_puts_two_initiatives_on_one_cell(
    engine: sa.Engine, settings: Settings
) -> None:
    """2026-Q1 waits in design while 2026-Q2 is scored and proposes the same cell anew;
    once 2026-Q1's backlog is approved, 2026-Q2's gate drops its own, naming the other."""
    from btm.improvement.backlog import build_backlog
    from btm.improvement.phases import move_to_phase
    from tests.btm.improvement.test_improvement import score, scored_cycle

    for cycle_id in (C1, C2):
        scored_cycle(engine, cycle_id, [score("Retail", "MTI-1", "process", 2, cycle_id=cycle_id)])
        build_backlog(
            engine=engine, cycle_id=cycle_id, catalog=CATALOG, settings=settings, actor="run"
        )
        move_to_phase(engine=engine, cycle_id=cycle_id, phase="design", actor="run", reason="")
    assert backlog_ids(engine, C2) == [f"{C2}-MTI-1-process"]  # a proposal is not carried

    approve(engine, settings, C1)
    approve(engine, settings, C2)

    assert (initiative(engine, MTI_1).status, initiative(engine, f"{C2}-MTI-1-process").status) == (
        "approved",
        "dropped",
    )
    ((decided, why),) = [
        (d.decision, d.reason) for d in store.decisions_of(engine=engine, cycle_ids=[C2])
    ]
    assert (decided, why) == ("dropped", f"at the gate: {MTI_1} already lifts this cell")
