"""The improvement cycle through the flows on Prefect's test server: the weekly refresh,
the quarterly run that proposes a backlog, the PMO's gate, the monthly pulse, and the
next quarter's run that improves and closes the cycle, each visible as artifacts."""

from pathlib import Path
from typing import Any

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from btm import store
from btm.catalog import load_catalog
from btm.improvement.phases import PHASES
from btm.improvement.progress import advance
from btm.settings import Settings
from flows.evidence_refresh import evidence_refresh
from flows.initiative_pulse import initiative_pulse
from flows.quarterly_cycle import quarterly_cycle
from tests.factories import write_quarter

pytestmark = pytest.mark.prefect


def _artifacts(state: Any) -> dict[str | None, Any]:
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
            )
        )
    return {a.key: a for a in found}


def test_the_weekly_refresh_gathers_without_scoring(prefect_server: None, btm_home: Path) -> None:
    write_quarter(btm_home / "inbox" / "2026-Q2", case_share=0.5, bad_projects=True)

    state = evidence_refresh(cycle_id="2026-Q2", return_state=True)

    assert state.is_completed()
    result = state.result()
    assert result["batches"] == 4 and result["quarantined"] == ["projects/projects-wealth.csv"]
    engine = store.engine_for(Settings().effective_database_url)
    with store.session_scope(engine) as session:
        assert store.get_scores(session=session, cycle_id="2026-Q2") == []
        (opened,) = store.phase_history(session=session, cycle_id="2026-Q2")
    assert opened.phase == "assess" and opened.actor.endswith("(evidence-refresh)")
    summary = _artifacts(state)["refresh-2026-q2"]
    assert "1 quarantined" in str(summary.data) and "projects-wealth.csv" in str(summary.data)


def test_a_cycle_walks_its_phases_through_the_flows(prefect_server: None, btm_home: Path) -> None:
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    for cycle_id, share in (("2026-Q1", 0.3), ("2026-Q2", 0.9)):
        write_quarter(btm_home / "inbox" / cycle_id, case_share=share)

    first = quarterly_cycle(cycle_id="2026-Q1", return_state=True)

    assert first.is_completed()
    assert first.result()["phases"][0].startswith("2026-Q1: design, ")
    table = _artifacts(first)["initiatives-2026-q1"]
    assert table.type == "table" and "proposed" in str(table.data)
    assert "waiting for the PMO" in (table.description or "")
    with store.session_scope(engine) as session:
        backlog = store.initiatives_of(session=session, cycle_id="2026-Q1")
        for initiative in backlog:
            initiative.linked_projects = ["PRJ-Retail-1", "PRJ-Wealth-2"]
            session.add(initiative)
        session.commit()
    assert backlog, "a first cycle below its targets has a backlog"
    advance(
        engine=engine,
        cycle_id="2026-Q1",
        actor="Dana (PMO)",
        reason="backlog agreed at the portfolio board",
        catalog=load_catalog(),
        settings=settings,
    )

    pulse = initiative_pulse(as_of="2026-05-15", return_state=True)

    assert pulse.is_completed()
    assert sum(pulse.result()["states"].values()) == len(backlog)
    readings = _artifacts(pulse)["pulse-2026-05-15"]
    assert readings.type == "table" and backlog[0].id in str(readings.data)

    second = quarterly_cycle(cycle_id="2026-Q2", return_state=True)

    assert second.is_completed()
    assert "2026-Q1: improved and closed" in second.result()["phases"]
    with store.session_scope(engine) as session:
        walked = [c.phase for c in store.phase_history(session=session, cycle_id="2026-Q1")]
        review = session.get(store.CycleReview, "2026-Q1")
    assert walked == list(PHASES)
    assert review is not None and review.compared_with == "2026-Q2"
    summary = str(_artifacts(second)["cycle-2026-q2-summary"].data)
    assert "**Phase**: design, waiting for the PMO" in summary
    executed = str(_artifacts(second)["initiatives-2026-q2"].data)
    assert "2026-Q1" in executed and ("done" in executed or "overdue" in executed)
