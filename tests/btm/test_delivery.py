"""Message building, the outbox, and sending to real SMTP servers on loopback (aiosmtpd):
plain, STARTTLS and implicit TLS with a test CA (trustme), and retries after transient
failures, scripted by the server's replies; the ledger around each send (a run stopped
inside one resends only that one, with the same Message-ID, and names it), on SQLite and
PostgreSQL; and the ops alert that lands in the outbox whatever SMTP does."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from btm import delivery, store
from btm.delivery import (
    DeliveryReport,
    SmtpConfig,
    SmtpError,
    TlsMode,
    build_message,
    deliver_cycle_reports,
    send_once,
    send_smtp,
    send_with_retry,
    smtp_config,
    write_to_outbox,
)
from btm.errors import ConfigurationError, DeliveryError
from btm.reporting.audiences import Audience
from btm.reporting.charts import Chart
from btm.reporting.compose import AudienceReport
from btm.reporting.render import RenderedReport
from btm.settings import Settings
from tests.conftest import PASSWORD, KeepingHandler, free_port, only_the_right_password

SENDER = "btm@example.org"
RECIPIENTS = ["pmo@example.org", "cio@example.org"]
REPORT = RenderedReport(
    subject="BTM maturity trend report 2026-Q3: enterprise 2.4 (▲0.3)",
    # One very long line, as the CSS inliner produces: it must not break SMTP's line limit.
    html="<!DOCTYPE html><html><body>"
    + '<td style="color: #1f2933;">2.4</td>' * 80
    + "</body></html>",
    text="BTM MATURITY TREND REPORT - CYCLE 2026-Q3\nEnterprise 2.4 ▲0.3\n",
)


def parts_of(message: EmailMessage) -> list[str]:
    return [part.get_content_type() for part in message.iter_parts()]


def test_message_parses_back_as_text_then_html() -> None:
    message = build_message(
        REPORT, sender=SENDER, recipients=RECIPIENTS, message_id_domain="btm.test"
    )
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parts_of(parsed) == ["text/plain", "text/html"]
    assert parsed["Subject"] == REPORT.subject
    assert parsed["From"] == SENDER and parsed["To"] == ", ".join(RECIPIENTS)
    assert parsed["Date"] and parsed["Message-ID"].endswith("@btm.test>")
    plain, html = parsed.iter_parts()
    assert isinstance(plain, EmailMessage) and isinstance(html, EmailMessage)
    assert plain.get_content_charset() == "utf-8" and plain.get_content() == REPORT.text
    assert html.get_content().rstrip("\n") == REPORT.html  # set_content ends the part with \n


def test_charts_travel_beside_the_html_by_content_id(tmp_path: Path) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    chart = Chart(name="trend", png=png, alt="Maturity trend", width=600, height=300)
    rendered = RenderedReport(
        subject=REPORT.subject,
        html='<p>Trend</p><img src="cid:trend@btm" alt="Maturity trend">',
        text=REPORT.text,
        images=(chart,),
    )
    message = build_message(rendered, sender=SENDER, recipients=RECIPIENTS)
    path = write_to_outbox(message, outbox_dir=tmp_path, name="with-charts")

    parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parts_of(parsed) == ["text/plain", "multipart/related"]
    _, related = parsed.iter_parts()
    assert isinstance(related, EmailMessage)
    html, image = related.iter_parts()
    assert html.get_content_type() == "text/html" and "cid:trend@btm" in html.get_content()
    assert image.get_content_type() == "image/png" and image["Content-ID"] == "<trend@btm>"
    assert image.get_content_disposition() == "inline" and image.get_content() == png


def test_outbox_file_is_a_parseable_eml(tmp_path: Path) -> None:
    message = build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)
    path = write_to_outbox(message, outbox_dir=tmp_path / "outbox", name="2026-Q3-executive")
    assert path == tmp_path / "outbox" / "2026-Q3-executive.eml"
    raw = path.read_bytes()
    assert all(len(line) <= 998 for line in raw.split(b"\r\n"))
    parsed = message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    assert parts_of(parsed) == ["text/plain", "text/html"]
    body = parsed.get_body(preferencelist=("html",))
    assert body is not None and "2.4" in body.get_content()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left


def test_send_smtp_delivers_to_a_real_server(
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, handler = smtp_server
    message = build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)
    send_smtp(
        message,
        host="127.0.0.1",
        port=controller.port,
        user="btm",
        password=PASSWORD,
        tls="none",
        timeout=5,
    )
    [envelope] = handler.envelopes
    assert envelope.mail_from == SENDER
    assert envelope.rcpt_tos == RECIPIENTS
    assert isinstance(envelope.content, bytes)
    received = message_from_bytes(envelope.content, policy=policy.default)
    assert isinstance(received, EmailMessage)
    assert received["Subject"] == REPORT.subject
    assert parts_of(received) == ["text/plain", "text/html"]
    text = received.get_body(preferencelist=("plain",))
    assert text is not None and "Enterprise 2.4 ▲0.3" in text.get_content()


def test_refused_login_names_the_settings_not_the_password(
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, handler = smtp_server
    message = build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)
    with pytest.raises(DeliveryError, match="BTM_SMTP_PASSWORD") as caught:
        send_smtp(
            message,
            host="127.0.0.1",
            port=controller.port,
            user="btm",
            password=PASSWORD + "-wrong",
            tls="none",
            timeout=5,
        )
    assert PASSWORD not in str(caught.value)
    assert handler.envelopes == []


def test_starttls_on_a_server_without_it_names_the_tls_setting(
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, _ = smtp_server
    message = build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)
    with pytest.raises(DeliveryError, match="BTM_SMTP_TLS"):
        send_smtp(
            message,
            host="127.0.0.1",
            port=controller.port,
            user=None,
            password=None,
            tls="starttls",
            timeout=5,
        )


def test_closed_port_names_the_host_setting() -> None:
    message = build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)
    with pytest.raises(DeliveryError, match="BTM_SMTP_HOST") as caught:
        send_smtp(
            message,
            host="127.0.0.1",
            port=free_port(),  # bound then released: nothing listens there
            user="btm",
            password=PASSWORD,
            tls="none",
            timeout=2,
        )
    assert PASSWORD not in str(caught.value)


# Where to send: BTM_SMTP_* or a block -------------------------------------------------


def test_a_config_never_shows_its_password() -> None:
    config = SmtpConfig(host="smtp.example.org", user="btm", password=PASSWORD)
    for shown in (repr(config), str(config), f"{config}", f"{config!r}"):
        assert PASSWORD not in shown
    assert "smtp.example.org" in repr(config)
    assert config.address == "smtp.example.org:587"


def test_settings_give_a_config_only_when_a_server_or_block_is_named(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BTM_SMTP_BLOCK", raising=False)
    assert smtp_config(Settings()) is None  # the outbox is used

    monkeypatch.setenv("BTM_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("BTM_SMTP_USER", "btm")
    monkeypatch.setenv("BTM_SMTP_PASSWORD", PASSWORD)
    monkeypatch.setenv("BTM_SMTP_TLS", "ssl")
    assert smtp_config(Settings()) == SmtpConfig(
        host="smtp.example.org", port=None, user="btm", password=PASSWORD, tls="ssl"
    )


def test_a_named_block_wins_and_is_read_at_send_time(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    def load(name: str) -> SmtpConfig:
        asked.append(name)
        return SmtpConfig(host="relay.example.org", tls="ssl", block=name)

    monkeypatch.setenv("BTM_SMTP_HOST", "ignored.example.org")
    monkeypatch.setenv("BTM_SMTP_BLOCK", "btm-smtp")
    settings = Settings()
    assert asked == []  # settings hold the block's name only

    assert smtp_config(settings, load) == SmtpConfig(
        host="relay.example.org", tls="ssl", block="btm-smtp"
    )
    assert asked == ["btm-smtp"]


def test_a_block_without_the_flows_loader_says_how_to_run(
    btm_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BTM_SMTP_BLOCK", "btm-smtp")
    with pytest.raises(ConfigurationError, match=r"BTM_SMTP_BLOCK.*only the flows"):
        smtp_config(Settings())


# TLS on loopback: a test CA, trusted through SSL_CERT_FILE as an operator would ----------


class ScriptedHandler(KeepingHandler):
    """Answers MAIL, RCPT or DATA with the scripted replies first, then accepts; counts
    every command it sees, so a test knows how many attempts reached the server."""

    def __init__(self, **script: list[str]) -> None:
        super().__init__()
        self.script = script
        self.calls: Counter[str] = Counter()

    def _scripted(self, command: str) -> str | None:
        self.calls[command] += 1
        replies = self.script.get(command)
        return replies.pop(0) if replies else None

    async def handle_MAIL(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        mail_options: list[str],
    ) -> str:
        if reply := self._scripted("MAIL"):
            return reply
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(
        self,
        server: SMTPServer,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if reply := self._scripted("RCPT"):
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        if reply := self._scripted("DATA"):
            return reply
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted_ca(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA in place of the system's trust store, as SSL_CERT_FILE does in production
    for a server whose certificate a private CA signed."""
    path = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    monkeypatch.setenv("SSL_CERT_FILE", str(path))


