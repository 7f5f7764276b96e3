"""A PMO's own catalogue, rubric, suites and templates in BTM_HOME replace the shipped
ones, and an edit is seen by the next run of a long-lived process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml

from btm import pipeline
from btm.errors import ConfigurationError
from btm.resources import DATA_DIR, SUITES_DIR, TEMPLATES_DIR, suite_dirs, template_dirs
from btm.settings import Settings
from btm.validation import load_suite


def _write_yaml(path: Path, document: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _touch_later(path: Path) -> None:
    """Move the file's modification time on, as an edit a second later would."""
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 1_000_000_000))


def test_the_shipped_files_are_found() -> None:
    assert (DATA_DIR / "catalog.yaml").is_file()
    assert (SUITES_DIR / "investments.json").is_file()
    assert (TEMPLATES_DIR / "email.html.j2").is_file()


def test_a_rubric_in_btm_home_replaces_the_shipped_one_and_an_edit_is_seen(
    btm_home: Path,
) -> None:
    shipped = pipeline.setup(Settings()).rubric.version
    document = yaml.safe_load((DATA_DIR / "rubric.yaml").read_text(encoding="utf-8"))
    document["version"] = "2099.1"
    _write_yaml(btm_home / "rubric.yaml", document)

    assert pipeline.setup(Settings()).rubric.version == "2099.1" != shipped

    document["version"] = "2099.2"
    _write_yaml(btm_home / "rubric.yaml", document)
    _touch_later(btm_home / "rubric.yaml")
    assert pipeline.setup(Settings()).rubric.version == "2099.2"  # same process, next run


def test_a_catalogue_in_btm_home_decides_the_target_states(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    document = yaml.safe_load((DATA_DIR / "catalog.yaml").read_text(encoding="utf-8"))
    document["states"] = [document["states"][0]]  # the PMO pursues alignment only
    _write_yaml(btm_home / "catalog.yaml", document)
    monkeypatch.setenv("BTM_TARGET_STATE", "convergence")

    with pytest.raises(ConfigurationError) as refused:
        Settings()
    assert str(btm_home / "catalog.yaml") in str(refused.value)
    assert "set it to one of alignment" in str(refused.value)


def test_a_suite_in_btm_home_replaces_the_shipped_one(btm_home: Path) -> None:
    shipped = load_suite("investments", suite_dirs(btm_home))
    own = dict(shipped, name="the PMO's investments suite")
    (btm_home / "expectations").mkdir(parents=True)
    (btm_home / "expectations" / "investments.json").write_text(json.dumps(own))

    assert load_suite("investments", suite_dirs(btm_home))["name"] == own["name"]
    # the kinds the PMO leaves alone keep the shipped suite
    assert load_suite("projects", suite_dirs(btm_home)) == load_suite("projects")


def test_a_template_in_btm_home_replaces_only_that_template(btm_home: Path) -> None:
    from btm.reporting.render import band_colours

    own = btm_home / "templates"
    own.mkdir(parents=True)
    css = (TEMPLATES_DIR / "report.css").read_text(encoding="utf-8")
    (own / "report.css").write_text(css.replace("#93cf97", "#00aa00"), encoding="utf-8")

    assert template_dirs(btm_home) == (own, TEMPLATES_DIR)
    assert band_colours(template_dirs(btm_home))["5"] == "#00aa00"
    assert band_colours()["5"] == "#93cf97"  # the shipped stylesheet, where the charts agree


def test_the_reports_index_is_drawn_from_the_pmos_template(btm_home: Path) -> None:
    from btm.reporting.render import write_index

    own = btm_home / "templates"
    own.mkdir(parents=True)
    (own / "index.html.j2").write_text("<p>our reports: {{ cycles | length }}</p>\n")
    reports = btm_home / "reports"
    (reports / "2026-Q1").mkdir(parents=True)
    (reports / "2026-Q1" / "board.html").write_text("<p>board</p>")

    assert write_index(reports, template_dirs(btm_home)).read_text() == "<p>our reports: 1</p>"
    assert "board" in write_index(reports).read_text()  # the shipped template lists it


def test_the_survey_roles_are_the_catalogues_in_the_suite_and_the_metrics() -> None:
    from btm.catalog import load_catalog
    from btm.demo.sample import ROLE_OPTIMISM
    from btm.metrics import METRICS

    roles = load_catalog().survey_roles
    [allowed] = [
        e["kwargs"]["value_set"]
        for e in load_suite("survey")["expectations"]
        if e["kwargs"].get("column") == "respondent_role" and "value_set" in e["kwargs"]
    ]
    assert list(roles) == allowed
    assert {m for m in METRICS if m.startswith("survey_median_")} == {
        f"survey_median_{role}" for role in roles
    }
    assert set(ROLE_OPTIMISM) == set(roles)
