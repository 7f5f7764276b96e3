"""Benchmark: the validation gate against the same checks in plain pandas, in the same run.

One typed `projects` batch is built with bench_cycle's generator and the product's reader
and saved once, so both sides load the identical frame, each in its own fresh process
(peak memory is its own). The pandas side runs every rule of the projects suite as
vectorized pandas, with Great Expectations' semantics (nulls ignored by in-set, between
and regex rules; row conditions; `or_equal` and `ignore_row_if` of the pair rule), and
keeps, like the product, each failing rule's count and first spreadsheet rows and ids.
The product side calls `btm.validation.validate_frame`. Imports and one small warm-up
run are paid before the clock starts. A clean batch is measured, then one with about 1%
of its rows broken across a dozen rules; outside the timing, both sides must report the
same failing rules with the same counts, rows and ids, or the run exits non-zero. Peak
memory is the process's while checking, the loaded batch included. Speed is only
printed (the goal is GE within twice the plain pandas time), never asserted.

    .venv/bin/python -m tests.benchmarks.bench_validation --rows 1000000
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import pickle
import pstats
import re
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Set
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from btm.evidence.files import ROW_COLUMN, read_evidence
from btm.evidence.kinds import kind_named
from btm.validation import SAMPLE_SIZE, load_suite, validate_frame
from tests.benchmarks.bench_cycle import AS_OF, write_evidence

KIND = "projects"
GOAL = 2.0  # GE seconds / plain pandas seconds
BROKEN_SHARE = 0.01
WARM_UP_ROWS = 100
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Finding:
    """One failing rule as a side reports it; the agreement check compares these."""

    rule: str
    column: str | None
    fix: str
    severity: str
    count: int
    rows: tuple[int, ...]
    ids: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.rule.removeprefix('expect_column_')}({self.column}) [{self.severity}]"


# --- the plain pandas side: one function per expectation type of the suite -------------
# Each returns, for every row, whether it breaks the rule. A comparison with a missing
# value is False, so between rules ignore nulls as GE does; the others say so explicitly.
Unexpected = Callable[[pd.DataFrame, dict[str, Any]], pd.Series]


def _not_null(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    return frame[kwargs["column"]].isna()


def _unique(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    values = frame[kwargs["column"]]
    return values.notna() & values.duplicated(keep=False)


def _in_set(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    values = frame[kwargs["column"]]
    return values.notna() & ~values.isin(kwargs["value_set"])


def _between(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    values = frame[kwargs["column"]]
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    outside = pd.Series(False, index=frame.index)
    if low is not None:
        outside |= values.le(low) if kwargs.get("strict_min") else values.lt(low)
    if high is not None:
        outside |= values.ge(high) if kwargs.get("strict_max") else values.gt(high)
    return outside


def _a_greater_than_b(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    a, b = frame[kwargs["column_A"]], frame[kwargs["column_B"]]
    greater = a.ge(b) if kwargs.get("or_equal") else a.gt(b)
    checked = {
        "either_value_is_missing": a.notna() & b.notna(),
        "both_values_are_missing": a.notna() | b.notna(),
        "neither": pd.Series(True, index=frame.index),
    }[kwargs.get("ignore_row_if", "both_values_are_missing")]
    return checked & ~greater


def _matches_regex(frame: pd.DataFrame, kwargs: dict[str, Any]) -> pd.Series:
    return frame[kwargs["column"]].str.contains(kwargs["regex"], regex=True, na=False)


UNEXPECTED: dict[str, Unexpected] = {
    "expect_column_values_to_not_be_null": _not_null,
    "expect_column_values_to_be_unique": _unique,
    "expect_column_values_to_be_in_set": _in_set,
    "expect_column_values_to_be_between": _between,
    "expect_column_pair_values_a_to_be_greater_than_b": _a_greater_than_b,
    "expect_column_values_to_not_match_regex": _matches_regex,
}


def _resolved(expectation: dict[str, Any], frame: pd.DataFrame, *, as_of: date) -> dict[str, Any]:
    """The rule's arguments with date bounds as timestamps, the upper one from as_of."""
    kwargs = dict(expectation["kwargs"])
    meta = expectation.get("meta") or {}
    column = kwargs.get("column")
    if column is not None and pd.api.types.is_datetime64_any_dtype(frame[column]):
        for bound in ("min_value", "max_value"):
            if kwargs.get(bound) is not None:
                kwargs[bound] = pd.Timestamp(kwargs[bound])
        if "max_years_after_as_of" in meta:
            years = int(meta["max_years_after_as_of"])
            kwargs["max_value"] = pd.Timestamp(as_of) + pd.DateOffset(years=years)
    return kwargs


