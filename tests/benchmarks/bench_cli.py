"""Benchmark: how soon the `btm` command answers, each command a whole process, against
`python -c pass` measured in the same run.

It builds one demo home in a temporary folder through the pipeline core, as `btm demo`
does but without Prefect: the sample enterprise's evidence and the demo's audiences, then
each quarter's cycle, the monthly pulse before it and the PMO's review after it. Then it
starts each command several times on that home and prints the median wall seconds, the
ratio to the bare interpreter's start-up and the goal. It never fails on a number.

    .venv/bin/python -m tests.benchmarks.bench_cli --repeat 7
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BASELINE = "python -c pass"


def commands() -> list[tuple[str, list[str], float | None]]:
    """(label, command line, goal in seconds or None), the baseline first."""
    python, btm = sys.executable, btm_executable()
    return [
        (BASELINE, [python, "-c", "pass"], None),
        ("python -c 'import btm.cli'", [python, "-c", "import btm.cli"], None),
        ("btm --help", [btm, "--help"], 0.3),
        ("btm status", [btm, "status"], 0.6),
        ("btm explain MTI-2", [btm, "explain", "MTI-2"], 0.6),
        ("btm initiatives list", [btm, "initiatives", "list"], 0.6),
        ("btm cycle history", [btm, "cycle", "history"], None),
        ("btm calendar", [btm, "calendar"], None),
        ("btm metrics", [btm, "metrics"], None),
    ]


def btm_executable() -> str:
    """The `btm` entry point beside this interpreter, else the one on PATH."""
    beside = Path(sys.executable).with_name("btm")
    found = str(beside) if beside.exists() else shutil.which("btm")
    if found is None:
        raise SystemExit("no `btm` command: install the project (`make`) first")
    return found


def demo_environment(root: Path) -> dict[str, str]:
    """This environment, but for a demo home under `root`: its own BTM_HOME and
    PREFECT_HOME, Prefect quiet, none of the caller's BTM_ settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BTM_")}
    return env | {
        "BTM_HOME": str(root / "btm-home"),
        "PREFECT_HOME": str(root / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "COLUMNS": "160",
    }


def build_demo_home() -> None:
    """The demo's quarters through the pipeline core, in the BTM_HOME of the environment."""
    from btm import pipeline
    from btm.demo.sample import DEMO_CYCLES, generate_sample_evidence
    from btm.demo.walkthrough import DEMO_SOURCES, install_demo_audiences, pmo_review
    from btm.evidence.sources import load_sources
    from btm.improvement.pulse import run_pulse

    run = pipeline.setup()
    generate_sample_evidence(run.settings.inbox_dir, cycles=DEMO_CYCLES, calendar=run.calendar)
    install_demo_audiences(run)
    sources = load_sources(DEMO_SOURCES)
    for n, cycle_id in enumerate(DEMO_CYCLES):
        if n:
            as_of = run.calendar.as_of(cycle_id)
            run_pulse(
                engine=run.engine,
                as_of=as_of,
                settings=run.settings,
                catalog=run.catalog,
                rubric=run.rubric,
            )
        pipeline.run_cycle(run, cycle_id, sources, actor="bench")
        if n < len(DEMO_CYCLES) - 1:
            pmo_review(run, cycle_id)


def median_seconds(args: list[str], env: dict[str, str], repeat: int) -> float:
    """The median wall time of `repeat` runs, after one unmeasured run that warms the
    file cache and writes the bytecode."""
    times = []
    for n in range(repeat + 1):
        started = time.perf_counter()
        done = subprocess.run(args, env=env, capture_output=True, text=True)
        elapsed = time.perf_counter() - started
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed ({done.returncode}):\n{done.stderr}")
        if n:
            times.append(elapsed)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="measured runs per command")
    args = parser.parse_args()
    measured = commands()
    with tempfile.TemporaryDirectory(prefix="btm-bench-cli-") as tmp:
        env = demo_environment(Path(tmp))
        os.environ.clear()
        os.environ.update(env)  # the settings the demo home is built with
        started = time.perf_counter()
        build_demo_home()
        print(f"demo home built in {time.perf_counter() - started:.1f} s; {args.repeat} runs each")
        medians = {label: median_seconds(line, env, args.repeat) for label, line, _ in measured}
    base = medians[BASELINE]
    print(f"{'command':30}{'median s':>10}{'x pass':>10}  goal")
    for label, _, goal in measured:
        seconds = medians[label]
        target = "" if goal is None else f"<= {goal:.1f} s " + ("met" if seconds <= goal else "not")
        print(f"{label:30}{seconds:10.3f}{seconds / base:10.1f}  {target}")


if __name__ == "__main__":
    main()
