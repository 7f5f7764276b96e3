"""Benchmark: what an incremental Jira fetch costs against a full one, over a loopback
Jira holding a large portfolio.

The fake Jira of the tests (`tests/fake_apis.py`) serves the issues on 127.0.0.1 and
answers every request 20 ms late, as a real instance across a network would. For each
API (Cloud: page tokens, asked for in turn; Data Center: startAt pages, side by side
within `max_concurrency`), the source is fetched through `btm.pipeline.fetch` and
accepted into a scratch store, as a run does: a full fetch, then 1 % of the issues are
changed, then an incremental refresh. Printed: the requests and seconds of each, and the
ratio of their requests (goal: at most 3 %). Then a forced full fetch is made, and the
merged batch must equal it row for row (the same records, the same sha256), or the run
exits non-zero. Times are printed, never asserted.

    .venv/bin/python -m tests.benchmarks.bench_fetch --issues 100000
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from btm import store
from btm.evidence.gather import FetchOutcome, accept_fetch
from btm.evidence.sources import JiraSource
from btm.pipeline import Setup, fetch, open_cycle
from btm.settings import Settings
from tests.fake_apis import FakeJira, jira_issues

GOAL = 0.03  # incremental requests / full requests
DELAY_SECONDS = 0.020
CHANGED_SHARE = 0.01
CYCLE = "2026-Q4"
TOKEN = "bench-jira-token"
USER = "pmo@acme.example"
COLUMNS = {
    "key": "project_id",
    "fields.summary": "name",
    "fields.status.statusCategory.key": "status",
    "fields.customfield_10015": "planned_start",
    "fields.duedate": "planned_end",
    "fields.customfield_10020.value": "business_unit",
    "fields.customfield_10030": "budget",
}
STATUSES = {"status": {"new": "not_started", "indeterminate": "active", "done": "completed"}}
Api = Literal["cloud", "datacenter"]


@dataclass(frozen=True)
class Measured:
    label: str
    requests: int
    seconds: float
    rows: int
    sha256: str
    mode: str


def _source(url: str, api: Api) -> JiraSource:
    auth = (
        {"type": "basic", "user": USER, "token": {"env": "BENCH_JIRA_TOKEN"}}
        if api == "cloud"
        else {"type": "bearer", "token": {"env": "BENCH_JIRA_TOKEN"}}
    )
    return JiraSource.model_validate(
        {
            "connector": "jira",
            "name": f"jira-{api}",
            "kind": "projects",
            "location": url,
            "api": api,
            "jql": "project = PRJ ORDER BY key",
            "auth": auth,
            "page_size": 100,
            "max_concurrency": 4,
            "columns": COLUMNS,
            "values": STATUSES,
        }
    )


def _gather(run: Setup, source: JiraSource, jira: FakeJira, label: str, *, full: bool) -> Measured:
    """One fetch, timed by the pipeline itself, then validated and stored (not timed)."""
    asked = len(jira.received)
    fetched: FetchOutcome = fetch(run, source, CYCLE, full=full)
    requests = len(jira.received) - asked
    (result,) = accept_fetch(
        fetched,
        cycle_id=CYCLE,
        as_of=run.calendar.as_of(CYCLE),
        engine=run.engine,
        quarantine_dir=run.settings.quarantine_dir,
    )
    if result.batch.status != "accepted":
        sys.exit(f"{label}: the batch was quarantined: {result.batch.problems[:3]}")
    return Measured(
        label,
        requests,
        fetched.latency_ms / 1000,
        result.batch.rows,
        result.batch.sha256,
        fetched.increment.mode,
    )


def _records(run: Setup, sha256: str) -> list[object]:
    (batch,) = store.batches_by_hash(engine=run.engine, hashes=[sha256])
    return list(json.loads(Path(batch.archive_path).read_text(encoding="utf-8")))


def bench(api: Api, issues: int, home: Path) -> bool:
    os.environ["BTM_HOME"] = str(home / api)
    run = Setup(Settings())
    open_cycle(run, CYCLE)
    user = USER if api == "cloud" else None
    with FakeJira(
        jira_issues(issues), api=api, token=TOKEN, user=user, delay_seconds=DELAY_SECONDS
    ) as jira:
        source = _source(jira.url, api)
        full = _gather(run, source, jira, "full fetch", full=False)
        for number in random.Random(7).sample(range(1, issues + 1), int(issues * CHANGED_SHARE)):
            jira.update(f"PRJ-{number}", summary=f"Modernise platform {number}, replanned")
        refresh = _gather(run, source, jira, "incremental refresh", full=False)
        again = _gather(run, source, jira, "full fetch again", full=True)

    print(
        f"\n{api}: {issues:,} issues, {DELAY_SECONDS * 1000:.0f} ms a request, "
        f"{CHANGED_SHARE:.0%} changed between the fetches"
    )
    for m in (full, refresh, again):
        print(
            f"  {m.label:<22} {m.mode:<12} {m.requests:>6} requests {m.seconds:>8.2f} s "
            f"{m.rows:>8,} rows  sha256 {m.sha256[:12]}"
        )
    ratio = refresh.requests / full.requests
    verdict = "within" if ratio <= GOAL else "OVER"
    print(
        f"  requests, incremental / full: {ratio:.2%} ({verdict} the goal of {GOAL:.0%}); "
        f"seconds: {refresh.seconds / full.seconds:.2%}"
    )
    merged, fresh = _records(run, refresh.sha256), _records(run, again.sha256)
    same = merged == fresh and refresh.sha256 == again.sha256
    differing = sum(a != b for a, b in zip(merged, fresh, strict=False))
    print(
        f"  merged batch vs a full fetch: {len(merged):,} vs {len(fresh):,} rows, "
        f"{differing} differ, sha256 {'equal' if refresh.sha256 == again.sha256 else 'differ'}"
        f" -> {'identical, row for row' if same else 'NOT THE SAME'}"
    )
    return same


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--issues", type=int, default=100_000)
    parser.add_argument("--api", choices=["cloud", "datacenter", "both"], default="both")
    options = parser.parse_args(argv)
    os.environ["BENCH_JIRA_TOKEN"] = TOKEN
    os.environ.pop("BTM_DATABASE_URL", None)
    apis: list[Api] = ["cloud", "datacenter"] if options.api == "both" else [options.api]
    with tempfile.TemporaryDirectory(prefix="btm-bench-fetch-") as home:
        results = [bench(api, options.issues, Path(home)) for api in apis]
    if not all(results):
        sys.exit("the merged batch differs from a full fetch")


if __name__ == "__main__":
    main()