def check_with_pandas(
    frame: pd.DataFrame, *, as_of: date, known_ids: Mapping[str, Set[str]]
) -> list[Finding]:
    """Every rule of the suite, vectorized, keeping what the product reports of each."""
    id_field = kind_named(KIND).id_field
    findings: list[Finding] = []
    for expectation in load_suite(KIND)["expectations"]:
        rule, meta = expectation["type"], expectation.get("meta") or {}
        kwargs = expectation["kwargs"]
        columns = [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]
        fix = str(meta.get("fix", "correct the export"))
        severity = str(expectation.get("severity") or "critical")
        if rule == "expect_column_to_exist":
            if kwargs["column"] not in frame.columns:
                findings.append(Finding(rule, kwargs["column"], fix, severity, 1, (), ()))
            continue
        if not set(columns) <= set(frame.columns):
            continue  # reported once, by the column's expect_column_to_exist rule
        if rule not in UNEXPECTED:
            raise NotImplementedError(f"no pandas check for {rule}; add one to UNEXPECTED")
        kwargs = _resolved(expectation, frame, as_of=as_of)
        if "known_ids_of" in meta:
            if meta["known_ids_of"] not in known_ids:
                continue  # the product skips it too, and says so
            kwargs["value_set"] = known_ids[meta["known_ids_of"]]
        unexpected = pd.Series(True, index=frame.index)
        if "row_condition" in kwargs:
            try:
                condition = frame.eval(kwargs["row_condition"], parser=kwargs["condition_parser"])
            except pd.errors.UndefinedVariableError:
                continue  # the condition's column is missing: the rule does not apply
            unexpected = cast(pd.Series, condition)
        unexpected &= UNEXPECTED[rule](frame, kwargs)
        count = int(unexpected.sum())
        if not count:
            continue
        first = frame.loc[unexpected, [ROW_COLUMN, id_field]].nsmallest(SAMPLE_SIZE, ROW_COLUMN)
        findings.append(
            Finding(
                rule,
                ", ".join(columns),
                fix,
                severity,
                count,
                tuple(int(r) for r in first[ROW_COLUMN]),
                tuple(dict.fromkeys(str(i) for i in first[id_field].dropna())),
            )
        )
    return findings


# --- the product side --------------------------------------------------------------------
def check_with_product(
    frame: pd.DataFrame, *, as_of: date, known_ids: Mapping[str, Set[str]]
) -> list[Finding]:
    outcome = validate_frame(frame, KIND, as_of=as_of, known_ids=known_ids)
    if outcome.skipped:
        raise RuntimeError(f"the product skipped rules: {outcome.skipped}")
    return [
        Finding(f.rule, f.column, f.fix, f.severity, f.count, f.rows, f.ids)
        for f in outcome.failures
    ]


SIDES: dict[str, Callable[..., list[Finding]]] = {
    "pandas": check_with_pandas,
    "product": check_with_product,
}


# --- the batches ---------------------------------------------------------------------------
def _set(column: str, value: Any) -> Callable[[pd.DataFrame, pd.Index], None]:
    def breakage(frame: pd.DataFrame, rows: pd.Index) -> None:
        frame.loc[rows, column] = value

    return breakage


def _end_before_start(frame: pd.DataFrame, rows: pd.Index) -> None:
    frame.loc[rows, "planned_end"] = frame.loc[rows, "planned_start"] - pd.Timedelta(days=7)


def _negative_budget(frame: pd.DataFrame, rows: pd.Index) -> None:
    frame.loc[rows, "budget"] = -frame.loc[rows, "budget"]


