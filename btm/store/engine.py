"""Engines, sessions and the schema: one engine per database URL per process, its schema
brought to the newest Alembic migration on first use.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlmodel import Session, create_engine

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def make_engine(url: str) -> sa.Engine:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(connection: Any, _record: Any) -> None:
            cursor = connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, pool_pre_ping=True)


def alembic_config(url: sa.URL | str) -> Config:
    """Alembic's configuration for this package's migrations, on a database URL."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    rendered = url.render_as_string(hide_password=False) if isinstance(url, sa.URL) else url
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def init_db(engine: sa.Engine) -> None:
    """Create or upgrade the schema in place through the Alembic migrations."""
    config = alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


@contextmanager
def session_scope(engine: sa.Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@cache
def engine_for(url: str) -> sa.Engine:
    """One engine per database URL per process, with the schema in place."""
    engine = make_engine(url)
    init_db(engine)
    return engine
