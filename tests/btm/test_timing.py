"""The stages `make bench` prints are the ones a cycle runs: each is marked in the code,
so a stage left unmarked (or renamed) shows here, not as a silent zero in the bench."""

from __future__ import annotations

from pathlib import Path

from btm import timing
from tests.benchmarks import bench_cycle


def test_a_full_cycle_runs_every_marked_stage_and_a_rescore_only_the_hashing(
    tmp_path: Path,
) -> None:
    bench_cycle.write_evidence(tmp_path, 300)
    bench_cycle.open_home(tmp_path)

    full = bench_cycle.pipeline(tmp_path)
    again = bench_cycle.rescore(tmp_path)

    assert [name for name in timing.STAGES if full[name] <= 0] == []
    assert all(full[f"{name} MB"] > 0 for name in timing.STAGES)
    ran_again = [name for name in timing.STAGES if again[name] > 0]
    assert ran_again == ["hash and archive", "plan"]


def test_nothing_is_measured_outside_a_recording() -> None:
    with timing.stage("validate"):
        pass
    with timing.recording() as times, timing.stage("validate"):
        pass
    assert list(times.seconds) == ["validate"]
