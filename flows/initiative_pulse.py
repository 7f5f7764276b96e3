"""The `initiative-pulse` flow: once a month, read every in-flight initiative from the
latest accepted evidence (its targeted cell scored again on the systems' evidence, its
linked projects' status, health and schedule) and flag those off track."""

from __future__ import annotations

from datetime import date
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from btm.improvement.pulse import PULSE_STATES, Pulse, run_pulse
from btm.pipeline import Setup
from btm.vocabulary import PulseState
from flows import artifacts
from flows.concurrency import one_run_per_organisation
from flows.hooks import notify_ops
from flows.tasks import flow_setup


@task(cache_policy=NO_CACHE)
def read_initiatives(run: Setup, as_of: date) -> Pulse:
    return run_pulse(
        engine=run.engine,
        as_of=as_of,
        settings=run.settings,
        catalog=run.catalog,
        rubric=run.rubric,
    )


@flow(name="initiative-pulse", log_prints=True, on_failure=[notify_ops], on_crashed=[notify_ops])
def initiative_pulse(as_of: str | None = None) -> dict[str, Any]:
    """Track each in-flight initiative: is its capability moving, are its projects?

    as_of: the day of the reading, ISO `YYYY-MM-DD`; by default today. Schedules and
        thresholds: docs/cycle.md.
    """
    run = flow_setup()
    day = date.fromisoformat(as_of) if as_of else date.today()
    with one_run_per_organisation(run.settings):
        pulse = read_initiatives(run, day)
    artifacts.publish_pulse(pulse)
    logger = get_run_logger()
    for initiative, reading in pulse.readings:
        if PulseState(reading.state).needs_attention:
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
        "states": {s: pulse.count(s) for s in PULSE_STATES if pulse.count(s)},
    }
