"""A `btm run` SIGKILLed at any stage never blocks the next run (issue 14).

Real processes on the embedded default (no PREFECT_API_URL: each `btm run` starts its
own temporary Prefect server, whose database in PREFECT_HOME outlives it). The run is
killed with its whole process group, temporary server included, at the moment its log
shows it reached the stage (before it takes its organisation's lock, while scoring,
while rendering, after delivery); the next run must finish in under a minute with the
cycle's scores complete and single, the database intact and nobody mailed twice."""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa
from sqlmodel import select

from btm import store
from btm.settings import Settings
from flows.concurrency import lock_path
from tests.faults.conftest import CYCLE

SCORES = 5 * 68  # units x capability-dimension cells
BTM = Path(sys.executable).with_name("btm")
# Each stage, by the log line that shows the run reached it: the temporary server
# starting (before the lock), the last task before it finishing (the stage's own task is
# then running), the delivery finished.
FINISHED = r"-\w+' - Finished in state Completed"
STAGES = {
    "before the lock": r"Starting temporary server",
    "while scoring": r"Task run 'plan_evidence" + FINISHED,
    "while rendering": r"Task run 'move_phases" + FINISHED,
    "after delivery": r"Task run 'deliver" + FINISHED,
}


def environment(home: Path, prefect_home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_API_")}
    for name in ("BTM_DATABASE_URL", "BTM_SMTP_HOST", "BTM_REPORT_TO"):
        env.pop(name, None)
    env.update(BTM_HOME=str(home), PREFECT_HOME=str(prefect_home))
    env.update(PREFECT_SERVER_UI_ENABLED="false", PREFECT_SERVER_ANALYTICS_ENABLED="false")
    return env


class Run:
    """`btm run --cycle CYCLE --force` in its own process group, its log read as it comes."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [str(BTM), "run", "--cycle", CYCLE, "--force"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.lines: list[str] = []  # its log (stderr), as it comes
        self.printed: list[str] = []  # its answer (stdout)
        self.readers = [
            threading.Thread(target=self._read, args=(stream, lines), daemon=True)
            for stream, lines in (
                (self.process.stderr, self.lines),
                (self.process.stdout, self.printed),
            )
        ]
        for reader in self.readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, lines: list[str]) -> None:
        assert stream is not None
        for line in stream:
            lines.append(line.rstrip("\n"))

    @property
    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        text = re.compile(pattern)
        while not any(text.search(line) for line in list(self.lines)):
            assert self.process.poll() is None, f"the run ended before {text!r}:\n{self.log}"
            assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{self.log}"
            time.sleep(0.05)

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        assert self.process.wait(timeout=10) == -signal.SIGKILL

    def finish(self, timeout: float) -> dict[str, object]:
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            pytest.fail(f"the next run did not finish within {timeout} s:\n{self.log}")
        for reader in self.readers:
            reader.join(timeout=5)
        assert code == 0, self.log
        result: dict[str, object] = json.loads("\n".join(self.printed))
        return result


@pytest.mark.parametrize("stage", list(STAGES))
def test_a_run_killed_at_any_stage_does_not_block_the_next(
    stage: str, delivered_home: Path, tmp_path: Path
) -> None:
    env = environment(delivered_home, tmp_path / "prefect-home")
    settings = Settings(home=delivered_home)
    engine = store.engine_for(settings.effective_database_url)
    deliveries = _deliveries(engine)
    outbox = sorted(p.name for p in settings.outbox_dir.glob("*.eml"))

    killed = Run(env)
    try:
        killed.wait_for(STAGES[stage], timeout=90)
        if stage in ("while scoring", "while rendering"):  # after delivery it may be let go
            holder = json.loads(lock_path(settings).read_text(encoding="utf-8"))
            assert holder["pid"] == killed.process.pid  # it held the organisation's lock
            assert holder["command"] == f"btm run --cycle {CYCLE} --force"
    finally:
        killed.kill()

    started = time.monotonic()
    result = Run(env).finish(timeout=60)

    assert time.monotonic() - started < 60
    assert (result["cycle"], result["scores"], result["rescored"]) == (CYCLE, SCORES, True)
    scores = store.scores_of(engine=engine, cycle_id=CYCLE)
    cells = Counter((s.unit, s.capability, s.dimension) for s in scores)
    assert len(cells) == SCORES and set(cells.values()) == {1}  # complete and single
    with sqlite3.connect(settings.resolved_home / "btm.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # every recipient was served by the first run: nobody got the report twice
    assert _deliveries(engine) == deliveries
    assert sorted(p.name for p in settings.outbox_dir.glob("*.eml")) == outbox
    engine.dispose()


def _deliveries(engine: sa.Engine) -> int:
    with store.session_scope(engine) as session:
        return int(session.exec(select(sa.func.count()).select_from(store.Delivery)).one())