@pytest.fixture
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture
def serve() -> Iterator[Callable[..., Controller]]:
    """Start aiosmtpd servers on loopback (with this suite's one password); all stop after."""
    started: list[Controller] = []

    def start(handler: KeepingHandler, *, port: int | None = None, **options: Any) -> Controller:
        controller = Controller(
            handler,
            hostname="127.0.0.1",
            port=port or free_port(),
            authenticator=only_the_right_password,
            **options,
        )
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def starttls_server(
    serve: Callable[..., Controller], server_tls: ssl.SSLContext
) -> tuple[Controller, KeepingHandler]:
    """Port 587 style: plain greeting, STARTTLS required before MAIL and AUTH."""
    handler = KeepingHandler()
    return serve(handler, tls_context=server_tls, require_starttls=True), handler


@pytest.fixture
def ssl_server(
    serve: Callable[..., Controller], server_tls: ssl.SSLContext
) -> tuple[Controller, KeepingHandler]:
    """Port 465 style: TLS from the first byte."""
    handler = KeepingHandler()
    # aiosmtpd only knows of TLS it negotiated itself (STARTTLS); this connection is TLS.
    return serve(handler, ssl_context=server_tls, auth_require_tls=False), handler


def at(controller: Controller, **options: Any) -> SmtpConfig:
    return SmtpConfig(host="127.0.0.1", port=controller.port, **{"timeout": 5, **options})


