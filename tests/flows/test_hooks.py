"""A failed run emails the ops address with its name, state and link."""

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from flows.quarterly_cycle import quarterly_cycle
from tests.conftest import KeepingHandler

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
