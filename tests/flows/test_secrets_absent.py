"""Secrets are proven absent: a sentinel set as the SMTP password, a Jira token, a REST
token and a SQL password is found nowhere a run leaves a trace, whether each source and
SMTP succeed or fail: no log line, artifact, report, email, database row (the product's
and Prefect's own), exception message or file under BTM_HOME."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from uuid import UUID

import pandas as pd
import pytest
import sqlalchemy as sa
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    FlowRunFilter,
    LogFilter,
    LogFilterFlowRunId,
)
from prefect.client.schemas.objects import Log
from prefect.logging.handlers import APILogHandler
from prefect.settings import PREFECT_API_DATABASE_CONNECTION_URL

from flows.quarterly_cycle import quarterly_cycle
from tests.conftest import PASSWORD as SMTP_PASSWORD
from tests.factories import write_quarter
from tests.fake_apis import Answer, FakeJira, FakeRest, jira_issues, rest_records

pytestmark = pytest.mark.prefect

JIRA_TOKEN = "jira-SENTINEL-9d1c55e2"
REST_TOKEN = "rest-SENTINEL-04b7aa31"
SQL_PASSWORD = "sql-SENTINEL-6f2e90c4"
SENTINELS = (SMTP_PASSWORD, JIRA_TOKEN, REST_TOKEN, SQL_PASSWORD)


def _sources(home: Path, jira: str, rest: str, sql: str) -> Path:
    path = home / "sources.yaml"
    path.write_text(
        f"""
sources:
  - name: investment-exports
    kind: investments
    connector: files
    location: "{{home}}/inbox/{{cycle}}"
    pattern: "investments-*.csv"
  - name: jira-projects
    kind: projects
    connector: jira
    location: {jira}
    api: cloud
    jql: "project = PRJ"
    auth: {{type: basic, user: pmo@acme.example, token: {{env: JIRA_TOKEN}}}}
    retries: 0
    columns:
      key: project_id
      fields.summary: name
      fields.status.statusCategory.key: status
      fields.customfield_10015: planned_start
      fields.duedate: planned_end
      fields.customfield_10020.value: business_unit
      fields.customfield_10030: budget
    values:
      status: {{new: not_started, indeterminate: active, done: completed}}
  - name: finance
    kind: investments
    connector: rest
    location: {rest}/v1/investments
    pagination: offset
    records: results
    auth: {{type: bearer, token: {{env: REST_TOKEN}}}}
    retries: 0
    columns: {{id: investment_id, unit: business_unit, title: name, budget.amount: budget}}
  - name: apm
    kind: applications
    connector: sql
    location: "{sql}"
    password: {{env: APM_PASSWORD}}
    query: "SELECT * FROM apps"
    retries: 0
