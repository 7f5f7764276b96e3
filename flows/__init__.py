"""Prefect flows: orchestration only. Every task wraps one function of `btm/`.

Importing this package sets Prefect's quiet, offline-safe defaults (telemetry off, a
start-up timeout long enough for the ephemeral server on a fresh database) unless the
environment already chose otherwise, lets sources name Prefect Secret blocks, and lets
BTM_SMTP_BLOCK name a Prefect EmailServerCredentials block.
"""

import os
from typing import Any

from btm.delivery import use_smtp_block_loader
from btm.errors import ConfigurationError
from btm.evidence.sources import use_block_loader
from flows.credentials import load_smtp_block

for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}.items():
    os.environ.setdefault(_name, _value)


def load_secret_block(name: str) -> str:
    """The value of a Prefect Secret block, for `{block: NAME}` in the sources file."""
    from prefect.blocks.system import Secret  # imported when a block is read, not before

    try:
        block: Any = Secret.load(name)
        return str(block.get())
    except ValueError as exc:
        raise ConfigurationError(
            f"Prefect Secret block {name!r} cannot be loaded ({exc}); create it with "
            "`prefect block create secret` or in the Prefect UI"
        ) from exc


use_block_loader(load_secret_block)
use_smtp_block_loader(load_smtp_block)
