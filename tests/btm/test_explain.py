"""`btm explain`: the stored trace read back with its evidence and next step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from btm import store
from btm.catalog import load_catalog
from btm.cli import app
from btm.errors import ConfigurationError
from btm.explain import explain
from btm.scoring.rubric import load_rubric
from btm.settings import Settings
from tests.factories import write_quarter
from tests.pipeline import JANUARY, run_cycle


@pytest.fixture
def scored(engine: sa.Engine, btm_home: Path, tmp_path: Path) -> sa.Engine:
    settings = Settings()
    write_quarter(tmp_path / "q1", case_share=0.6)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    return engine


def test_each_rule_is_shown_with_value_threshold_evidence_and_the_next_step(
    scored: sa.Engine,
) -> None:
    (cell,) = explain(
        engine=scored,
        catalog=load_catalog(),
        rubric=load_rubric(),
        calendar=JANUARY,
        cycle_id="2026-Q1",
        capability="MTI-1",
        unit="Retail",
        dimension="process",
    )
    assert (cell.level, cell.basis) == (2, "system")
    assert (cell.target_level, cell.gap) == (3, 1)  # alignment asks level 3 of MTI-1
    assert [(r.level, r.outcome, r.value, r.threshold) for r in cell.rules] == [
        (2, "pass", "60 %", ">= 50 %"),
        (3, "fail", "60 %", ">= 85 %"),
        (3, "pass", "100 %", ">= 50 %"),
        (4, "unknown", "unknown", ">= 50 %"),  # no closed investment has realized anything
        (5, "unknown", "unknown", ">= 85 %"),
    ]
    assert cell.rules[0].coverage == "measured on 20 rows, 100 % of its population"
    # 20 rows of the 30 a share needs for full confidence: sqrt(20 / 30)
    assert (cell.confidence, cell.confidence_text) == (0.82, "0.82 (high)")
    assert cell.says is None and cell.divergence is None and not cell.stale
    (batch,) = cell.rules[0].evidence
    assert batch.source == "investments/investments-retail.csv" and batch.age_days == 0
    (step,) = cell.guidance
    assert step.text == "business case coverage 60 %, needs >= 85 %"


def test_a_cell_without_system_evidence_says_so(scored: sa.Engine) -> None:
    cells = explain(
        engine=scored,
        catalog=load_catalog(),
        rubric=load_rubric(),
        calendar=JANUARY,
        cycle_id="2026-Q1",
        capability="SP-3",
        unit="Retail",
    )
    assert len(cells) == 4 and {c.basis for c in cells} == {"unknown"}
    assert all(r.outcome == "unknown" and "vendors" in r.reason for r in cells[0].rules)
    assert cells[0].reason.startswith("no level-2 rule could be judged on system evidence")


def test_unknown_capability_unit_or_dimension_is_named(scored: sa.Engine) -> None:
    common: dict[str, Any] = {"engine": scored, "catalog": load_catalog(), "rubric": load_rubric()}
    common["calendar"] = JANUARY
    with pytest.raises(ConfigurationError, match="unknown capability 'MTI-9'"):
        explain(**common, cycle_id="2026-Q1", capability="MTI-9")
    with pytest.raises(ConfigurationError, match="for unit 'Nowhere'"):
        explain(**common, cycle_id="2026-Q1", capability="MTI-1", unit="Nowhere")
    with pytest.raises(ConfigurationError, match="unknown dimension 'money'"):
        explain(**common, cycle_id="2026-Q1", capability="MTI-1", dimension="money")


def test_the_command_prints_the_trace_and_its_json(btm_home: Path, tmp_path: Path) -> None:
    settings = Settings()
    write_quarter(tmp_path / "q1", case_share=0.6)
    run_cycle(
        "2026-Q1", tmp_path / "q1", store.engine_for(settings.effective_database_url), settings
    )
    runner = CliRunner()
    args = ["explain", "MTI-1", "--unit", "Retail", "--dimension", "process"]
    text = runner.invoke(app, args, env={"COLUMNS": "200"})
    assert text.exit_code == 0, text.output
    assert "level 2" in text.stdout and "next, level 3: business case coverage 60 %" in text.stdout
    assert "basis: system, confidence 0.82 (high)" in text.stdout
    assert "measured on 20 rows, 100 % of its population" in text.stdout
    assert "target 3, gap 1" in text.stdout
    assert "evidence: investments/investments-retail.csv" in text.stdout
    (cell,) = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert cell["level"] == 2 and cell["guidance"][0]["level"] == 3
    missing = runner.invoke(app, ["explain", "XX-1"])
    assert missing.exit_code == 1 and "unknown capability" in missing.output


def test_metrics_are_listed_per_unit_and_for_the_enterprise(btm_home: Path, tmp_path: Path) -> None:
    settings = Settings()
    write_quarter(tmp_path / "q1", case_share=0.6)
    engine = store.engine_for(settings.effective_database_url)
    run_cycle("2026-Q1", tmp_path / "q1", engine, settings)
    result = CliRunner().invoke(app, ["metrics", "--json"])
    assert result.exit_code == 0, result.output
    coverage = json.loads(result.stdout)["metrics"]["business_case_coverage"]
    assert coverage["values"] == {"Retail": 0.6, "Wealth": 0.6, "(enterprise)": 0.6}
    table = CliRunner().invoke(app, ["metrics"], env={"COLUMNS": "200"})
    assert "(enterprise)" in table.stdout and "60 %" in table.stdout
