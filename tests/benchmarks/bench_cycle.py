"""Benchmark: one cycle's evidence path against plain pandas, measured in the same run.

The baseline is what a careful analyst would write by hand: pandas reads the projects
and investments CSV files, runs the same checks as the suites (required columns, unique
ids, allowed values, non-negative amounts, end not before start) and computes the same
per-unit metrics. The pipeline archives, parses, validates with Great Expectations,
stores the rows in the database, assembles and scores. Each side runs in its own
process, so peak memory is its own. It prints each stage's seconds and the peak memory
when it ended (`btm.timing`), beside the baseline's read, checks and metrics, then the
times, peak RSS and their ratios; it never fails on a number.

    .venv/bin/python -m tests.benchmarks.bench_cycle --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

AS_OF = date(2026, 3, 31)
UNITS = 30


def write_evidence(folder: Path, rows: int, seed: int = 7) -> None:
    rng = np.random.default_rng(seed)
    units = np.array([f"Unit {i:02d}" for i in range(UNITS)])
    investments = max(rows // 10, 1)
    start = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 400, rows), unit="D")
    end = start + pd.to_timedelta(rng.integers(30, 500, rows), unit="D")
    status = rng.choice(["not_started", "active", "on_hold", "completed", "cancelled"], rows)
    projects = pd.DataFrame(
        {
            "project_id": [f"PRJ-{i:08d}" for i in range(rows)],
            "investment_id": np.where(
                rng.random(rows) < 0.7, [f"INV-{i % investments:07d}" for i in range(rows)], ""
            ),
            "business_unit": units[rng.integers(0, UNITS, rows)],
            "name": [f"Project {i}" for i in range(rows)],
            "status": status,
            "health": np.where(
                status == "active", rng.choice(["green", "amber", "red", ""], rows), ""
            ),
            "planned_start": start.strftime("%Y-%m-%d"),
            "planned_end": end.strftime("%Y-%m-%d"),
            "forecast_end": np.where(
                rng.random(rows) < 0.6,
                (end + pd.to_timedelta(rng.integers(-30, 60, rows), unit="D")).strftime("%Y-%m-%d"),
                "",
            ),
            "actual_end": np.where(status == "completed", end.strftime("%Y-%m-%d"), ""),
            "budget": rng.integers(1_000, 1_000_000, rows).astype(float),
            "actual_cost": rng.integers(0, 1_200_000, rows).astype(float),
            "percent_complete": rng.integers(0, 101, rows),
            "last_status_update": np.where(
                rng.random(rows) < 0.8,
                (
                    pd.Timestamp(AS_OF) - pd.to_timedelta(rng.integers(0, 120, rows), unit="D")
                ).strftime("%Y-%m-%d"),
                "",
            ),
            "architecture_reviewed": rng.choice(["true", "false"], rows),
        }
    )
    projects.to_csv(folder / "projects.csv", index=False)
    inv_status = rng.choice(["proposed", "approved", "rejected", "active", "closed"], investments)
    pd.DataFrame(
        {
            "investment_id": [f"INV-{i:07d}" for i in range(investments)],
            "business_unit": units[rng.integers(0, UNITS, investments)],
            "name": [f"Investment {i}" for i in range(investments)],
            "category": rng.choice(["run", "grow", "transform"], investments),
            "status": inv_status,
            "approval_date": np.where(
                np.isin(inv_status, ["approved", "active", "closed"]), "2025-06-01", ""
            ),
            "budget": rng.integers(10_000, 5_000_000, investments).astype(float),
            "actual_spend": rng.integers(0, 6_000_000, investments).astype(float),
            "business_case": rng.choice(["yes", "no"], investments),
            "expected_benefit": rng.integers(0, 9_000_000, investments).astype(float),
            "realized_benefit": np.where(rng.random(investments) < 0.5, "1000", ""),
            "strategic_objective": np.where(rng.random(investments) < 0.6, "Growth", ""),
            "sponsor": np.where(rng.random(investments) < 0.7, "COO", ""),
            "decision_body": np.where(rng.random(investments) < 0.7, "Investment Board", ""),
        }
    ).to_csv(folder / "investments.csv", index=False)


def baseline(folder: Path) -> dict[str, float]:
    """Plain pandas: read, check, compute the same metrics; the seconds of each."""
    from btm.metrics import compute_metrics
    from btm.scoring.rubric import load_rubric

    seconds = {"read": 0.0, "checks": 0.0}
    frames = {}
    for kind, dates, id_field in [
        (
            "projects",
            ["planned_start", "planned_end", "forecast_end", "actual_end", "last_status_update"],
            "project_id",
        ),
        ("investments", ["approval_date"], "investment_id"),
    ]:
        started = time.perf_counter()
        frame = pd.read_csv(
            folder / f"{kind}.csv",
            parse_dates=dates,
            true_values=["yes", "true"],
            false_values=["no", "false"],
        )
        seconds["read"] += time.perf_counter() - started
        started = time.perf_counter()
        problems = int(frame[id_field].duplicated(keep=False).sum())
        problems += int(frame[id_field].isna().sum() + frame["business_unit"].isna().sum())
        problems += int((frame["budget"] < 0).sum())
        if kind == "projects":
            problems += int(
                (
                    ~frame["status"].isin(
                        ["not_started", "active", "on_hold", "completed", "cancelled"]
                    )
                ).sum()
            )
            problems += int((~frame["health"].dropna().isin(["green", "amber", "red"])).sum())
            problems += int((frame["actual_cost"] < 0).sum())
            problems += int((frame["planned_end"] < frame["planned_start"]).sum())
        else:
            problems += int(
                (
                    ~frame["status"].isin(["proposed", "approved", "rejected", "active", "closed"])
                ).sum()
            )
        frames[kind] = frame
        seconds["checks"] += time.perf_counter() - started
    started = time.perf_counter()
    compute_metrics(frames, as_of=AS_OF, policy=load_rubric().metric_policy)
    seconds["metrics"] = time.perf_counter() - started
    return seconds


def pipeline(folder: Path) -> dict[str, float]:
    """The product's path, without Prefect: archive, parse, validate, store, score; a
    cycle whose evidence is unchanged since its last scoring skips all but the hashing.
    The seconds of each stage the pipeline marks."""
    from btm import pipeline as core
    from btm import timing
    from btm.evidence.sources import default_sources
    from btm.settings import Settings

    run = core.Setup(Settings(home=folder, target_state="alignment"))
    with timing.recording() as stages:
        results = core.gather(run, "2026-Q1", default_sources(folder))
        for result in results:
            assert result.batch.status == "accepted", result.batch.problems
        plan = core.plan(run, "2026-Q1")
        if core.needs_scoring(run, "2026-Q1", plan, force=False):
            core.score(run, "2026-Q1", planned=plan, fresh=core.fresh_frames(results))
    return {
        **{name: stages.seconds.get(name, 0.0) for name in timing.STAGES},
        **{f"{name} MB": stages.peak_mb.get(name, 0.0) for name in timing.STAGES},
    }


def open_home(folder: Path) -> None:
    """The home's database with its schema, as a deployment has it before any cycle."""
    from btm import pipeline as core
    from btm.settings import Settings

    core.Setup(Settings(home=folder)).engine.dispose()  # opening it creates the schema


