"""Prefect flows: orchestration only. Every task wraps one function of `btm/`.

Importing this package sets Prefect's quiet, offline-safe defaults (telemetry off, a
start-up timeout long enough for the ephemeral server on a fresh database) unless the
environment already chose otherwise.
"""

import os

for _name, _value in {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180",
}.items():
    os.environ.setdefault(_name, _value)
