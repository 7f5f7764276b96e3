"""The `btm` command answers at once: importing it, and `btm --help`, load Typer and a
few small modules of `btm/`, none of the libraries a command loads when it runs; a read
command on a current schema loads no migration machinery, templates, charts, Great
Expectations or Prefect. Checked on `sys.modules` in a fresh process, never on a clock
(the timings are `tests/benchmarks/bench_cli.py`'s)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from btm import store
from btm.settings import Settings
from tests.factories import write_quarter
from tests.pipeline import run_cycle

ROOT = Path(__file__).resolve().parents[2]
# What a command imports when it runs, never `import btm.cli`.
HEAVY = (
    "alembic",
    "btm.pipeline",
    "btm.reporting",
    "btm.store",
    "great_expectations",
    "jinja2",
    "matplotlib",
    "pandas",
    "prefect",
    "sqlalchemy",
)
# What no read command needs on a current schema.
NOT_FOR_READING = (
    "alembic",
    "great_expectations",
    "httpx",
    "jinja2",
    "matplotlib",
    "numpy",
    "pandas",
    "prefect",
    "pyarrow",
)


def _loaded(argv: list[str] | None, watched: tuple[str, ...]) -> list[str]:
    """The `watched` packages loaded in a fresh process by `import btm.cli`, then by
    running `btm argv` when given."""
    run = (
        f"import sys; from btm.cli import app; sys.argv = ['btm', *{argv!r}]\n"
        "try:\n    app()\nexcept SystemExit as exc:\n    assert not exc.code, exc.code\n"
        if argv is not None
        else "import sys, btm.cli\n"
    )
    report = (
        f"watched = {watched!r}\n"
        "print(json.dumps(sorted(w for w in watched if any("
        "m == w or m.startswith(w + '.') for m in sys.modules))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", "import json\n" + run + report],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


def test_importing_the_command_loads_none_of_what_its_commands_use() -> None:
    assert _loaded(None, HEAVY) == []


def test_help_loads_none_of_what_the_commands_use(btm_home: Path) -> None:
    assert _loaded(["--help"], HEAVY) == []


@pytest.mark.parametrize(
    "argv",
    [["status"], ["explain", "MTI-1"], ["initiatives", "list"], ["cycle", "history"], ["calendar"]],
    ids=" ".join,
)
def test_a_read_command_loads_no_migrations_reports_or_prefect(
    argv: list[str], btm_home: Path, tmp_path: Path
) -> None:
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    engine.dispose()

    assert _loaded(argv, NOT_FOR_READING) == []
