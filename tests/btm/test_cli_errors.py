"""Every `btm` command turns a mistake in the PMO's files into one red line and exit code
1, never a traceback: here a broken rubric and a broken catalogue in BTM_HOME."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from btm.cli import app

runner = CliRunner()
COMMANDS = [
    ["status"],
    ["rubric"],
    ["rubric", "--markdown"],
    ["calendar"],
    ["metrics"],
    ["explain", "MTI-1"],
    ["rescore", "--cycle", "2026-Q1"],
    ["cycle", "history"],
    ["initiatives", "list"],
    ["run", "--cycle", "2026-Q1"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_broken_catalogue_is_one_line_for_every_command(btm_home: Path, args: list[str]) -> None:
    btm_home.mkdir(parents=True)
    (btm_home / "catalog.yaml").write_text("areas: [\n", encoding="utf-8")

    result = runner.invoke(app, args)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)  # typer's exit, not an escaped error
    assert f"{btm_home / 'catalog.yaml'}: not valid YAML" in result.output


@pytest.mark.parametrize("args", [["rubric"], ["rubric", "--markdown"]])
def test_a_broken_rubric_is_one_line(btm_home: Path, args: list[str]) -> None:
    btm_home.mkdir(parents=True)
    (btm_home / "rubric.yaml").write_text("version: '2099.1'\ncells: {}\n", encoding="utf-8")

    result = runner.invoke(app, args)

    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    assert f"{btm_home / 'rubric.yaml'}: malformed rubric" in " ".join(result.output.split())
