import json
from pathlib import Path

from typer.testing import CliRunner

from btm import store
from btm.cli import app
from btm.settings import Settings
from tests.btm.test_cycle import write_quarter
from tests.pipeline import run_cycle

runner = CliRunner()


def _scored_home(btm_home: Path, tmp_path: Path) -> None:
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    write_quarter(tmp_path / "q1", case_share=0.55)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)


def test_status_json_lists_every_unit_capability_and_dimension(
    btm_home: Path, tmp_path: Path
) -> None:
    _scored_home(btm_home, tmp_path)
    result = runner.invoke(app, ["status", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["cycle"] == "2026-Q1" and payload["rubric_version"] == "2026.1"
    keys = {(s["unit"], s["capability"], s["dimension"]) for s in payload["scores"]}
    assert len(keys) == len(payload["scores"]) == 2 * 17 * 4
    levels = {(s["unit"], s["capability"], s["dimension"]): s["level"] for s in payload["scores"]}
    assert levels[("Retail", "MTI-1", "process")] == 2
    assert levels[("Retail", "SEA-4", "technology")] is None


def test_status_table_shows_levels_and_unknowns(btm_home: Path, tmp_path: Path) -> None:
    _scored_home(btm_home, tmp_path)
    result = runner.invoke(app, ["status"], env={"COLUMNS": "160"})
    assert result.exit_code == 0
    assert "2026-Q1" in result.stdout and "MTI-1" in result.stdout and "–" in result.stdout


def test_status_without_a_cycle_says_what_to_do(btm_home: Path) -> None:
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1
    assert "run `btm demo` or `btm run` first" in result.output
    assert "Traceback" not in result.output


def test_run_with_a_malformed_cycle_is_a_clear_error(btm_home: Path) -> None:
    result = runner.invoke(app, ["run", "--cycle", "Q3-2026"])
    assert result.exit_code == 1
    assert "write it as YYYY-Qn" in result.output


def test_sample_writes_the_exports(tmp_path: Path) -> None:
    result = runner.invoke(app, ["sample", str(tmp_path / "out")])
    assert result.exit_code == 0
    out = tmp_path / "out"
    assert len(list(out.rglob("investments-*.csv"))) == len(list(out.rglob("projects-*.csv"))) == 20
    assert len(list(out.rglob("decisions.json"))) == len(list(out.rglob("risks.xlsx"))) == 4
    assert (out / "apm.sqlite").is_file()
