"""Where a cycle's time and memory go, stage by stage.

The pipeline marks its stages (`with stage("validate"): ...`); nothing is measured unless
a caller is `recording()`, as `make bench` is, so a run pays one context-variable lookup
per stage. Each stage adds its wall seconds, and the process's peak resident memory when
it ended: the stage whose peak is the first to reach the run's peak is the one to shrink.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

STAGES = (
    "hash and archive",
    "parse and type",
    "validate",
    "store",
    "plan",
    "metrics",
    "score",
    "save",
)


def peak_mb() -> float:
    """The process's peak resident memory so far, in MB (Linux counts kB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


@dataclass
class StageTimes:
    seconds: dict[str, float] = field(default_factory=dict)
    peak_mb: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, seconds: float) -> None:
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds
        self.peak_mb[name] = peak_mb()


_recording: ContextVar[StageTimes | None] = ContextVar("btm_stage_times", default=None)


@contextmanager
def recording() -> Iterator[StageTimes]:
    """Collect the stages run inside the block."""
    times = StageTimes()
    token = _recording.set(times)
    try:
        yield times
    finally:
        _recording.reset(token)


@contextmanager
def stage(name: str) -> Iterator[None]:
    """Mark a stage of the pipeline; measured only while `recording()`."""
    times = _recording.get()
    if times is None:
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        times.add(name, time.perf_counter() - started)
