"""The SQL connector against real SQLite and PostgreSQL databases.

A PPM system's table with its own column names and types is fetched with a bound,
templated parameter in chunks smaller than the result, then archived, mapped, parsed and
validated exactly as a gathered payload is.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from btm.errors import ConfigurationError, EvidenceError
from btm.evidence.files import archive_payload, parse_file, sha256_of
from btm.evidence.sources import SecretRef, SqlSource, Templating
from btm.evidence.sql import fetch_sql, sql_url
from btm.validation import validate_frame

REPOSITORY = Path(__file__).resolve().parents[3]
TEMPLATING = Templating(
    cycle="2026-Q3", cycle_start=date(2026, 7, 1), as_of=date(2026, 9, 30), home=Path("/tmp")
)
NAME_WITH_EVERYTHING = 'Zürich "Kern", Phase 2\nzweite Zeile; Ærø – 東京'

TABLE = """
CREATE TABLE "PPM Projects" (
    "Proj Key" VARCHAR(20) NOT NULL,
    "Unit" TEXT,
    "Title" TEXT,
    "State" TEXT,
    "Start" DATE,
    "Finish" TEXT,
    "Budget EUR" REAL,
    "Done Pct" REAL,
    "Arch Flag" INTEGER,
    "Closed On" DATE,
    "Snapshot" TEXT,
    "Attachment" BYTEA
)
"""
QUERY = """
SELECT "Proj Key", "Unit", "Title", "State", "Start", "Finish", "Budget EUR", "Done Pct",
       "Arch Flag", "Closed On", "Snapshot", "Attachment"