def a_message() -> EmailMessage:
    return build_message(REPORT, sender=SENDER, recipients=RECIPIENTS)


def test_starttls_with_a_login_delivers(
    trusted_ca: None, starttls_server: tuple[Controller, KeepingHandler]
) -> None:
    controller, handler = starttls_server
    send_with_retry(a_message(), at(controller, tls="starttls", user="btm", password=PASSWORD))
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == RECIPIENTS


def test_implicit_tls_with_a_login_delivers(
    trusted_ca: None, ssl_server: tuple[Controller, KeepingHandler]
) -> None:
    controller, handler = ssl_server
    send_with_retry(a_message(), at(controller, tls="ssl", user="btm", password=PASSWORD))
    [envelope] = handler.envelopes
    assert envelope.mail_from == SENDER


@pytest.mark.parametrize("tls", ["starttls", "ssl"])
def test_a_certificate_outside_the_trust_store_is_refused(
    tls: TlsMode,
    starttls_server: tuple[Controller, KeepingHandler],
    ssl_server: tuple[Controller, KeepingHandler],
) -> None:
    # No trusted_ca: the system's store does not know the test CA, so the check must fail.
    controller, handler = starttls_server if tls == "starttls" else ssl_server
    with pytest.raises(SmtpError, match=r"certificate is not trusted.*SSL_CERT_FILE") as caught:
        send_with_retry(a_message(), at(controller, tls=tls), sleep=no_sleep)
    assert not caught.value.transient
    assert handler.envelopes == []


def test_starttls_against_implicit_tls_names_the_tls_setting(
    trusted_ca: None, ssl_server: tuple[Controller, KeepingHandler]
) -> None:
    controller, _ = ssl_server
    # Each side waits for the other to speak first: only the client's timeout ends it.
    with pytest.raises(SmtpError, match="set BTM_SMTP_TLS to ssl"):
        send_once(a_message(), at(controller, tls="starttls", timeout=1))


