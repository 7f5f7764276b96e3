"""A failed run emails the ops address with its name, state and link; with SMTP down,
the alert lands in the outbox, the log says so, and `btm status` shows the failed run."""

import json
import logging
from email import message_from_bytes, policy
from functools import partial
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btm import delivery
from btm.cli import app
from flows.quarterly_cycle import quarterly_cycle
from tests.conftest import KeepingHandler, free_port
from tests.factories import write_quarter

pytestmark = pytest.mark.prefect


def test_a_failed_run_is_emailed_to_ops_with_a_link(
    prefect_server: None,
    btm_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    smtp_settings: KeepingHandler,
) -> None:
    handler = smtp_settings
    monkeypatch.setenv("BTM_OPS_EMAIL", "ops@example.org")

    state = quarterly_cycle(cycle_id="2026-Q5", return_state=True)

    assert state.is_failed()
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == ["ops@example.org"]
    assert envelope.original_content is not None
    alert = message_from_bytes(envelope.original_content, policy=policy.default)
    assert "quarterly-cycle" in alert["Subject"] and "Failed" in alert["Subject"]
    body = alert.get_content()
    assert "write it as YYYY-Qn" in body
    assert f"/runs/flow-run/{state.state_details.flow_run_id}" in body


def test_without_an_ops_address_a_failure_sends_nothing(
    prefect_server: None, btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BTM_OPS_EMAIL", raising=False)
    state = quarterly_cycle(cycle_id="2026-Q5", return_state=True)
    assert state.is_failed()
    assert not (Path(btm_home) / "outbox").exists() or not list(
        (Path(btm_home) / "outbox").glob("ops-*.eml")
    )


def test_with_smtp_down_the_run_fails_and_its_alert_lands_in_the_outbox(
    prefect_server: None,
    btm_home: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    write_quarter(btm_home / "inbox" / "2026-Q2", case_share=0.6)
    monkeypatch.setenv("BTM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BTM_SMTP_PORT", str(free_port()))  # nothing listens there
    monkeypatch.setenv("BTM_SMTP_TLS", "none")
    monkeypatch.setenv("BTM_OPS_EMAIL", "ops@example.org")
    # Real refused connections, without the backoff's waits.
    monkeypatch.setattr(
        delivery, "send_with_retry", partial(delivery.send_with_retry, sleep=lambda s: None)
    )

    with caplog.at_level(logging.ERROR, logger="btm.delivery"):
        state = quarterly_cycle(cycle_id="2026-Q2", return_state=True)

    assert state.is_failed()
    [alert_path] = (btm_home / "outbox").glob("ops-*.eml")
    alert = message_from_bytes(alert_path.read_bytes(), policy=policy.default)
    assert alert["To"] == "ops@example.org" and "Failed" in alert["Subject"]
    assert "cannot reach the SMTP server" in alert.get_content()
    assert any(
        r.levelno == logging.ERROR and str(alert_path) in r.getMessage() for r in caplog.records
    )

    shown = CliRunner().invoke(app, ["status"], env={"COLUMNS": "300"})
    assert shown.exit_code == 0, shown.output
    assert "Last failed run" in shown.stdout and "quarterly-cycle" in shown.stdout
    assert str(alert_path) in shown.stdout and "not emailed" in shown.stdout
    payload = json.loads(CliRunner().invoke(app, ["status", "--json"]).stdout)
    failure = payload["last_failure"]
    assert failure["alert_path"] == str(alert_path) and failure["state"] == "Failed"
    assert failure["alert_emailed"] is False
