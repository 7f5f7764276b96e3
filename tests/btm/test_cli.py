import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from btm import store
from btm.cli import app
from btm.settings import Settings
from tests.factories import write_quarter
from tests.pipeline import RUBRIC, run_cycle

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
    assert payload["cycle"] == "2026-Q1" and payload["rubric_version"] == RUBRIC.version
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
    for name in ("okrs.json", "budget-plan.csv", "resource-plan.xlsx", "vendor-register.xlsx"):
        assert len(list(out.rglob(name))) == 4, name
    assert (out / "apm.sqlite").is_file()


def test_status_shows_each_sources_last_fetch(btm_home: Path, tmp_path: Path) -> None:
    _scored_home(btm_home, tmp_path)
    table = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert "Evidence sources" in table.stdout and "investments" in table.stdout
    payload = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    by_source = {s["source"]: s for s in payload["sources"]}
    assert by_source["projects"]["rows"] == 20 and by_source["projects"]["reachable"]
    assert by_source["projects"]["age_seconds"] < 600


def test_sources_check_reports_each_source_and_fails_when_one_is_down(
    btm_home: Path, tmp_path: Path
) -> None:
    write_quarter(tmp_path / "drop", case_share=0.6)
    sources = tmp_path / "sources.yaml"
    sources.write_text(
        f"""
sources:
  - {{name: exports, kind: projects, connector: files, location: "{tmp_path}/drop",
     pattern: "projects-*"}}
  - {{name: ppm, kind: projects, connector: sql, location: "sqlite:///{tmp_path}/none.db",
     query: "SELECT * FROM nowhere"}}
"""
    )
    result = runner.invoke(app, ["sources", "check", "--sources", str(sources), "--json"])
    assert result.exit_code == 1
    exports, ppm = json.loads(result.stdout)
    assert (exports["source"], exports["reachable"], exports["rows"]) == ("exports", True, 20)
    assert exports["error"] is None and exports["latency_ms"] >= 0
    assert ppm["reachable"] is False and "none.db does not exist" in ppm["error"]
    assert "check location" in ppm["error"]

    table = runner.invoke(
        app, ["sources", "check", "--sources", str(sources)], env={"COLUMNS": "200"}
    )
    assert table.exit_code == 1 and "exports" in table.stdout and "does not exist" in table.stdout


def test_a_broken_sources_file_is_one_clear_line(btm_home: Path, tmp_path: Path) -> None:
    sources = tmp_path / "sources.yaml"
    sources.write_text("sources:\n  - {name: x, kind: projects, connector: ftp, location: y}\n")
    for args in (["sources", "check"], ["run", "--cycle", "2026-Q1"]):
        result = runner.invoke(app, [*args, "--sources", str(sources)])
        assert result.exit_code == 1
        assert "source 'x': connector must be one of files, sql, jira, rest" in result.output
        assert "Traceback" not in result.output


def test_the_evidence_reference_is_generated_from_the_definitions() -> None:
    result = runner.invoke(app, ["kinds", "--markdown"])
    docs = Path(__file__).resolve().parents[2] / "docs" / "evidence.md"
    assert result.stdout == docs.read_text(), "run: btm kinds --markdown > docs/evidence.md"
    kinds = ("investments", "projects", "applications", "decisions", "risks", "survey")
    for kind in (*kinds, "budgets", "resources", "vendors", "objectives"):
        assert f"## {kind}" in result.stdout
    assert "| lifecycle_decision | text |" in result.stdout


def test_status_json_gives_each_scores_target_and_gap(btm_home: Path, tmp_path: Path) -> None:
    _scored_home(btm_home, tmp_path)
    payload = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert payload["target_state"] == "alignment"
    assert payload["rubric_version"] == payload["original_rubric_version"] == RUBRIC.version
    assert payload["rubric_versions"] == [RUBRIC.version]
    cells = {(s["unit"], s["capability"], s["dimension"]): s for s in payload["scores"]}
    assert cells[("Retail", "MTI-1", "process")] | {"unit": None} == {
        "unit": None,
        "capability": "MTI-1",
        "dimension": "process",
        "level": 2,
        "target_level": 3,
        "gap": 1,
    }
    assert cells[("Retail", "SEA-4", "technology")]["gap"] is None


def _scored_under_an_older_rubric(tmp_path: Path) -> None:
    settings = Settings()
    engine = store.engine_for(settings.effective_database_url)
    write_quarter(tmp_path / "q1", case_share=0.55)
    older = dataclasses.replace(RUBRIC, version="2000.1")
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings, rubric=older)


