"""One run at a time per organisation: every flow wraps its body in
`one_run_per_organisation(settings)`.

The lock is a Prefect global concurrency limit named `btm-<organisation>` with one slot,
held under a lease for the whole body. It is the one Prefect mechanism that spans the
three flows and every way a run starts: a deployment's `concurrency_limit` only counts
runs of that deployment, and work-pool or work-queue limits only runs a worker picks up,
while `btm run` calls the flow in-process. The ops team sees the limit, its occupied
slot and its acquired/released events under Concurrency in the Prefect UI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from typing import Any

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

from btm.errors import ConfigurationError
from btm.settings import Settings

# The server frees the slot of a run that died without releasing it once its lease
# expires (the repossessor looks every 15 s); a live run renews it every 75 % of this.
LEASE_SECONDS = 300.0

# The limits this context already holds, so that a flow called as a subflow of a run
# that holds its organisation's slot goes on instead of waiting for itself forever.
_held: ContextVar[frozenset[str]] = ContextVar("btm_concurrency_held", default=frozenset())


def limit_name(settings: Settings) -> str:
    """The global concurrency limit of the organisation: `btm-<organisation>`."""
    banned = sorted(set(BANNED_CHARACTERS) & set(settings.organisation))
    if banned:
        raise ConfigurationError(
            f"BTM_ORGANISATION {settings.organisation!r} contains {' '.join(banned)}, which "
            "Prefect does not allow in a concurrency limit's name; use letters, digits, "
            "'-' or '_'"
        )
    return f"btm-{settings.organisation}"


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


@contextmanager
def one_run_per_organisation(settings: Settings) -> Iterator[None]:
    """Hold the organisation's single slot for the duration of the block; wait for it
    while another run of the same organisation holds it, however that run was started."""
    name = limit_name(settings)
    if name in _held.get():
        yield
        return
    limit = ensure_limit(name)
    logger = _logger()
    if not limit.active or limit.limit != 1:
        logger.warning(
            "concurrency limit %s is %s; runs of organisation %r may overlap until it is "
            "set back (prefect gcl update %s --limit 1 --enable)",
            name,
            "disabled" if not limit.active else f"set to {limit.limit} slots",
            settings.organisation,
            name,
        )
    if limit.active and limit.active_slots >= limit.limit:
        logger.info(_waiting_message(name, settings.organisation))
    with concurrency(
        name,
        occupy=1,
        lease_duration=LEASE_SECONDS,
        strict=True,
        holder=_holder(),
        # A lease that cannot be renewed may be revoked and the slot given to another
        # run: stop this one rather than overlap.
        raise_on_lease_renewal_failure=True,
    ):
        token = _held.set(_held.get() | {name})
        try:
            yield
        finally:
            _held.reset(token)


def _waiting_message(name: str, organisation: str) -> str:
    message = (
        f"another run of organisation {organisation!r} holds the concurrency limit {name}; "
        "waiting for it to finish (Concurrency in the Prefect UI)"
    )
    if get_current_settings().api.url is None:
        # An ephemeral server does not run the service that expires leases, so the slot
        # of a run killed there stays taken.
        message += (
            f". Without a Prefect server a killed run keeps its slot: if no run is in "
            f"progress, free it with `prefect gcl update {name} --active-slots 0`"
        )
    return message


def _holder() -> ConcurrencyLeaseHolder | None:
    context = FlowRunContext.get()
    if context is None or context.flow_run is None:
        return None
    return ConcurrencyLeaseHolder(type="flow_run", id=context.flow_run.id)


def _logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)
