"""The flow under Prefect's test harness: the orchestration adds no logic of its own."""

import socket
import threading
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
)

from btm import store
from btm.settings import Settings
from flows.quarterly_cycle import quarterly_cycle
from tests.factories import write_quarter

pytestmark = pytest.mark.prefect


def test_the_flow_runs_a_cycle_end_to_end(prefect_server: None, btm_home: Path) -> None:
    inbox = Path(btm_home) / "inbox" / "2026-Q2"
    write_quarter(inbox, case_share=0.6, bad_projects=True)

    state = quarterly_cycle(cycle_id="2026-Q2", return_state=True)

    assert state.is_completed()
    result = state.result()
    assert result["cycle"] == "2026-Q2"
    assert result["scores"] == 2 * 17 * 4
    assert result["quarantined"] == ["projects/projects-wealth.csv"]
    assert result["stale"] == []  # no earlier accepted batch to fall back on
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
    assert {"fetch-projects", "validate-projects", "fetch-investments"} <= names
    assert any(name.startswith("deliver") for name in names)

    # the ops team sees each batch's validation in the UI: a table and a summary
    with get_client(sync_client=True) as client:
        artifacts = {
            a.key: a
            for a in client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id])
                )
            )
        }
    table = artifacts["validation-projects-projects-wealth-csv"]
    assert table.type == "table" and "quarantined" in (table.description or "")
    assert "budget" in str(table.data)
    summary = artifacts["validation-projects-projects-wealth-csv-summary"]
    assert summary.type == "markdown" and "row 5" in str(summary.data)
    assert "validation-investments-investments-retail-csv" in artifacts
    run = artifacts["cycle-2026-q2-summary"]
    assert run.type == "markdown" and "enterprise level" in str(run.data)
    assert "quarantined: projects/projects-wealth.csv" in str(run.data)
    assert "| Retail |" in str(run.data)
    failures = artifacts["rule-failures-2026-q2"]
    assert failures.type == "table" and "projects/projects-wealth.csv" in str(failures.data)
    assert "1 quarantined" in (failures.description or "")


def _sources_file(home: Path, ppm_location: str) -> Path:
    path = home / "sources.yaml"
    path.write_text(
        f"""
sources:
  - name: investment-exports
    kind: investments
    connector: files
    location: "{{home}}/inbox/{{cycle}}"
    pattern: "investments-*.csv"
  - name: ppm
    kind: projects
    connector: sql
    location: "{ppm_location}"
    query: "SELECT * FROM ppm_projects WHERE business_unit = :unit"
    params: {{unit: Retail}}
    retries: 1
    retry_delay_seconds: [0]
"""
    )
    return path


def test_a_source_that_is_down_leaves_its_evidence_stale_not_the_flow_failed(
    prefect_server: None, btm_home: Path, free_tcp_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    home = Path(btm_home)
    ppm = home / "ppm.sqlite"
    for quarter in ("2026-Q1", "2026-Q2"):
        write_quarter(home / "inbox" / quarter, case_share=0.6)
    pd.read_csv(home / "inbox" / "2026-Q1" / "projects-retail.csv").to_sql(
        "ppm_projects", sa.create_engine(f"sqlite:///{ppm}"), index=False
    )
    _sources_file(home, f"sqlite:///{ppm}")
    first = quarterly_cycle(cycle_id="2026-Q1")
    assert first["stale"] == []

    _sources_file(home, f"postgresql+psycopg://btm@127.0.0.1:{free_tcp_port}/ppm")
    state = quarterly_cycle(cycle_id="2026-Q2", return_state=True)

    assert state.is_completed()
    result = state.result()
    assert result["stale"] == ["ppm/ppm.csv"]
    assert "source ppm could not be fetched" in caplog.text
    assert "last accepted evidence is used, marked stale" in caplog.text
    engine = store.engine_for(Settings().effective_database_url)
    with store.session_scope(engine) as session:
        fetches = store.latest_fetches(session=session, cycle_id="2026-Q2")["ppm"]
        levels = {
            (s.unit, s.capability, s.dimension): s.level
            for s in store.get_scores(session=session, cycle_id="2026-Q2")
        }
    assert [(f.ok, "127.0.0.1" in (f.error or "")) for f in fetches] == [(False, True)]
    assert levels[("Retail", "MTI-4", "process")] is not None  # scored on the Q1 projects
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        )
    (fetch,) = [r for r in runs if r.name == "fetch-ppm"]
    assert fetch.state is not None and fetch.state.is_failed()
    assert fetch.run_count == 2  # the source's own retry was tried


def test_a_source_that_hangs_is_stopped_by_its_timeout(
    prefect_server: None, btm_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    home = Path(btm_home)
    write_quarter(home / "inbox" / "2026-Q1", case_share=0.6)
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        (home / "sources.yaml").write_text(
            f"""
sources:
  - {{name: exports, kind: investments, connector: files, location: "{{home}}/inbox/{{cycle}}",
     pattern: "investments-*"}}
  - {{name: finance, kind: investments, connector: rest, location: "http://127.0.0.1:{port}/x",
     pagination: none, retries: 0, timeout_seconds: 1}}
"""
        )
        state = quarterly_cycle(cycle_id="2026-Q1", return_state=True)
    # The abandoned fetch now meets a closed port; let it give up while the test's log
    # capture is still open.
    for thread in threading.enumerate():
        if thread.name.startswith("AnyIO worker thread"):
            thread.join(timeout=20)

    assert state.is_completed()
    assert "source finance could not be fetched" in caplog.text
    with get_client(sync_client=True) as client:
        runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id={"any_": [state.state_details.flow_run_id]})
        )
    (fetch,) = [r for r in runs if r.name == "fetch-finance"]
    assert fetch.state is not None and fetch.state.name == "TimedOut"