def _completed_without_actual_end(frame: pd.DataFrame, rows: pd.Index) -> None:
    frame.loc[rows, "status"] = "completed"
    frame.loc[rows, "actual_end"] = pd.NaT


BREAKAGES: tuple[Callable[[pd.DataFrame, pd.Index], None], ...] = (
    _set("status", "paused"),
    _negative_budget,
    _end_before_start,
    _completed_without_actual_end,
    _set("investment_id", "INV-UNKNOWN"),
    _set("name", '=HYPERLINK("http://example.com")'),
    _set("name", "<b>Launch</b> project"),
    _set("percent_complete", 150),
    _set("project_id", "PRJ-DUPLICATE"),
    _set("last_status_update", pd.Timestamp("2099-01-01")),
    _set("health", "yellow"),
    _set("business_unit", None),
)


def broken(frame: pd.DataFrame, *, share: float, seed: int = 11) -> pd.DataFrame:
    """A copy with `share` of its rows broken, each row by one of BREAKAGES in turn."""
    copy = frame.copy()
    count = max(int(len(frame) * share), len(BREAKAGES))
    picked = np.sort(np.random.default_rng(seed).choice(len(frame), size=count, replace=False))
    for i, breakage in enumerate(BREAKAGES):
        breakage(copy, copy.index[picked[i :: len(BREAKAGES)]])
    return copy


def write_batches(folder: Path, rows: int) -> dict[str, Path]:
    """The typed projects batch, clean and broken, each pickled with the known investment
    ids, so that both sides load the identical frame."""
    write_evidence(folder, rows)
    projects = read_evidence(folder / "projects.csv", name="projects.csv", kind="projects")
    investments = read_evidence(
        folder / "investments.csv", name="investments.csv", kind="investments"
    )
    if projects.problems or investments.problems:
        sys.exit(
            f"the generator wrote unreadable cells: {projects.problems + investments.problems}"
        )
    ids = set(investments.frame["investment_id"].dropna())
    batches = {
        "clean": projects.frame,
        f"{BROKEN_SHARE:.0%} broken": broken(projects.frame, share=BROKEN_SHARE),
    }
    paths = {}
    for i, (scenario, frame) in enumerate(batches.items()):
        paths[scenario] = folder / f"batch-{i}.pkl"
        with paths[scenario].open("wb") as handle:
            pickle.dump({"frame": frame, "investments": ids}, handle)
    return paths


# --- one side in its own process ---------------------------------------------------------
def run_side(side: str, batch_path: Path, profile_path: str | None = None) -> None:
    """In a fresh process: load the batch, warm up on its first rows (imports, GE's
    context, the suite), then time one full check. Prints one JSON line."""
    check = SIDES[side]
    with batch_path.open("rb") as handle:
        batch = pickle.load(handle)
    frame: pd.DataFrame = batch["frame"]
    head = frame.head(WARM_UP_ROWS)
    check(
        head,
        as_of=AS_OF,
        known_ids={"investments": set(head["investment_id"].dropna())},
    )
    known_ids = {"investments": batch["investments"]}
    _reset_peak_rss()
    profiler = cProfile.Profile() if profile_path else None
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    findings = check(frame, as_of=AS_OF, known_ids=known_ids)
    if profiler:
        profiler.disable()
    seconds = time.perf_counter() - started
    if profiler and profile_path:
        profiler.dump_stats(profile_path)
    print(
        json.dumps(
            {
                "seconds": seconds,
                "peak_mb": _peak_rss_mb(),
                "findings": [asdict(f) for f in findings],
            }
        )
    )