"""
    )
    return path


@pytest.fixture
def apm_database(postgres_server: str) -> Iterator[str]:
    """A database of the session's PostgreSQL, with an applications table; its URL has no
    password (the sources file names the variable it comes from)."""
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("DROP DATABASE IF EXISTS apm_secrets"))
        connection.execute(sa.text("CREATE DATABASE apm_secrets"))
    url = postgres_server.rsplit("/", 1)[0] + "/apm_secrets"
    pd.DataFrame(
        {
            "application_id": ["APP-1", "APP-2"],
            "business_unit": ["Retail", "Wealth"],
            "name": ["Core ledger", "Advisor desk"],
        }
    ).to_sql("apps", sa.create_engine(url), index=False)
    yield url
    admin.dispose()


def _traces(home: Path, flow_run_ids: list[UUID | None]) -> dict[str, str]:
    """Every place a run leaves text, by name."""
    APILogHandler().flush()
    found: dict[str, str] = {}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        found[f"file {path.relative_to(home)}"] = path.read_bytes().decode("latin-1")
    ids = [i for i in flow_run_ids if i is not None]
    with get_client(sync_client=True) as client:
        logs: list[Log] = []
        while page := client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=ids)),
            limit=200,
            offset=len(logs),
        ):
            logs += page
        found["prefect logs"] = "\n".join(log.message for log in logs)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=ids))
        )
        found["prefect artifacts"] = "\n".join(
            f"{a.key} {a.description} {a.data}" for a in artifacts
        )
        for run_id in ids:
            found[f"prefect flow run {run_id}"] = client.read_flow_run(run_id).model_dump_json()
        for task in client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": ids})):
            found[f"prefect task run {task.id}"] = task.model_dump_json()
    database = PREFECT_API_DATABASE_CONNECTION_URL.value() or ""
    if database.startswith("sqlite"):
        prefect_db = Path(database.split("///", 1)[1])
        found["prefect database"] = prefect_db.read_bytes().decode("latin-1")
    return found


def _assert_absent(texts: dict[str, str]) -> None:
    leaks = [(where, s) for where, text in texts.items() for s in SENTINELS if s in text]
    assert leaks == []


def test_no_secret_is_left_anywhere_whether_sources_and_smtp_work_or_fail(
    prefect_server: None,
    btm_home: Path,
    apm_database: str,
    smtp_server: tuple,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    free_tcp_port: int,
) -> None:
    controller, handler = smtp_server
    for name, value in (
        ("JIRA_TOKEN", JIRA_TOKEN),
        ("REST_TOKEN", REST_TOKEN),
        ("APM_PASSWORD", SQL_PASSWORD),
        ("BTM_SMTP_HOST", "127.0.0.1"),
        ("BTM_SMTP_PORT", str(controller.port)),
        ("BTM_SMTP_TLS", "none"),
        ("BTM_SMTP_USER", "btm"),
        ("BTM_SMTP_PASSWORD", SMTP_PASSWORD),
        ("BTM_REPORT_TO", "pmo@example.org"),
    ):
        monkeypatch.setenv(name, value)
    home = Path(btm_home)
    write_quarter(home / "inbox" / "2026-Q3", case_share=0.6)
    runs: list[UUID | None] = []
    with (
        FakeJira(jira_issues(30), api="cloud", token=JIRA_TOKEN, user="pmo@acme.example") as jira,
        FakeRest(rest_records(10), token=REST_TOKEN) as rest,
    ):
        # every source and SMTP working
        _sources(home, jira.url, rest.url, apm_database)
        state = quarterly_cycle(cycle_id="2026-Q3", return_state=True)
        assert state.is_completed() and handler.envelopes  # the report was sent, with auth
        runs.append(state.state_details.flow_run_id)

        # every source failing, and SMTP refusing the password
        jira.fail_always(Answer(500, {"errorMessages": ["Internal server error"]}))
        rest.fail_always(Answer(401, {"error": "invalid_token"}))
        unreachable = f"postgresql+psycopg://postgres@127.0.0.1:{free_tcp_port}/apm"
        _sources(home, jira.url, rest.url, unreachable)
        monkeypatch.setenv("BTM_SMTP_PASSWORD", SMTP_PASSWORD[::-1])
        monkeypatch.setenv("BTM_REPORT_TO", "ops@example.org")  # not yet sent: SMTP is tried
        failed = quarterly_cycle(cycle_id="2026-Q3", force=True, return_state=True)
        assert failed.is_failed()
        runs.append(failed.state_details.flow_run_id)
        message = str(failed.message) + repr(failed.result(raise_on_failure=False))

    texts = _traces(home, runs)
    captured = capfd.readouterr()
    texts |= {
        "log records": caplog.text,
        "stdout": captured.out,
        "stderr": captured.err,
        "exception": message,
        "mail": "\n".join(e.content.decode("latin-1") for e in handler.envelopes),
    }
    # the places searched hold what the runs did: the failures, the fetched payloads,
    # the mail sent, the product's and Prefect's databases
    assert "could not be fetched" in texts["prefect logs"]
    assert "refused the login of 'btm'" in texts["exception"]
    assert "prefect database" in texts and "file btm.db" in texts
    assert any(name.startswith("file archive") for name in texts)
    assert "AUTH" not in texts["mail"] and "BTM maturity" in texts["mail"]
    _assert_absent(texts)


def test_the_search_finds_a_secret_that_was_left() -> None:
    with pytest.raises(AssertionError, match="jira-SENTINEL"):
        _assert_absent({"file leak.txt": f"token={JIRA_TOKEN}"})
