"""Two runs of the same organisation never overlap; two organisations run side by side;
a run that dies holding the lock, however it dies, does not keep it.

The lock tests are real: holders are separate processes that take the lock through
`one_run_per_organisation`, as the flows do, and are SIGKILLed; nothing is mocked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.settings import PREFECT_API_URL, temporary_settings

from btm.errors import BtmError, ConfigurationError
from btm.settings import Settings
from flows.concurrency import limit_name, lock_path, one_run_per_organisation

Interval = tuple[float, float]


def _organisation() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"  # a fresh limit per test: none exists yet


def _both_at_once(run: Callable[[str], Interval], first: str, second: str) -> list[Interval]:
    """`run(first)` and `run(second)` in two threads; their (enter, exit) times in order."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        runs = [pool.submit(run, first), pool.submit(run, second)]
        return sorted(run.result(timeout=180) for run in runs)


@pytest.mark.prefect
def test_two_runs_of_one_organisation_never_overlap(prefect_server: None, btm_home: Path) -> None:
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
def test_two_organisations_run_at_the_same_time(prefect_server: None, btm_home: Path) -> None:
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
    prefect_server: None, btm_home: Path
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


# A killed holder, on the embedded default (no PREFECT_API_URL) ------------------------

# Takes the lock the way a flow does, says so, and holds it until its stdin closes.
HOLDER = textwrap.dedent(
    """
    import logging, sys
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    from btm.settings import Settings
    from flows.concurrency import one_run_per_organisation
    with one_run_per_organisation(Settings()):
        print("holding", flush=True)
        sys.stdin.read()
    print("released", flush=True)
    """
)


class Holder:
    """A `python -c HOLDER` process in its own process group, its output read as it comes."""

    def __init__(self, home: Path, organisation: str) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
        env.update(BTM_HOME=str(home), BTM_ORGANISATION=organisation)
        self.process = subprocess.Popen(
            [sys.executable, "-c", HOLDER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,  # its own process group, as `kill -9 -PGID` hits
        )
        self.pid = self.process.pid
        self.lines: list[tuple[float, str]] = []  # (when, line)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def said(self, text: str) -> float | None:
        """When the holder first printed a line containing `text`."""
        return next((when for when, line in list(self.lines) if text in line), None)

    def wait_for(self, text: str, timeout: float = 60) -> float:
        deadline = time.monotonic() + timeout
        while (when := self.said(text)) is None:
            output = "\n".join(line for _, line in self.lines)
            assert self.process.poll() is None, f"the holder ended:\n{output}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{output}"
            time.sleep(0.05)
        return when

    def release(self) -> None:
        """Close its stdin, so that it leaves the block and ends."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        assert self.process.wait(timeout=30) == 0

    def kill(self) -> None:
        os.killpg(self.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()
        if self.process.stdin is not None:
            self.process.stdin.close()


@pytest.fixture
def embedded_default(btm_home: Path) -> Iterator[Settings]:
    """Settings of a fresh organisation as a `btm` command without PREFECT_API_URL sees
    them, even after another test has started Prefect's test server."""
    with temporary_settings(restore_defaults={PREFECT_API_URL}):
        yield Settings(organisation=_organisation())


@pytest.fixture
def holders(btm_home: Path, embedded_default: Settings) -> Iterator[Callable[[], Holder]]:
    started: list[Holder] = []

    def start() -> Holder:
        started.append(Holder(btm_home, embedded_default.organisation))
        return started[-1]

    yield start
    for holder in started:
        holder.stop()


def test_a_holder_killed_with_sigkill_frees_the_lock_at_once(
    embedded_default: Settings, holders: Callable[[], Holder]
) -> None:
    holder = holders()
    holder.wait_for("holding")
    holder.kill()

    asked = time.monotonic()
    with one_run_per_organisation(embedded_default, wait_seconds=5):
        got = time.monotonic()

    assert got - asked < 2
    assert lock_path(embedded_default).read_text(encoding="utf-8") == ""  # released empty


def test_two_processes_contending_serialize(
    embedded_default: Settings, holders: Callable[[], Holder]
) -> None:
    first = holders()
    first.wait_for("holding")
    second = holders()

    # the second says whom it waits for, and waits
    second.wait_for(f"holds {lock_path(embedded_default)}: pid {first.pid} on ")
    time.sleep(0.5)
    assert second.said("holding") is None
    first.release()
    entered = second.wait_for("holding", timeout=10)

    left = first.said("released")
    assert left is not None and left <= entered


def test_a_run_that_cannot_get_the_lock_names_its_holder(
    embedded_default: Settings, holders: Callable[[], Holder]
) -> None:
    holder = holders()
    holder.wait_for("holding")
    path = lock_path(embedded_default)

    with (
        pytest.raises(BtmError) as refused,
        one_run_per_organisation(embedded_default, wait_seconds=0.5),
    ):
        pytest.fail("entered while another process holds the lock")

    message = str(refused.value)
    assert f"another run of organisation {embedded_default.organisation!r} still holds" in message
    assert str(path) in message
    assert f"pid {holder.pid} on " in message
    assert "python" in message and " -c ..." in message  # the holder's command
    assert f"kill {holder.pid}" in message
