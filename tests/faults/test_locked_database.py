"""The store locked by another writer while a run goes (issue 14): whatever that run
does, the next run completes, with the cycle's scores complete and single and the
database intact."""

from __future__ import annotations

import sqlite3
import time
from collections import Counter
from pathlib import Path

from btm import store
from btm.settings import Settings
from tests.faults.conftest import CYCLE
from tests.faults.test_killed_run import SCORES, STAGES, Run, environment

HELD_SECONDS = 20.0  # longer than SQLite's busy timeout: the locked run may fail on it


def test_a_run_that_meets_another_writer_leaves_the_next_run_free(
    delivered_home: Path, tmp_path: Path
) -> None:
    env = environment(delivered_home, tmp_path / "prefect-home")
    settings = Settings(home=delivered_home)
    database = settings.resolved_home / "btm.db"
    writer = sqlite3.connect(database, isolation_level=None, check_same_thread=False)

    locked = Run(env)
    try:
        locked.wait_for(STAGES["while scoring"], timeout=90)
        writer.execute("BEGIN IMMEDIATE")  # another writer holds the database
        time.sleep(HELD_SECONDS)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    code = locked.process.wait(timeout=120)
    assert "Traceback" not in "\n".join(locked.printed)  # the answer, on stdout
    assert code in (0, 1), locked.log

    Run(env).finish(timeout=60)
    engine = store.engine_for(settings.effective_database_url)
    cells = Counter(
        (s.unit, s.capability, s.dimension) for s in store.scores_of(engine=engine, cycle_id=CYCLE)
    )
    assert len(cells) == SCORES and set(cells.values()) == {1}
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    engine.dispose()
