"""One run at a time per organisation: every flow wraps its body in
`one_run_per_organisation(settings)`, a lock that dies with its holder.

Two locks, because the two ways Prefect runs differ in what can free a dead run's slot:

- **On this machine, always: an OS lock on a file in BTM_HOME** (`fcntl.flock` on
  `BTM_HOME/.btm-<organisation>.lock`). The kernel releases it when the holding process
  ends, however it ends (SIGKILL, OOM killer, a closed terminal), so the next run goes on
  at once. The holder writes its pid, host, command and flow run into the file, so a run
  that waits says whom it waits for.
- **With a Prefect server (`PREFECT_API_URL` set), as well: the global concurrency limit
  `btm-<organisation>` with one slot**, held under a lease that a live run renews and the
  server's repossessor revokes once a dead run stops renewing it (within about
  `LEASE_SECONDS` + 15 s). It spans machines and every way a run starts (a deployment's
  `concurrency_limit` counts only that deployment's runs, and work-pool or work-queue
  limits only runs a worker picks up, while `btm run` calls the flow in-process), and the
  ops team sees it under Concurrency in the Prefect UI.

Without `PREFECT_API_URL` (the embedded default: a temporary server per process) the
limit is not used. Prefect 3.9 does support leases there, but the temporary server keeps
them in memory and does not run the repossessor (it is not one of its ephemeral-mode
services), while the occupied slot is a row in its SQLite database (`PREFECT_HOME`,
`~/.prefect/prefect.db` by default) that outlives it: a run killed while holding it
blocked every later run until `prefect gcl update ... --active-slots 0` by hand. The file
lock needs no server at all and frees in no time rather than after a lease.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shlex
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from contextvars import ContextVar
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate
from prefect.client.schemas.objects import ConcurrencyLeaseHolder
from prefect.client.schemas.responses import GlobalConcurrencyLimitResponse
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound
from prefect.settings import get_current_settings
from prefect.types.names import BANNED_CHARACTERS

from btm.errors import BtmError, ConfigurationError
from btm.settings import Settings

# The server frees the slot of a run that died without releasing it once its lease
# expires (the repossessor looks every 15 s), so within 5 minutes; a live run renews it
# every 75 % of this.
LEASE_SECONDS = 240.0

# How long a run waits for another run of its organisation before it fails, saying who
# holds the lock. Longer than any run takes, so that two runs started together both
# complete, one after the other; short enough that a stuck holder is noticed.
WAIT_SECONDS = 2 * 3600.0

# How often a waiting run tries the file lock again.
POLL_SECONDS = 0.25

# The limits this context already holds, so that a flow called as a subflow of a run
# that holds its organisation's lock goes on instead of waiting for itself forever.
_held: ContextVar[frozenset[str]] = ContextVar("btm_concurrency_held", default=frozenset())


def limit_name(settings: Settings) -> str:
    """The organisation's lock: `btm-<organisation>`, the name of its global concurrency
    limit and of its lock file."""
    banned = sorted(set(BANNED_CHARACTERS) & set(settings.organisation))
    if banned:
        raise ConfigurationError(
            f"BTM_ORGANISATION {settings.organisation!r} contains {' '.join(banned)}, which "
            "Prefect does not allow in a concurrency limit's name; use letters, digits, "
            "'-' or '_'"
        )
    return f"btm-{settings.organisation}"


def lock_path(settings: Settings) -> Path:
    """The organisation's lock file, `BTM_HOME/.btm-<organisation>.lock`."""
    return settings.resolved_home / f".{limit_name(settings)}.lock"


@contextmanager
def one_run_per_organisation(
    settings: Settings, *, wait_seconds: float = WAIT_SECONDS
) -> Iterator[None]:
    """Hold the organisation's lock for the duration of the block; wait for it while
    another run of the same organisation holds it, however that run was started.

    Raises `BtmError` naming the holder when it is still held after `wait_seconds`."""
    name = limit_name(settings)
    if name in _held.get():
        yield
        return
    deadline = time.monotonic() + wait_seconds
    # The slot is asked for only once the file lock is held (`with` enters in order).
    slot = (
        nullcontext()
        if get_current_settings().api.url is None  # the embedded default: no limit
        else _limit_slot(name, settings.organisation, deadline=deadline)
    )
    with _file_lock(lock_path(settings), settings.organisation, deadline=deadline), slot:
        token = _held.set(_held.get() | {name})
        try:
            yield
        finally:
            _held.reset(token)


