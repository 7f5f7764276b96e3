"""Two runs of the same organisation never overlap; two organisations run side by side."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from prefect import flow
from prefect.client.orchestration import get_client

from btm.errors import ConfigurationError
from btm.settings import Settings
from flows.concurrency import limit_name, one_run_per_organisation

Interval = tuple[float, float]


def _organisation() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a fresh limit per test: none exists yet


def _both_at_once(run: Callable[[str], Interval], first: str, second: str) -> list[Interval]:
    """`run(first)` and `run(second)` in two threads; their (enter, exit) times in order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(run, first), pool.submit(run, second)]
        return sorted(run.result(timeout=180) for run in runs)


@pytest.mark.prefect
def test_two_runs_of_one_organisation_never_overlap(prefect_server: None) -> None:
    at_the_door = threading.Barrier(2)

    @flow(name="hold-the-slot")
    def hold(organisation: str) -> Interval:
        # Both runs are live before either asks for the slot, so without the limit
        # they would be inside together.
        at_the_door.wait(timeout=60)
        with one_run_per_organisation(Settings(organisation=organisation)):
            entered = time.monotonic()
            time.sleep(1)
            return entered, time.monotonic()

    organisation = _organisation()
    earlier, later = _both_at_once(hold, organisation, organisation)

    assert earlier[1] <= later[0]  # the second entered after the first left
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(f"btm-{organisation}")
    assert (limit.limit, limit.active, limit.active_slots) == (1, True, 0)


@pytest.mark.prefect
def test_two_organisations_run_at_the_same_time(prefect_server: None) -> None:
    both_inside = threading.Barrier(2)

    @flow(name="meet-inside")
    def meet(organisation: str) -> Interval:
        with one_run_per_organisation(Settings(organisation=organisation)):
            entered = time.monotonic()
            both_inside.wait(timeout=60)  # breaks unless the other run is inside too
            return entered, time.monotonic()

    earlier, later = _both_at_once(meet, _organisation(), _organisation())

    assert later[0] < earlier[1]  # the second entered before the first left


@pytest.mark.prefect
def test_a_subflow_of_a_run_holding_the_slot_does_not_wait_for_itself(
    prefect_server: None,
) -> None:
    settings = Settings(organisation=_organisation())

    @flow(name="inner")
    def inner() -> str:
        with one_run_per_organisation(settings):
            return "inner done"

    @flow(name="outer")
    def outer() -> str:
        with one_run_per_organisation(settings):
            return inner()

    assert outer() == "inner done"


def test_an_organisation_prefect_cannot_name_is_a_configuration_error() -> None:
    assert limit_name(Settings(organisation="Acme Ltd")) == "btm-Acme Ltd"
    with pytest.raises(ConfigurationError, match="BTM_ORGANISATION 'acme/uk' contains /"):
        limit_name(Settings(organisation="acme/uk"))
