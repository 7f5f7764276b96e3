"""Engines, sessions and the schema: one engine per database URL per process, its schema
brought to the newest Alembic migration on first use.

Most commands only read a database whose schema is already current, so opening one asks
the database its `alembic_version` in plain SQL and compares it with the newest revision
among the files in `migrations/versions`; Alembic and its scripts are loaded only when
the schema is absent or behind. Then one process at a time migrates it (a lock file
beside a SQLite database, an advisory lock on PostgreSQL); the others wait and find the
work done.
"""

from __future__ import annotations

import ast
import fcntl
import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlmodel import Session, create_engine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version"  # Alembic's default, which env.py keeps
MIGRATION_LOCK_KEY = 0x62746D  # "btm": PostgreSQL's advisory lock for a migration
# A revision file's `revision = "0008"` and `down_revision = "0007"` (or None, or a tuple
# for a merge), annotated or not.
_REVISION_LINE = re.compile(
    r"^(revision|down_revision)(?:\s*:[^=\n]+)?\s*=\s*(.+?)\s*$", re.MULTILINE
)


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
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    rendered = url.render_as_string(hide_password=False) if isinstance(url, sa.URL) else url
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


@cache
def head_revision() -> str | None:
    """The newest migration's revision id, read from the files in `migrations/versions`
    without loading Alembic: the one revision no other revises. None unless there is
    exactly one such head (Alembic then says what is wrong)."""
    revisions: set[str] = set()
    revised: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        for name, value in _REVISION_LINE.findall(path.read_text(encoding="utf-8")):
            ids = ast.literal_eval(value)
            if name == "revision":
                revisions.add(ids)
            elif ids is not None:
                revised.update([ids] if isinstance(ids, str) else ids)
    heads = revisions - revised
    return heads.pop() if len(heads) == 1 else None


def schema_is_current(engine: sa.Engine) -> bool:
    """Whether the database already stands at the head revision, asked in plain SQL."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table(VERSION_TABLE):
            return False
        stamped = connection.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}"))
        return stamped.scalars().all() == [head]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path`, which the kernel frees when its holder dies."""
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


@contextmanager
def _migrating(engine: sa.Engine) -> Iterator[sa.Connection]:
    """A connection in a transaction that one process at a time holds: a lock file beside
    a SQLite database (not the database file itself, whose closing would drop SQLite's
    own locks in this process), an advisory lock on PostgreSQL until the commit."""
    database = engine.url.database
    on_file = engine.dialect.name == "sqlite" and database not in (None, "", ":memory:")
    lock = _file_lock(Path(f"{database}.migration-lock")) if on_file else nullcontext()
    with lock, engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY}
            )
        yield connection


def init_db(engine: sa.Engine) -> None:
    """Create or upgrade the schema in place through the Alembic migrations; a schema
    already at the head revision is left as it is, without loading Alembic. Processes
    opening a database at once migrate it one after the other: the later ones find it
    current and Alembic does nothing."""
    if schema_is_current(engine):
        return
    from alembic import command

    config = alembic_config(engine.url)
    with _migrating(engine) as connection:
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