FROM "PPM Projects" WHERE "Snapshot" = :snapshot ORDER BY "Proj Key"
"""
COLUMNS = {
    "Proj Key": "project_id",
    "Unit": "business_unit",
    "Title": "name",
    "State": "status",
    "Start": "planned_start",
    "Finish": "planned_end",
    "Budget EUR": "budget",
    "Done Pct": "percent_complete",
    "Arch Flag": "architecture_reviewed",
    "Closed On": "actual_end",
}
VALUES = {
    "status": {"In Progress": "active", "done": "completed", "new": "not_started"},
}


def _project(key: str, snapshot: str = "2026-Q3", **overrides: Any) -> dict[str, Any]:
    return {
        "key": key,
        "unit": "Retail",
        "title": f"Project {key}",
        "state": "In Progress",
        "start": date(2026, 1, 5),
        "finish": "2026-12-31",
        "budget": 1250.5,
        "done": 40.0,
        "arch": 1,
        "closed": None,
        "snapshot": snapshot,
        "attachment": None,
        **overrides,
    }


PROJECTS = [
    _project("P-01", title=NAME_WITH_EVERYTHING, attachment=b"\x00\x01\xfe"),
    _project("P-02", state="DONE", closed=date(2026, 6, 30), done=100.0, arch=0),
    _project("P-03", state="new", budget=0.0, done=None, arch=None, unit=None),
    _project("P-04", state="in progress", budget=3.0),
    _project("P-05", finish=None, start=None),
    _project("P-06", title="Comma, and ; semicolon"),
    _project("P-07", budget=None),
    # the previous quarter's snapshot, which the bound parameter leaves out
    _project("P-01", snapshot="2026-Q2", title="old"),
    _project("P-08", snapshot="2026-Q2"),
]


def _create_ppm_table(url: str) -> None:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(TABLE))
            connection.execute(
                sa.text(
                    'INSERT INTO "PPM Projects" VALUES (:key, :unit, :title, :state, :start, '
                    ":finish, :budget, :done, :arch, :closed, :snapshot, :attachment)"
                ),
                PROJECTS,
            )
    finally:
        engine.dispose()


def _source(location: str, **settings: Any) -> SqlSource:
    defaults: dict[str, Any] = {
        "query": QUERY,
        "params": {"snapshot": "{cycle}"},
        "chunk_rows": 3,
        "columns": COLUMNS,
        "values": VALUES,
    }
    return SqlSource(
        connector="sql", name="ppm", kind="projects", location=location, **defaults | settings
    )


def _staging(tmp_path: Path, name: str = "staging") -> Path:
    folder = tmp_path / name
    folder.mkdir()
    return folder


def test_a_ppm_table_arrives_mapped_typed_and_valid(database_url: str, tmp_path: Path) -> None:
    _create_ppm_table(database_url)
    source = _source(database_url)

    (payload,) = fetch_sql(source, TEMPLATING, _staging(tmp_path))
    archived = archive_payload(payload, kind="projects", archive_dir=tmp_path / "archive")
    parsed = parse_file(archived, columns=source.columns, values=source.values)
    outcome = validate_frame(parsed.frame, "projects", cell_problems=parsed.problems)

    assert payload.part == "ppm.csv"
    assert parsed.problems == ()
    assert not outcome.accepted  # P-03 has no business unit, P-05 no planned start
    assert {(f.column, f.ids) for f in outcome.failures} == {
        ("business_unit", ("P-03",)),
        ("planned_start", ("P-05",)),
        ("planned_end", ("P-05",)),
    }
    frame = parsed.frame.set_index("project_id")
    # every row of the cycle's snapshot once, in chunks of 3, none of the previous one
    assert frame.index.tolist() == [f"P-0{i}" for i in range(1, 8)]
    assert frame.loc["P-01", "name"] == NAME_WITH_EVERYTHING
    assert frame.loc["P-06", "name"] == "Comma, and ; semicolon"
    assert frame["status"].tolist() == ["active", "completed", "not_started"] + ["active"] * 4
    assert frame["budget"].tolist()[:4] == [1250.5, 1250.5, 0.0, 3.0]
    assert pd.isna(frame.loc["P-07", "budget"])  # type: ignore[arg-type]
    assert frame.loc["P-03", "architecture_reviewed"] is pd.NA
    assert frame["architecture_reviewed"].tolist()[:2] == [True, False]
    assert frame.loc["P-01", "planned_start"] == pd.Timestamp("2026-01-05")
    assert frame.loc["P-01", "planned_end"] == pd.Timestamp("2026-12-31")  # a TEXT date
    assert frame.loc["P-02", "actual_end"] == pd.Timestamp("2026-06-30")
    assert frame["actual_end"].isna().sum() == 6
    assert pd.isna(frame.loc["P-03", "percent_complete"])  # type: ignore[arg-type]
    assert pd.isna(frame.loc["P-03", "business_unit"])  # type: ignore[arg-type]
    assert "snapshot" in parsed.unknown_columns


def test_the_same_rows_give_the_same_payload_bytes(database_url: str, tmp_path: Path) -> None:
    _create_ppm_table(database_url)
    source = _source(database_url)

    (first,) = fetch_sql(source, TEMPLATING, _staging(tmp_path, "one"))
    (second,) = fetch_sql(source, TEMPLATING, _staging(tmp_path, "two"))

    assert first.path.read_bytes() == second.path.read_bytes()
    assert sha256_of(first.path) == sha256_of(second.path)
    text = first.path.read_bytes().decode("utf-8")
    assert "0001fe" in text  # binary cells as hex, not as a Python repr or an address


def test_a_failing_query_names_the_source_and_what_to_check(
    database_url: str, tmp_path: Path
) -> None:
    _create_ppm_table(database_url)
    source = _source(database_url, query='SELECT * FROM "PPM Projekte" WHERE 1 = :snapshot')
    staging = _staging(tmp_path)

    with pytest.raises(EvidenceError) as raised:
        fetch_sql(source, TEMPLATING, staging)

    message = str(raised.value)
    assert message.startswith("source 'ppm': the query failed on ")
    assert "PPM Projekte" in message  # the database's own words
    assert "check the query and its params in the sources file" in message
    assert "[SQL:" not in message and "Traceback" not in message
    assert list(staging.iterdir()) == []  # no half-written payload left behind


def test_an_unreachable_server_is_named_not_a_driver_traceback(
    free_tcp_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PPM_PASSWORD", "pw-from-the-vault")
    location = f"postgresql+psycopg://ppm@127.0.0.1:{free_tcp_port}/ppm"
    source = _source(location, password=SecretRef(env="PPM_PASSWORD"))

    with pytest.raises(EvidenceError) as raised:
        fetch_sql(source, TEMPLATING, _staging(tmp_path))

    message = str(raised.value)
    assert message.startswith("source 'ppm': cannot connect to postgresql+psycopg://ppm:***@")
    assert f"port {free_tcp_port}" in message and "check location" in message
    assert "pw-from-the-vault" not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__


@pytest.mark.parametrize(
    "location",
    [
        "postgresql+psycopg://ppm:hunter2@db.example.com/ppm",
        "postgresql+psycopg://ppm@db.example.com/ppm?password=hunter2",
    ],
)
def test_a_password_in_the_location_is_refused(location: str) -> None:
    with pytest.raises(ConfigurationError) as raised:
        sql_url(_source(location), TEMPLATING)
    message = str(raised.value)
    assert "source 'ppm': the location carries a password" in message
    assert "password: {env: VARIABLE}" in message
    assert "hunter2" not in message


@pytest.mark.postgres
def test_the_password_comes_from_the_named_variable(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session's server trusts loopback, so it accepts any password: what is checked
    # is that the secret reaches the URL the connector connects with.
    _create_ppm_table(postgres_url)
    monkeypatch.setenv("PPM_PASSWORD", "pw-from-the-vault")
    source = _source(postgres_url, password=SecretRef(env="PPM_PASSWORD"))

    assert sql_url(source, TEMPLATING).password == "pw-from-the-vault"
    (payload,) = fetch_sql(source, TEMPLATING, _staging(tmp_path))
    assert payload.path.read_bytes().count(b"\r\nP-0") == 7

    monkeypatch.delenv("PPM_PASSWORD")
    with pytest.raises(ConfigurationError) as raised:
        fetch_sql(source, TEMPLATING, _staging(tmp_path, "again"))
    assert "source 'ppm', password:" in str(raised.value)
    assert "environment variable PPM_PASSWORD is not set" in str(raised.value)


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        ({"params": {"snapshot": "{quarter}"}}, "params.snapshot"),
        ({"query": "SELECT * FROM ppm_{quarter}"}, "query"),
        ({"location": "sqlite:///{quarter}.db"}, "location"),
    ],
)
def test_an_unknown_placeholder_names_the_setting_and_the_known_ones(
    settings: dict[str, Any], setting: str, tmp_path: Path
) -> None:
    settings = dict(settings)
    source = _source(settings.pop("location", "sqlite:///{home}/ppm.db"), **settings)
    with pytest.raises(ConfigurationError) as raised:
        fetch_sql(source, TEMPLATING, _staging(tmp_path))
    assert str(raised.value) == (
        f"source 'ppm', {setting}: unknown placeholder {{quarter}}; "
        "use {cycle}, {cycle_start}, {as_of}, {home}, and write a literal brace as {{ or }}"
    )


@pytest.mark.parametrize(
    ("location", "message"),
    [
        ("nosuchdb://ppm@db.example.com/ppm", "no database driver for nosuchdb"),
        ("mysql://ppm@db.example.com/ppm", "no database driver for mysql"),
        ("postgresql+psycopg://ppm@db.example.com:port/ppm", "not a SQLAlchemy URL"),
        ("just a file name", "not a SQLAlchemy URL"),
    ],
)
def test_a_location_no_driver_can_open_is_a_configuration_error(
    location: str, message: str, tmp_path: Path
) -> None:
    if location.startswith("mysql://") and importlib.util.find_spec("MySQLdb"):
        pytest.skip("mysqlclient, the default driver of mysql://, is installed here")
    with pytest.raises(ConfigurationError, match=message) as raised:
        fetch_sql(_source(location), TEMPLATING, _staging(tmp_path))
    assert str(raised.value).startswith("source 'ppm': ")


def test_the_payload_is_utf8_whatever_the_locale(tmp_path: Path) -> None:
    database = tmp_path / "ppm.db"
    _create_ppm_table(f"sqlite:///{database}")
    script = (
        "import locale, sys\n"
        "from pathlib import Path\n"
        "from tests.btm.evidence.test_sql import TEMPLATING, _source\n"
        "from btm.evidence.sql import fetch_sql\n"
        "print(locale.getpreferredencoding(False))\n"
        "(payload,) = fetch_sql(_source(sys.argv[1]), TEMPLATING, Path(sys.argv[2]))\n"
    )
    ascii_locale = {
        **os.environ,
        "LC_ALL": "C",
        "LANG": "C",
        "PYTHONUTF8": "0",
        "PYTHONCOERCECLOCALE": "0",
        "PYTHONPATH": str(REPOSITORY),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, f"sqlite:///{database}", str(_staging(tmp_path))],
        env=ascii_locale,
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if "utf" in done.stdout.lower():
        pytest.skip("this platform writes UTF-8 in the C locale anyway")
    text = (tmp_path / "staging" / "ppm.csv").read_bytes().decode("utf-8")
    assert "Zürich" in text and "Ærø – 東京" in text
