"""The SQL connector: a query with bound parameters on any SQLAlchemy URL, streamed
into a CSV payload in chunks.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa

from btm.errors import ConfigurationError, EvidenceError
from btm.evidence.payload import Payload
from btm.evidence.sources import SqlSource, Templating


def sql_url(source: SqlSource, templating: Templating) -> sa.URL:
    location = templating.fill(source.location, source=source.name, setting="location")
    try:
        url = sa.make_url(location)
    except (sa.exc.ArgumentError, ValueError) as exc:  # ValueError: a port not a number
        raise ConfigurationError(
            f"source {source.name!r}: location is not a SQLAlchemy URL ({exc}); write it "
            "as dialect+driver://user@host:port/database"
        ) from None
    if url.password is not None or any(k.lower() == "password" for k in url.query):
        raise ConfigurationError(
            f"source {source.name!r}: the location carries a password; remove it and name "
            "the secret under password: {env: VARIABLE}"
        )
    if source.password is None:
        return url
    try:
        return url.set(password=source.password.resolve(templating.read_block))
    except ConfigurationError as exc:
        raise ConfigurationError(f"source {source.name!r}, password: {exc}") from None


def _engine(source: SqlSource, url: sa.URL) -> sa.Engine:
    try:
        return sa.create_engine(url)
    except (sa.exc.NoSuchModuleError, ImportError) as exc:
        raise ConfigurationError(
            f"source {source.name!r}: no database driver for {url.drivername} ({exc}); "
            "install the driver's package or name an installed one in location "
            "(postgresql+psycopg://...)"
        ) from None


def fetch_sql(source: SqlSource, templating: Templating, staging: Path) -> list[Payload]:
    """Run the query with its bound parameters and write the result as CSV, chunk by chunk."""
    url = sql_url(source, templating)
    params = templating.fill_params(source.params, source=source.name)
    query = sa.text(templating.fill(source.query, source=source.name, setting="query"))
    target = staging / f"{source.name}.csv"
    shown = url.render_as_string()  # the password, if any, as ***
    database = url.database or ":memory:"
    if (
        url.get_backend_name() == "sqlite"
        and database != ":memory:"
        and not Path(database).is_file()
    ):
        # SQLite would create an empty database and the query would fail obscurely.
        raise EvidenceError(
            f"source {source.name!r}: the SQLite database {database} does not exist; "
            "check location in the sources file"
        )
    engine = _engine(source, url)
    try:
        try:
            connection = engine.connect()
        except sa.exc.SQLAlchemyError as exc:
            raise EvidenceError(
                f"source {source.name!r}: cannot connect to {shown} ({_first_line(exc)}); "
                "check location (host, port, database, user), the password and that the "
                "server is up and reachable"
            ) from None
        with connection, target.open("w", newline="", encoding="utf-8") as out:
            result = connection.execution_options(stream_results=True).execute(query, params)
            writer = csv.writer(out)
            writer.writerow(result.keys())
            while rows := result.fetchmany(source.chunk_rows):
                writer.writerows([[_csv_cell(v) for v in row] for row in rows])
    except sa.exc.SQLAlchemyError as exc:
        target.unlink(missing_ok=True)
        raise EvidenceError(
            f"source {source.name!r}: the query failed on {shown} ({_first_line(exc)}); "
            "check the query and its params in the sources file against the database"
        ) from None
    finally:
        engine.dispose()
    return [Payload(source.name, target.name, target)]


def _first_line(exc: sa.exc.SQLAlchemyError) -> str:
    """The driver's own message, without SQLAlchemy's statement and parameters."""
    return str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes | bytearray | memoryview):
        # str() of a memoryview (PostgreSQL bytea) is its address: new bytes every fetch
        return bytes(value).hex()
    if hasattr(value, "isoformat"):
        return cast(Any, value).isoformat()
    return str(value)
