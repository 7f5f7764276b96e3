"""Prefect flows: orchestration only. Each task wraps one arrow of `btm.pipeline`; the
flows add retries, timeouts, concurrency, artifacts, hooks and schedules.

Importing this package changes nothing: Prefect's quiet, offline-safe defaults are set by
the `btm` command before it starts a flow (see `btm.cli`), and a flow run reads its own
settings and Prefect's blocks at its start (`flows.tasks.flow_setup`).
"""