def rescore(folder: Path) -> dict[str, float]:
    """The same cycle again with unchanged evidence: nothing is parsed twice."""
    return pipeline(folder)


def measure(side: str, folder: Path) -> dict[str, Any]:
    """Run one side in a fresh process, imports warmed; return its wall seconds, the
    process's peak RSS in MB and the seconds of its stages."""
    code = (
        "import json, time; from pathlib import Path;"
        "from tests.benchmarks import bench_cycle as b; from btm.timing import peak_mb;"
        # Imports are paid once per process, not per cycle: both sides warm them first.
        "import btm.pipeline, btm.metrics, btm.scoring.engine, great_expectations;"
        # ... and a deployment's database exists before its cycles run.
        f"folder = Path({str(folder)!r}); {'b.open_home(folder);' if side != 'baseline' else ''}"
        f"t = time.perf_counter(); stages = b.{side}(folder);"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'peak_mb': peak_mb(),"
        " 'stages': stages}))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=int, default=200_000, help="project rows (investments: a tenth)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="btm-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        write_evidence(folder, args.rows)
        print(
            f"evidence: {args.rows:,} projects, {args.rows // 10:,} investments, {UNITS} units "
            f"(written in {time.perf_counter() - started:.1f} s)"
        )
        base = measure("baseline", folder)
        full = measure("pipeline", folder)
        again = measure("rescore", folder)
    print_stages(base, full)
    print(f"{'':28}{'seconds':>10}{'peak MB':>10}")
    for name, result in [
        ("plain pandas (baseline)", base),
        ("full cycle", full),
        ("rescore, unchanged", again),
    ]:
        print(f"{name:28}{result['seconds']:10.2f}{result['peak_mb']:10.0f}")
    print(
        f"full cycle / baseline: time x{full['seconds'] / base['seconds']:.2f} (goal <= 1.5), "
        f"memory x{full['peak_mb'] / base['peak_mb']:.2f}"
    )
    print(f"rescore / full cycle:  time x{again['seconds'] / full['seconds']:.2f} (goal <= 0.1)")


def print_stages(base: dict[str, Any], full: dict[str, Any]) -> None:
    """The full cycle's stages beside the baseline's: where the ratio comes from."""
    from btm.timing import STAGES

    beside = {"parse and type": "read", "validate": "checks", "metrics": "metrics"}
    stages = full["stages"]
    print(f"{'full cycle, by stage':28}{'seconds':>10}{'peak MB':>10}   plain pandas")
    for name in STAGES:
        other = beside.get(name)
        plain = f"   {other} {base['stages'][other]:.2f} s" if other else ""
        print(f"{name:28}{stages[name]:10.2f}{stages[f'{name} MB']:10.0f}{plain}")
    other = full["seconds"] - sum(stages[name] for name in STAGES)
    print(f"{'the rest (records, setup)':28}{other:10.2f}")
    print()


if __name__ == "__main__":
    main()
