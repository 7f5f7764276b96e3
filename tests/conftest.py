"""Shared fixtures: an isolated BTM_HOME per test, and the databases the store runs on.

PostgreSQL is real: the session starts a throwaway cluster from Debian's binaries on a
loopback port (as the `postgres` user when running as root, since initdb refuses root)
and gives each test its own database. Without the binaries the PostgreSQL cases are
skipped, unless BTM_REQUIRE_POSTGRES=1 (as in CI), where that is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from datetime import date
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from btm import store
from btm.evidence.sources import Templating

PASSWORD = "s3cret-Passw0rd"


@pytest.fixture
def btm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "btm-home"
    monkeypatch.setenv("BTM_HOME", str(home))
    for name in ("BTM_DATABASE_URL", "BTM_SMTP_HOST", "BTM_REPORT_TO"):
        monkeypatch.delenv(name, raising=False)
    return home


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server on loopback for the whole session; yields its admin URL."""
    if url := os.environ.get("BTM_TEST_POSTGRES_URL"):
        yield url
        return
    bindir = _pg_bin()
    if bindir is None:
        if os.environ.get("BTM_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL binaries not found; install Debian's postgresql package")
        pytest.skip("PostgreSQL binaries not found (apt-get install postgresql)")
    root = Path(tempfile.mkdtemp(prefix="btm-pg-"))
    root.chmod(0o755)
    as_postgres: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", free_port()
    run = lambda *args: subprocess.run([*as_postgres, *args], check=True, capture_output=True)  # noqa: E731
    run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off"
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(root / "log"),
        "-o",
        options,
        "-w",
        "start",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
    finally:
        run(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    name = f"btm_{uuid.uuid4().hex[:12]}"
    admin = postgres_server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    yield postgres_server.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'btm.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = store.make_engine(database_url)
    store.init_db(engine)
    yield engine
    engine.dispose()


# SMTP on loopback ---------------------------------------------------------------------


class KeepingHandler:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.refused: set[str] = set()  # addresses answered "550 mailbox unavailable"

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if address in self.refused:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def body_text(message: EmailMessage, subtype: str) -> str:
    """The content of a message's text/`subtype` body ("plain" or "html")."""
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        pytest.fail(f"the message has no text/{subtype} body")
    return str(body.get_content())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def only_the_right_password(
    server: SMTPServer, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and auth_data.password == PASSWORD.encode()
    # handled=False: aiosmtpd then answers "535" itself; with its default (True) it would
    # expect us to have replied, and the client would wait until its timeout.
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp_server() -> Iterator[tuple[Controller, KeepingHandler]]:
    handler = KeepingHandler()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=only_the_right_password,
        auth_require_tls=False,  # loopback test server: no certificate to offer
    )
    controller.start()
    try:
        yield controller, handler
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(
    smtp_server: tuple[Controller, KeepingHandler], monkeypatch: pytest.MonkeyPatch
) -> KeepingHandler:
    """BTM_SMTP_* pointing at the loopback server, plain SMTP; its handler keeps the mail."""
    controller, handler = smtp_server
    monkeypatch.setenv("BTM_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("BTM_SMTP_PORT", str(controller.port))
    monkeypatch.setenv("BTM_SMTP_TLS", "none")
    return handler


@pytest.fixture
def templating(tmp_path: Path) -> Templating:
    """Placeholders filled for the cycle 2026-Q3, with BTM_HOME at tmp_path."""
    return Templating(
        cycle="2026-Q3", cycle_start=date(2026, 7, 1), as_of=date(2026, 9, 30), home=tmp_path
    )