def test_rescore_labels_a_new_set_and_status_shows_either(btm_home: Path, tmp_path: Path) -> None:
    _scored_under_an_older_rubric(tmp_path)
    before = json.loads(runner.invoke(app, ["status", "--json"]).stdout)

    result = runner.invoke(app, ["rescore", "--cycle", "2026-Q1"])

    assert result.exit_code == 0, result.output
    assert f"2026-Q1 rescored under rubric {RUBRIC.version} (original: 2000.1 kept)" in (
        result.stdout
    )
    assert f"btm status --cycle 2026-Q1 --rubric {RUBRIC.version}" in result.stdout
    after = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    del before["sources"], after["sources"]  # their ages move on
    assert after == before | {"rubric_versions": ["2000.1", RUBRIC.version]}
    args = ["status", "--cycle", "2026-Q1", "--rubric", RUBRIC.version]
    rescored = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert rescored["rubric_version"] == RUBRIC.version
    assert rescored["original_rubric_version"] == "2000.1"
    assert len(rescored["scores"]) == 2 * 17 * 4
    table = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert f"rescored under {RUBRIC.version} (original: 2000.1)" in table.stdout
    original = runner.invoke(app, ["status"], env={"COLUMNS": "200"})
    assert "(rubric 2000.1)" in original.stdout and "rescored" not in original.stdout
    assert f"also scored under rubric {RUBRIC.version}" in original.stdout

    missing = runner.invoke(app, ["status", "--rubric", "1999.9"])
    assert missing.exit_code == 1 and "Traceback" not in missing.output
    assert f"no scores under rubric 1999.9; it was scored under 2000.1, {RUBRIC.version}" in (
        " ".join(missing.output.split())
    )


def test_rescore_under_the_original_rubric_is_refused_without_force(
    btm_home: Path, tmp_path: Path
) -> None:
    _scored_home(btm_home, tmp_path)

    refused = runner.invoke(app, ["rescore", "--cycle", "2026-Q1"])

    assert refused.exit_code == 1 and "Traceback" not in refused.output
    assert "pass --force to replace them" in " ".join(refused.output.split())
    forced = runner.invoke(app, ["rescore", "--cycle", "2026-Q1", "--force", "--json"])
    assert forced.exit_code == 0, forced.output
    outcome = json.loads(forced.stdout)
    assert outcome["rubric_version"] == outcome["original_rubric_version"] == RUBRIC.version
    assert outcome["summary"].endswith("replacing its original scores (--force)")
    unscored = runner.invoke(app, ["rescore", "--cycle", "2026-Q3"])
    assert unscored.exit_code == 1 and "run `btm run --cycle 2026-Q3` first" in unscored.output


def test_an_unknown_target_state_is_one_clear_line(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_TARGET_STATE", "harmony")
    result = runner.invoke(app, ["status"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "BTM_TARGET_STATE='harmony'" in result.output
    assert "alignment, synchronization, convergence" in result.output


def test_the_rubric_reference_is_generated_from_the_rubric() -> None:
    result = runner.invoke(app, ["rubric", "--markdown"])
    docs = Path(__file__).resolve().parents[2] / "docs" / "rubric.md"
    assert result.stdout == docs.read_text(), "run: btm rubric --markdown > docs/rubric.md"
    rules = json.loads(runner.invoke(app, ["rubric"]).stdout)["rules"]
    assert len({(r["capability"], r["dimension"]) for r in rules}) == 17 * 4
    assert all(r["description"] and r["rationale"] and r["improve"] for r in rules)


def test_status_shows_the_last_failed_run_and_its_alert(btm_home: Path, tmp_path: Path) -> None:
    _scored_home(btm_home, tmp_path)
    engine = store.engine_for(Settings().effective_database_url)
    alert = btm_home / "outbox" / "ops-ruby-fox.eml"
    store.record_run_failure(
        engine=engine,
        failure=store.RunFailure(
            flow_name="quarterly-cycle",
            run_name="ruby-fox",
            state="Failed",
            detail="could not deliver: cannot reach the SMTP server",
            link="http://127.0.0.1:4200/runs/flow-run/1234",
            alert_path=str(alert),
            alert_error="not emailed: cannot reach the SMTP server at 127.0.0.1:25",
        ),
    )

    table = runner.invoke(app, ["status"], env={"COLUMNS": "300"})
    assert table.exit_code == 0, table.output
    assert "Last failed run: ruby-fox of quarterly-cycle, Failed at" in table.stdout
    assert f"alert: kept in {alert} (not emailed: cannot reach" in table.stdout
    assert "runs/flow-run/1234" in table.stdout
    payload = json.loads(runner.invoke(app, ["status", "--json"]).stdout)
    assert payload["last_failure"]["alert_path"] == str(alert)


def test_status_without_a_failed_run_says_nothing_of_one(btm_home: Path, tmp_path: Path) -> None:
    _scored_home(btm_home, tmp_path)
    assert "Last failed run" not in runner.invoke(app, ["status"]).stdout
    assert json.loads(runner.invoke(app, ["status", "--json"]).stdout)["last_failure"] is None
