"""Message building, the outbox, and sending to a real SMTP server on loopback (aiosmtpd)."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from btm.delivery import build_message, send_smtp, write_to_outbox
from btm.errors import DeliveryError
from btm.reporting import RenderedReport
from tests.conftest import PASSWORD, KeepingHandler, free_port

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
