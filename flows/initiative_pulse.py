"""The `initiative-pulse` flow: once a month, read every executing initiative from its
linked projects' latest evidence (status, health, schedule) and flag those off track."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from btm import improvement, store
from btm.catalog import load_catalog
from btm.settings import Settings
from flows import artifacts
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops


@task(cache_policy=NO_CACHE)
def read_initiatives(as_of: date, settings: Settings) -> improvement.Pulse:
    return improvement.run_pulse(
        engine=store.engine_for(settings.effective_database_url),
        as_of=as_of,
        settings=settings,
        catalog=load_catalog(),
    )


@flow(name="initiative-pulse", log_prints=True, on_failure=[notify_ops], on_crashed=[notify_ops])
def initiative_pulse(as_of: str | None = None) -> dict[str, Any]:
    """Track each approved initiative of the executing cycles.

    as_of: the day of the reading, ISO `YYYY-MM-DD`; by default today. Schedules and
        thresholds: docs/cycle.md.
    """
    settings = Settings()
    day = date.fromisoformat(as_of) if as_of else date.today()
    with one_run_per_organisation(settings):
        pulse = read_initiatives(day, settings)
    artifacts.publish_pulse(pulse)
    logger = get_run_logger()
    for initiative, reading in pulse.readings:
        if reading.state in ("off track", "at risk", "no evidence"):
            logger.warning(
                "%s (%s) is %s: %s",
                initiative.id,
                initiative.owner,
                reading.state,
                "; ".join(reading.findings[:3]),
            )
    return {
        "as_of": day.isoformat(),
        "evidence_cycle": pulse.evidence_cycle,
        "states": {s: pulse.count(s) for s in improvement.PULSE_STATES if pulse.count(s)},
    }