def test_implicit_tls_against_starttls_names_the_tls_setting(
    trusted_ca: None, starttls_server: tuple[Controller, KeepingHandler]
) -> None:
    controller, _ = starttls_server
    with pytest.raises(SmtpError, match="BTM_SMTP_TLS") as caught:
        send_with_retry(a_message(), at(controller, tls="ssl"), sleep=no_sleep)
    assert not caught.value.transient


def test_no_tls_against_a_server_requiring_starttls_names_the_tls_setting(
    starttls_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, _ = starttls_server
    with pytest.raises(SmtpError, match=r"530.*check BTM_SMTP_TLS") as caught:
        send_with_retry(a_message(), at(controller, tls="none"), sleep=no_sleep)
    assert not caught.value.transient


# Retry: transient failures again, permanent ones never ------------------------------------


def no_sleep(seconds: float) -> None:
    raise AssertionError(f"a permanent failure must not be retried (asked to wait {seconds} s)")


def test_a_421_is_retried_and_the_message_delivered_once(
    serve: Callable[..., Controller],
) -> None:
    handler = ScriptedHandler(DATA=["421 4.3.2 Service busy, try again later"])
    controller = serve(handler, auth_require_tls=False)
    delays: list[float] = []

    send_with_retry(a_message(), at(controller, tls="none"), sleep=delays.append)

    assert handler.calls["DATA"] == 2 and delays == [2]
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == RECIPIENTS


def test_a_greylisted_recipient_is_retried(serve: Callable[..., Controller]) -> None:
    handler = ScriptedHandler(RCPT=["450 4.2.0 Greylisted", "450 4.2.0 Greylisted"])
    controller = serve(handler, auth_require_tls=False)
    delays: list[float] = []

    send_with_retry(a_message(), at(controller, tls="none"), sleep=delays.append)

    assert delays == [2]  # both recipients refused for now at the first attempt
    assert len(handler.envelopes) == 1


def test_a_refused_connection_is_retried_until_the_server_is_up(
    serve: Callable[..., Controller],
) -> None:
    handler = KeepingHandler()
    port = free_port()  # nothing listens there yet
    delays: list[float] = []

    def start_server_while_waiting(seconds: float) -> None:
        delays.append(seconds)
        serve(handler, port=port, auth_require_tls=False)

    config = SmtpConfig(host="127.0.0.1", port=port, tls="none", timeout=5)
    send_with_retry(a_message(), config, sleep=start_server_while_waiting)

    assert delays == [2] and len(handler.envelopes) == 1


def test_after_the_last_attempt_the_last_error_is_raised() -> None:
    delays: list[float] = []
    config = SmtpConfig(host="127.0.0.1", port=free_port(), tls="none", timeout=2)
    with pytest.raises(SmtpError, match="BTM_SMTP_HOST") as caught:
        send_with_retry(a_message(), config, attempts=4, backoff=(1, 5), sleep=delays.append)
    assert caught.value.transient
    assert delays == [1, 5, 5]  # more attempts than delays: the last delay again


@pytest.mark.parametrize(
    ("script", "match"),
    [
        ({"DATA": ["550 5.7.1 Message rejected as spam"]}, r"refused the message.*550"),
        ({"RCPT": ["550 5.1.1 No such user"] * 2}, r"refused every recipient.*BTM_REPORT_TO"),
        ({"MAIL": ["553 5.7.1 Sender not allowed"]}, r"refused the sender.*BTM_REPORT_FROM"),
    ],
)
def test_a_permanent_refusal_is_not_retried(
    serve: Callable[..., Controller], script: dict[str, list[str]], match: str
) -> None:
    handler = ScriptedHandler(**script)
    controller = serve(handler, auth_require_tls=False)

    with pytest.raises(SmtpError, match=match) as caught:
        send_with_retry(a_message(), at(controller, tls="none"), sleep=no_sleep)

    assert not caught.value.transient
    assert handler.calls["MAIL"] == 1  # one attempt reached the server
    assert handler.envelopes == []


def test_a_partly_refused_message_is_not_sent_again(serve: Callable[..., Controller]) -> None:
    handler = ScriptedHandler(RCPT=["550 5.1.1 No such user"])  # the first recipient only
    controller = serve(handler, auth_require_tls=False)

    with pytest.raises(SmtpError, match="accepted the other recipients") as caught:
        send_with_retry(a_message(), at(controller, tls="none"), sleep=no_sleep)

    assert not caught.value.transient
    assert caught.value.refused == (RECIPIENTS[0],)  # for the ledger: the others got it
    [envelope] = handler.envelopes
    assert envelope.rcpt_tos == RECIPIENTS[1:]


def test_a_wrong_password_is_not_retried_nor_shown(
    smtp_server: tuple[Controller, KeepingHandler], caplog: pytest.LogCaptureFixture
) -> None:
    controller, handler = smtp_server
    wrong = PASSWORD + "-wrong"
    config = at(controller, tls="none", user="btm", password=wrong)

    with pytest.raises(SmtpError, match="BTM_SMTP_USER and BTM_SMTP_PASSWORD") as caught:
        send_with_retry(a_message(), config, sleep=no_sleep)

    assert not caught.value.transient
    assert caught.value.__cause__ is None  # the server's reply to the login is not kept
    assert wrong not in str(caught.value) and wrong not in caplog.text
    assert handler.envelopes == []


def test_errors_from_a_block_name_the_block_fields(
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, _ = smtp_server
    config = at(controller, tls="none", user="btm", password="wrong", block="btm-smtp")
    with pytest.raises(
        SmtpError, match="check username and password in the Prefect block 'btm-smtp'"
    ):
        send_once(a_message(), config)


# The ledger: an attempt before the SMTP conversation, its outcome after ----------------------


CYCLE = "2026-Q3"
TEAM = ["a@example.org", "b@example.org", "c@example.org"]


def team_reports() -> list[AudienceReport]:
    audience = Audience(id="pmo", kind="pmo", recipients=TEAM)
    # The ledger reads only the audience and the email; no view is needed to send.
    return [AudienceReport(audience, None, REPORT, REPORT)]  # type: ignore[arg-type]


@pytest.fixture
def ledger_engine(engine: sa.Engine) -> sa.Engine:
    store.ensure_cycle(engine=engine, cycle_id=CYCLE, as_of=date(2026, 9, 30), actor="test")
    return engine


def deliver_to(
    engine: sa.Engine, settings: Settings, controller: Controller | None
) -> DeliveryReport:
    return deliver_cycle_reports(
        team_reports(),
        engine=engine,
        cycle_id=CYCLE,
        settings=settings,
        smtp=lambda: None if controller is None else at(controller, tls="none"),
    )


def ledger(engine: sa.Engine) -> dict[str, store.Delivery]:
    return store.ledger_of(engine=engine, cycle_id=CYCLE, audience="pmo")


def message_ids(handler: KeepingHandler) -> list[tuple[str, str]]:
    found = []
    for envelope in handler.envelopes:
        assert envelope.original_content is not None
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        found.append((envelope.rcpt_tos[0], str(parsed["Message-ID"])))
    return found


class DropAfterData(KeepingHandler):
    """Keeps the n-th message, then hangs up instead of answering 250: the client cannot
    tell whether the message arrived."""

    def __init__(self, drop: int) -> None:
        super().__init__()
        self.drop = drop

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.envelopes) == self.drop:
            assert isinstance(server.transport, asyncio.Transport)
            server.transport.abort()
        return reply


def test_a_run_killed_after_the_server_took_a_message_resends_only_that_one(
    ledger_engine: sa.Engine,
    tmp_path: Path,
    serve: Callable[..., Controller],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(home=tmp_path / "home")
    handler = KeepingHandler()
    controller = serve(handler, auth_require_tls=False)
    real_dispatch = delivery.dispatch

    def killed_after_the_second(message: EmailMessage, **options: Any) -> tuple[str, str]:
        sent = real_dispatch(message, **options)
        if len(handler.envelopes) == 2:
            raise KeyboardInterrupt  # as SIGKILL would stop it: no outcome is recorded
        return sent

    monkeypatch.setattr(delivery, "dispatch", killed_after_the_second)
    with pytest.raises(KeyboardInterrupt):
        deliver_to(ledger_engine, settings, controller)
    first = message_ids(handler)
    states = {r: row.state for r, row in ledger(ledger_engine).items()}
    assert states == {TEAM[0]: "sent", TEAM[1]: "sending"}  # the third was never tried
    assert ledger(ledger_engine)[TEAM[1]].message_id == first[1][1]

    monkeypatch.setattr(delivery, "dispatch", real_dispatch)
    with caplog.at_level(logging.WARNING, logger="btm.delivery"):
        again = deliver_to(ledger_engine, settings, controller)

    assert message_ids(handler) == [*first, first[1], (TEAM[2], message_ids(handler)[3][1])]
    assert again.possibly_twice == (f"pmo/{TEAM[1]}",)
    [pmo] = again.audiences
    assert pmo.sent == (TEAM[1], TEAM[2]) and pmo.skipped == (TEAM[0],)
    assert f"{TEAM[1]} may have two copies" in caplog.text and first[1][1] in caplog.text
    assert {row.state for row in ledger(ledger_engine).values()} == {"sent"}

    # once every row says sent, nobody is sent anything again
    third = deliver_to(ledger_engine, settings, controller)
    assert len(handler.envelopes) == 4 and third.possibly_twice == ()
    assert [d.skipped for d in third.audiences] == [tuple(TEAM)]


def test_a_server_hanging_up_after_data_leaves_the_outcome_unknown_until_the_next_run(
    ledger_engine: sa.Engine, tmp_path: Path, serve: Callable[..., Controller]
) -> None:
    settings = Settings(home=tmp_path / "home")
    handler = DropAfterData(drop=2)
    controller = serve(handler, auth_require_tls=False)

    first = deliver_to(ledger_engine, settings, controller)

    # not retried at once: it may have arrived; the others are served
    assert len(handler.envelopes) == 3 and [d.sent for d in first.audiences] == [(TEAM[0], TEAM[2])]
    [failure] = first.failed
    assert failure.startswith(TEAM[1]) and "may have arrived" in failure
    row = ledger(ledger_engine)[TEAM[1]]
    assert row.state == "sending" and row.error and "same Message-ID" in row.error

    handler.drop = 0
    again = deliver_to(ledger_engine, settings, controller)

    assert again.possibly_twice == (f"pmo/{TEAM[1]}",)
    ids = message_ids(handler)
    assert [r for r, _ in ids] == [TEAM[0], TEAM[1], TEAM[2], TEAM[1]]
    assert ids[1][1] == ids[3][1]  # the same Message-ID: a mail client shows one
    assert ledger(ledger_engine)[TEAM[1]].state == "sent"


def test_a_refused_message_is_failed_and_retried_normally_on_the_next_run(
    ledger_engine: sa.Engine, tmp_path: Path, serve: Callable[..., Controller]
) -> None:
    settings = Settings(home=tmp_path / "home")
    handler = ScriptedHandler(DATA=["550 5.7.1 Message rejected as spam"])  # the first only
    controller = serve(handler, auth_require_tls=False)

    first = deliver_to(ledger_engine, settings, controller)
    row = ledger(ledger_engine)[TEAM[0]]
    assert row.state == "failed" and row.error and "550" in row.error
    assert row.delivered_at is None and first.possibly_twice == ()

    again = deliver_to(ledger_engine, settings, controller)

    assert [d.sent for d in again.audiences] == [(TEAM[0],)]
    assert again.possibly_twice == ()  # nothing was delivered the first time
    assert len(handler.envelopes) == 3


def test_the_outbox_follows_the_same_ledger(
    ledger_engine: sa.Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path / "home")
    real_write = delivery.write_to_outbox

    def killed_after_the_first(message: EmailMessage, **options: Any) -> Path:
        real_write(message, **options)
        raise SystemExit(137)

    monkeypatch.setattr(delivery, "write_to_outbox", killed_after_the_first)
    with pytest.raises(SystemExit):
        deliver_to(ledger_engine, settings, None)
    [kept] = settings.outbox_dir.glob("*.eml")
    first_id = message_from_bytes(kept.read_bytes(), policy=policy.default)["Message-ID"]
    assert ledger(ledger_engine)[TEAM[0]].state == "sending"

    monkeypatch.setattr(delivery, "write_to_outbox", real_write)
    again = deliver_to(ledger_engine, settings, None)

    assert again.possibly_twice == (f"pmo/{TEAM[0]}",)
    assert len(list(settings.outbox_dir.glob("*.eml"))) == 3
    resent = message_from_bytes(kept.read_bytes(), policy=policy.default)
    assert resent["Message-ID"] == first_id
    rows = ledger(ledger_engine)
    assert {r.state for r in rows.values()} == {"sent"} and rows[TEAM[0]].channel == "outbox"
    assert rows[TEAM[0]].location == str(kept)


def test_rows_stored_before_the_attempts_read_as_sent(database_url: str) -> None:
    from alembic import command

    engine = store.make_engine(database_url)
    config = store.alembic_config(engine.url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0007")
        connection.execute(
            sa.text(
                "INSERT INTO cycle (id, as_of, started_at) VALUES ('2026-Q1', '2026-03-31', "
                "'2026-04-01 00:00:00')"
            )
        )
        connection.execute(
            sa.text(
                "INSERT INTO delivery (cycle_id, audience, recipient, channel, delivered_at) "
                "VALUES ('2026-Q1', 'pmo', 'a@example.org', 'smtp', '2026-04-02 08:00:00')"
            )
        )
    store.init_db(engine)
    [row] = store.ledger_of(engine=engine, cycle_id="2026-Q1", audience="pmo").values()
    assert row.state == "sent" and row.attempted_at == row.delivered_at
    assert store.delivered_to(engine=engine, cycle_id="2026-Q1", audience="pmo") == {
        "a@example.org"
    }
    engine.dispose()


# The ops alert always lands ------------------------------------------------------------------


def test_with_smtp_down_the_alert_is_kept_logged_and_recorded(
    engine: sa.Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(home=tmp_path / "home", ops_email="ops@example.org")
    down = SmtpConfig(host="127.0.0.1", port=free_port(), tls="none", timeout=2)
    failure = store.RunFailure(
        flow_name="quarterly-cycle",
        run_name="ruby-fox",
        state="Failed",
        detail="could not deliver: cannot reach the SMTP server",
        link="flow run id 1234",
    )
    monkey_sleeps: list[float] = []

    with caplog.at_level(logging.ERROR, logger="btm.delivery"):
        kept = delivery.alert_ops(
            failure,
            settings=settings,
            smtp=lambda: down,
            engine=lambda: engine,
            sleep=monkey_sleeps.append,
        )

    path = settings.outbox_dir / "ops-ruby-fox.eml"
    alert = message_from_bytes(path.read_bytes(), policy=policy.default)
    assert alert["To"] == "ops@example.org" and "ruby-fox" in alert["Subject"]
    assert kept.alert_path == str(path) and not kept.alert_emailed
    assert kept.alert_error and "cannot reach the SMTP server" in kept.alert_error
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("ruby-fox" in r.getMessage() and "Failed" in r.getMessage() for r in errors)
    assert any(str(path) in r.getMessage() for r in errors)
    latest = store.last_run_failure(engine=engine)
    assert latest is not None and latest.run_name == "ruby-fox"
    assert latest.alert_path == str(path) and monkey_sleeps == [2]


def test_with_smtp_up_the_alert_is_kept_and_emailed(
    engine: sa.Engine, tmp_path: Path, smtp_server: tuple[Controller, KeepingHandler]
) -> None:
    controller, handler = smtp_server
    settings = Settings(home=tmp_path / "home", ops_email="ops@example.org")
    failure = store.RunFailure(
        flow_name="f", run_name="r", state="Crashed", detail="killed", link="l"
    )
    kept = delivery.alert_ops(
        failure, settings=settings, smtp=lambda: at(controller, tls="none"), engine=lambda: engine
    )
    assert kept.alert_emailed and kept.alert_error is None
    assert [e.rcpt_tos for e in handler.envelopes] == [["ops@example.org"]]
    assert (settings.outbox_dir / "ops-r.eml").exists()
