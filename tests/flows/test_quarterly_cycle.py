"""The flow under Prefect's test harness: the orchestration adds no logic of its own."""

from pathlib import Path

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter

from btm import store
from btm.settings import Settings
from flows.quarterly_cycle import quarterly_cycle
from tests.btm.test_cycle import write_quarter

pytestmark = pytest.mark.prefect


def test_the_flow_runs_a_cycle_end_to_end(prefect_server: None, btm_home: Path) -> None:
    inbox = Path(btm_home) / "inbox" / "2026-Q2"
    write_quarter(inbox, case_share=0.6, bad_projects=True)

    state = quarterly_cycle(cycle_id="2026-Q2", return_state=True)

    assert state.is_completed()
    result = state.result()
    assert result["cycle"] == "2026-Q2"
    assert result["scores"] == 2 * 17 * 4
    assert result["quarantined"] == ["projects-wealth.csv"]
    assert Path(result["report"]).exists() and Path(result["delivery"]).suffix == ".eml"
    engine = store.engine_for(Settings().effective_database_url)
    with store.session_scope(engine) as session:
        latest = store.latest_cycle(session=session)
    assert latest is not None and latest.id == "2026-Q2"

    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        )
    names = {run.name for run in runs}
    assert {"validate-projects-wealth", "validate-investments-retail"} <= names
    assert any(name.startswith("deliver") for name in names)
