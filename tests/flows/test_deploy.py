"""The ops loop for real: a `prefect server` on loopback, the work pool, `prefect deploy
--all`, a triggered deployment run picked up by `prefect worker start --run-once`, and
the cycle in the database afterwards."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from btm import store
from btm.settings import Settings

pytestmark = pytest.mark.prefect
PROJECT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def _wait_healthy(url: str, server: subprocess.Popen[bytes], seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"prefect server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"prefect server not healthy at {url} after {seconds} s")


@pytest.fixture
def prefect_env(tmp_path: Path, free_tcp_port: int) -> Iterator[dict[str, str]]:
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": f"http://127.0.0.1:{free_tcp_port}/api",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_UI_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "BTM_HOME": str(tmp_path / "btm-home"),
        "BTM_PROJECT_DIR": str(PROJECT),
    }
    env.pop("BTM_DATABASE_URL", None)
    log = (tmp_path / "server.log").open("wb")
    command = [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1"]
    server = subprocess.Popen(
        [*command, "--port", str(free_tcp_port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_healthy(env["PREFECT_API_URL"], server)
        yield env
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def _prefect(env: dict[str, str], *args: str, timeout: float = 300) -> str:
    done = subprocess.run(
        [str(BIN / "prefect"), *args],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"prefect {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _flow_runs(api: str) -> list[dict[str, object]]:
    """Every flow run the server knows, through its REST API."""
    request = urllib.request.Request(
        f"{api}/flow_runs/filter",
        data=json.dumps({"limit": 50}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        runs: list[dict[str, object]] = json.loads(answer.read())
    return runs


def test_a_deployed_cycle_runs_on_a_worker(
    prefect_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = prefect_env
    subprocess.run([str(BIN / "btm"), "sample", f"{env['BTM_HOME']}/inbox"], env=env, check=True)
    _prefect(env, "work-pool", "create", "--type", "process", "btm-process", "--overwrite")
    _prefect(env, "--no-prompt", "deploy", "--all")
    parameters = json.dumps({"cycle_id": "2026-Q1"})
    started = _prefect(
        env, "deployment", "run", "quarterly-cycle/quarterly-cycle", "--params", parameters
    )
    assert "quarterly-cycle" in started
    _prefect(env, "worker", "start", "--pool", "btm-process", "--run-once", timeout=600)

    runs = _flow_runs(env["PREFECT_API_URL"])
    (completed,) = [r for r in runs if r["state_type"] == "COMPLETED"]
    assert completed["deployment_id"] and completed["parameters"] == {"cycle_id": "2026-Q1"}
    assert not [r for r in runs if r["state_type"] in ("FAILED", "CRASHED")]
    # the quarterly schedule is live: its next run waits for the first day of a quarter
    assert any(r["state_type"] == "SCHEDULED" for r in runs)
    monkeypatch.setenv("BTM_HOME", env["BTM_HOME"])
    engine = store.engine_for(Settings().effective_database_url)
    with store.session_scope(engine) as session:
        scored = session.get(store.Cycle, "2026-Q1")
    assert scored is not None and scored.completed_at is not None
