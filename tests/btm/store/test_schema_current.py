"""Opening a database whose schema is current asks its `alembic_version` in plain SQL and
loads no Alembic; a fresh or older database is still migrated to the head revision, and
processes that open a fresh one at once migrate it one after the other. Each opening runs
in a fresh process, so that what it imports is its own."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory
from sqlmodel import SQLModel

from btm import store
from btm.store.engine import head_revision, schema_is_current

ROOT = Path(__file__).resolve().parents[3]
OPEN = (
    "import json, sys; import sqlalchemy as sa; from btm import store;"
    "engine = store.engine_for(sys.argv[1]);"
    "connection = engine.connect();"
    "version = connection.execute(sa.text('SELECT version_num FROM alembic_version')).scalar();"
    "tables = sorted(sa.inspect(connection).get_table_names());"
    "print(json.dumps({'alembic': 'alembic' in sys.modules, 'version': version,"
    " 'tables': tables}))"
)


def _open(database_url: str) -> subprocess.Popen[str]:
    """`store.engine_for` in a fresh process; it prints what it found."""
    return subprocess.Popen(
        [sys.executable, "-c", OPEN, database_url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _opened(process: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = process.communicate(timeout=180)
    assert process.returncode == 0, err
    found: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return found


def _model_tables() -> set[str]:
    return set(SQLModel.metadata.tables)


def test_the_head_revision_read_from_the_files_is_alembics() -> None:
    script = ScriptDirectory.from_config(store.alembic_config("sqlite://"))
    assert head_revision() == script.get_current_head()


def test_a_current_schema_opens_without_alembic(database_url: str) -> None:
    engine = store.make_engine(database_url)
    store.init_db(engine)
    assert schema_is_current(engine)
    engine.dispose()

    opened = _opened(_open(database_url))

    assert opened["alembic"] is False
    assert opened["version"] == head_revision()


def test_a_fresh_database_gets_its_schema(database_url: str) -> None:
    opened = _opened(_open(database_url))

    assert opened["alembic"] is True
    assert opened["version"] == head_revision()
    assert _model_tables() <= set(opened["tables"])


def test_an_older_database_is_upgraded_to_the_head(database_url: str) -> None:
    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    assert not schema_is_current(engine)
    engine.dispose()

    opened = _opened(_open(database_url))

    assert opened["alembic"] is True
    assert opened["version"] == head_revision()
    assert _model_tables() <= set(opened["tables"])


def test_processes_opening_a_fresh_database_at_once_all_find_it_migrated(
    database_url: str,
) -> None:
    processes = [_open(database_url) for _ in range(4)]

    opened = [_opened(p) for p in processes]

    assert {o["version"] for o in opened} == {head_revision()}
    engine = store.make_engine(database_url)
    with engine.connect() as connection:
        stamped = connection.execute(sa.text("SELECT version_num FROM alembic_version")).all()
    engine.dispose()
    assert [tuple(row) for row in stamped] == [(head_revision(),)]