@dataclass(frozen=True)
class Holder:
    """Who holds a lock file: written into it by the holder, read by whoever waits."""

    pid: int
    host: str
    command: str
    since: str
    flow_run: str | None = None

    @classmethod
    def this_process(cls) -> Holder:
        context = FlowRunContext.get()
        flow_run = context.flow_run if context is not None else None
        return cls(
            pid=os.getpid(),
            host=socket.gethostname(),
            command=_command(),
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            flow_run=str(flow_run.id) if flow_run is not None else None,
        )

    @classmethod
    def read(cls, lock: IO[str]) -> Holder | None:
        """The holder the file names; None while it is being written or released."""
        lock.seek(0)
        try:
            return cls(**json.loads(lock.read()))
        except (ValueError, TypeError):
            return None

    def write(self, lock: IO[str]) -> None:
        lock.seek(0)
        lock.truncate()
        lock.write(json.dumps(asdict(self)))
        lock.flush()

    def describe(self) -> str:
        run = f", flow run {self.flow_run}" if self.flow_run else ""
        return f"pid {self.pid} on {self.host} (`{self.command}`{run}), since {self.since}"


def _command() -> str:
    """This process's command line, its program by name: `btm run --cycle 2026-Q3`."""
    program, *args = sys.argv or [""]
    if program == "-c":  # `python -c CODE`: the code is not worth quoting
        return f"{Path(sys.executable).name} -c ..."
    return shlex.join([Path(program).name, *args])


@contextmanager
def _file_lock(path: Path, organisation: str, *, deadline: float) -> Iterator[None]:
    """An exclusive `flock` on `path`, which the kernel frees when this process dies.

    The file is never deleted: a run that opened it just before another deleted it would
    lock a file nobody else sees. Each open is its own lock, so two threads of one
    process exclude each other too; the descriptor is not inherited by subprocesses."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock = path.open("a+", encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot open the run lock {path} ({exc.strerror}); BTM_HOME must be a folder "
            "this user can write to"
        ) from exc
    started = time.monotonic()
    with lock:
        waited_for: Holder | None = None
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = Holder.read(lock)
                if holder is not None and holder != waited_for:
                    waited_for = holder
                    _logger().info(
                        "another run of organisation %r holds %s: %s; waiting for it to "
                        "finish (the lock is freed as soon as that process ends)",
                        organisation,
                        path,
                        holder.describe(),
                    )
                if time.monotonic() >= deadline:
                    waited = time.monotonic() - started
                    raise BtmError(_still_held(path, organisation, holder, waited)) from None
                time.sleep(POLL_SECONDS)
        try:
            Holder.this_process().write(lock)
            yield
        finally:
            # Emptied before it is unlocked, so nobody reads a holder that has gone.
            with suppress(OSError):
                lock.seek(0)
                lock.truncate()
            fcntl.flock(lock, fcntl.LOCK_UN)


def _still_held(path: Path, organisation: str, holder: Holder | None, waited: float) -> str:
    who = holder.describe() if holder is not None else "a process that has not said who it is"
    how = f"stop it (kill {holder.pid}) or " if holder is not None else ""
    return (
        f"another run of organisation {organisation!r} still holds {path} after waiting "
        f"{waited:.0f} s: {who}; {how}wait for it to finish, then run again"
    )


@contextmanager
def _limit_slot(name: str, organisation: str, *, deadline: float) -> Iterator[None]:
    """The single slot of the global concurrency limit `name`, under a renewed lease."""
    limit = ensure_limit(name)
    logger = _logger()
    if not limit.active or limit.limit != 1:
        logger.warning(
            "concurrency limit %s is %s; runs of organisation %r may overlap until it is "
            "set back (prefect gcl update %s --limit 1 --enable)",
            name,
            "disabled" if not limit.active else f"set to {limit.limit} slots",
            organisation,
            name,
        )
    if limit.active and limit.active_slots >= limit.limit:
        logger.info(
            "another run of organisation %r holds the concurrency limit %s; waiting for it "
            "to finish (Concurrency in the Prefect UI); a run that died holding it frees "
            "it within %.0f s, when its lease runs out",
            organisation,
            name,
            LEASE_SECONDS + 15,
        )
    started = time.monotonic()
    try:
        with concurrency(
            name,
            occupy=1,
            timeout_seconds=max(deadline - time.monotonic(), 0.0),
            lease_duration=LEASE_SECONDS,
            strict=True,
            holder=_lease_holder(),
            # A lease that cannot be renewed may be revoked and the slot given to another
            # run: stop this one rather than overlap.
            raise_on_lease_renewal_failure=True,
        ):
            yield
    except TimeoutError as exc:
        raise BtmError(
            f"another run of organisation {organisation!r} still holds the concurrency limit "
            f"{name} after waiting {time.monotonic() - started:.0f} s; see which run under "
            "Concurrency in the Prefect UI, wait for it to finish, then run again"
        ) from exc


def ensure_limit(name: str) -> GlobalConcurrencyLimitResponse:
    """The limit `name`, created with one slot when it does not exist yet.

    `concurrency()` does not create it: for a missing limit it logs a warning and runs
    the body without holding anything (or, strict, raises)."""
    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            pass
        # ObjectAlreadyExists: a run starting at the same moment created it first
        with suppress(ObjectAlreadyExists):
            client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
        return client.read_global_concurrency_limit_by_name(name)


def _lease_holder() -> ConcurrencyLeaseHolder | None:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return ConcurrencyLeaseHolder(type="flow_run", id=context.flow_run.id)


def _logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)
