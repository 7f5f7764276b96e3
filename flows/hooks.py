"""Flow hooks: the ops team hears about a failed run, with a link to it. The alert always
lands (`btm.delivery.alert_ops`): an error log line and an .eml in the outbox whatever
SMTP does, then the email, and the failure recorded for `btm status`."""

from __future__ import annotations

from typing import Any

from prefect.logging.loggers import flow_run_logger
from prefect.settings import get_current_settings

from btm import store
from btm.delivery import alert_ops, smtp_config
from flows.tasks import flow_setup


def run_link(flow_run_id: Any) -> str:
    """The run in the Prefect UI, or its id when no UI address is known."""
    settings = get_current_settings()
    ui = settings.ui_url or (
        str(settings.api.url).removesuffix("/api") if settings.api.url else None
    )
    return f"{ui}/runs/flow-run/{flow_run_id}" if ui else f"flow run id {flow_run_id}"


def notify_ops(flow: Any, flow_run: Any, state: Any) -> None:
    """on_failure / on_crashed hook: tell BTM_OPS_EMAIL the run's name, state and link."""
    run = flow_setup()
    failure = alert_ops(
        store.RunFailure(
            flow_name=flow.name,
            run_name=flow_run.name,
            state=state.name,
            detail=state.message or "no message",
            link=run_link(flow_run.id),
        ),
        settings=run.settings,
        smtp=lambda: smtp_config(run.settings, run.read_smtp_block),
        engine=lambda: run.engine,
    )
    # The same news in the run's own log, where the Prefect UI shows it.
    flow_run_logger(flow_run, flow).error(
        "ops alert %s%s%s",
        f"kept in {failure.alert_path}" if failure.alert_path else "not kept",
        ", emailed" if failure.alert_emailed else "",
        f" ({failure.alert_error})" if failure.alert_error else "",
    )