def _reset_peak_rss() -> None:
    """Linux lets a process reset its peak resident memory, so that the peak reported is
    the check's (the loaded batch included), not that of unpickling the batch."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def _peak_rss_mb() -> float:
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        status = ""
    if peak := re.search(r"VmHWM:\s+(\d+) kB", status):
        return int(peak[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(side: str, batch_path: Path, profile_path: Path | None = None) -> dict[str, Any]:
    """Run one side in a fresh process; its seconds, peak MB and findings."""
    profile = str(profile_path) if profile_path else None
    code = (
        "from pathlib import Path; from tests.benchmarks import bench_validation as b;"
        f"b.run_side({side!r}, Path({str(batch_path)!r}), {profile!r})"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"the {side} side failed:\n{done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["findings"] = [
        Finding(**{**f, "rows": tuple(f["rows"]), "ids": tuple(f["ids"])})
        for f in result["findings"]
    ]
    return result


def differences(pandas_side: list[Finding], product: list[Finding]) -> list[str]:
    """What one side reports and the other does not, rule by rule."""
    by_rule = [{(f.rule, f.column, f.fix): f for f in side} for side in (pandas_side, product)]
    lines = []
    for key in sorted(by_rule[0].keys() | by_rule[1].keys(), key=str):
        ours, theirs = (side.get(key) for side in by_rule)
        if ours != theirs:
            lines.append(f"  {key[0]}({key[1]}):\n    pandas:  {ours}\n    product: {theirs}")
    return lines


def top_costs(profile_path: Path, limit: int = 15) -> str:
    out = io.StringIO()
    stats = pstats.Stats(str(profile_path), stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(limit)
    stats.sort_stats("tottime").print_stats(limit)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="project rows")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="run the product side under cProfile and print its top costs (times inflate)",
    )
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    disagreements: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="btm-bench-") as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        batches = write_batches(folder, args.rows)
        if not args.json:
            print(
                f"batch: {args.rows:,} typed projects rows, {args.rows // 10:,} known "
                f"investment ids (built in {time.perf_counter() - started:.1f} s)"
            )
        for scenario, path in batches.items():
            profile = folder / f"{path.stem}.prof" if args.profile else None
            pandas_side = measure("pandas", path)
            product = measure("product", path, profile)
            results[scenario] = {
                "pandas": pandas_side,
                "product": product,
                "ratio": product["seconds"] / pandas_side["seconds"],
            }
            if diff := differences(pandas_side["findings"], product["findings"]):
                disagreements[scenario] = diff
            if profile and not args.json:
                print(f"\nproduct side, {scenario}, under cProfile:\n{top_costs(profile)}")
    if args.json:
        print(json.dumps(_as_json(results, disagreements, args.rows), indent=2))
    else:
        _print_table(results, disagreements)
    if disagreements:
        sys.exit(1)


def _as_json(
    results: dict[str, dict[str, Any]], disagreements: dict[str, list[str]], rows: int
) -> dict[str, Any]:
    return {
        "rows": rows,
        "goal_ratio": GOAL,
        "scenarios": {
            scenario: {
                "pandas_seconds": r["pandas"]["seconds"],
                "ge_seconds": r["product"]["seconds"],
                "ratio": r["ratio"],
                "pandas_peak_mb": r["pandas"]["peak_mb"],
                "ge_peak_mb": r["product"]["peak_mb"],
                "agree": scenario not in disagreements,
                "differences": disagreements.get(scenario, []),
                "failing_rules": {f.label: f.count for f in r["product"]["findings"]},
            }
            for scenario, r in results.items()
        },
    }


def _print_table(results: dict[str, dict[str, Any]], disagreements: dict[str, list[str]]) -> None:
    print(
        f"{'scenario':12}{'pandas s':>10}{'GE s':>10}{'ratio':>9}{'goal':>7}"
        f"{'pandas MB':>11}{'GE MB':>9}"
    )
    for scenario, r in results.items():
        print(
            f"{scenario:12}{r['pandas']['seconds']:10.2f}{r['product']['seconds']:10.2f}"
            f"{'x' + format(r['ratio'], '.1f'):>9}{'<= ' + format(GOAL, 'g'):>7}"
            f"{r['pandas']['peak_mb']:11.0f}{r['product']['peak_mb']:9.0f}"
        )
    for scenario, r in results.items():
        findings = r["product"]["findings"]
        if scenario in disagreements:
            print(f"{scenario}: the sides DISAGREE:")
            print("\n".join(disagreements[scenario]))
            continue
        listed = ", ".join(f"{f.label} {f.count:,}" for f in findings) or "none"
        rules = "rule" if len(findings) == 1 else "rules"
        print(f"{scenario}: both sides agree on {len(findings)} failing {rules}: {listed}")


if __name__ == "__main__":
    main()
