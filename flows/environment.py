"""Prefect's quiet, offline-safe defaults, set by a door before Prefect is imported.

Telemetry off, and a start-up timeout long enough for the temporary server on a fresh
database (the default 20 s times out on two cores: ../shared/stack-notes.md). A value the
environment already sets wins. This module imports nothing of Prefect's.
"""

from __future__ import annotations

import os

PREFECT_DEFAULTS = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}


def quiet_prefect() -> None:
    for name, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(name, value)
