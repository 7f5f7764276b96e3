"""Flow hooks: the ops team hears about a failed run by email, with a link to it."""

from __future__ import annotations

import logging
from typing import Any

from prefect.settings import get_current_settings

from btm.delivery import dispatch, failure_alert, smtp_config
from btm.errors import BtmError
from btm.settings import load_settings
from flows.credentials import load_smtp_block


def run_link(flow_run_id: Any) -> str:
    """The run in the Prefect UI, or its id when no UI address is known."""
    settings = get_current_settings()
    ui = settings.ui_url or (
        str(settings.api.url).removesuffix("/api") if settings.api.url else None
    )
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else f"flow run id {flow_run_id}"


def notify_ops(flow: Any, flow_run: Any, state: Any) -> None:
    """on_failure / on_crashed hook: email BTM_OPS_EMAIL the run's name, state and link."""
    settings = load_settings()
    detail = state.message or "no message"
    message = failure_alert(
        flow_name=flow.name,
        run_name=flow_run.name,
        state=state.name,
        detail=detail,
        link=run_link(flow_run.id),
        settings=settings,
    )
    if message is None:
        return
    try:
        smtp = smtp_config(settings, load_smtp_block)
        dispatch(message, settings=settings, name=f"ops-{flow_run.name}", smtp=smtp)
    except BtmError as exc:  # the alert must not hide the failure it reports
        logging.getLogger(__name__).error("could not alert %s: %s", settings.ops_email, exc)
