"""Deliver a rendered trend report: build the email, keep it in the outbox, send it by SMTP.

`build_message` makes a standard-library `EmailMessage` with a plain-text part followed by
the HTML part (multipart/alternative, so clients show the richest part they can);
`write_to_outbox` keeps that message as an `.eml` file, written atomically, for the ledger
or for sending by hand; `send_smtp` hands it to a mail server and turns every transport
failure into a `DeliveryError` that names the BTM_SMTP_* setting to check. The SMTP
password is never written into an error message or a log line.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Sequence
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid
from pathlib import Path
from typing import Literal

from btm.errors import ConfigurationError, DeliveryError
from btm.reporting import RenderedReport, write_file_atomically

logger = logging.getLogger(__name__)

TlsMode = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}


def build_message(
    rendered: RenderedReport,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id_domain: str = "btm.local",
) -> EmailMessage:
    """The report as a multipart/alternative message: text/plain first, then text/html."""
    if not sender.strip():
        raise ConfigurationError("no sender address; set BTM_REPORT_FROM, e.g. btm@example.org")
    addresses = [r.strip() for r in recipients if r.strip()]
    if not addresses:
        raise ConfigurationError(
            "no recipients; set BTM_REPORT_TO to a comma-separated list of addresses"
        )
    message = EmailMessage(policy=policy.default)
    message["Subject"] = rendered.subject
    message["From"] = sender
    message["To"] = ", ".join(addresses)
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = make_msgid(domain=message_id_domain)
    # Quoted-printable keeps the .eml readable and every line under SMTP's 998-octet limit,
    # which the inlined HTML (long style= attributes) would otherwise break.
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return message


def write_to_outbox(message: EmailMessage, *, outbox_dir: Path, name: str) -> Path:
    """Keep the message as `outbox_dir/<name>.eml` (CRLF line ends, as sent on the wire)."""
    if not name or Path(name).name != name or name.startswith("."):
        raise ConfigurationError(
            f"outbox name {name!r} cannot name a file; use letters, digits, '-' or '_'"
        )
    path = outbox_dir / f"{name}.eml"
    write_file_atomically(path, message.as_bytes(policy=policy.SMTP))
    return path


def send_smtp(
    message: EmailMessage,
    *,
    host: str,
    port: int | None,
    user: str | None,
    password: str | None,
    tls: TlsMode,
    timeout: float = 30,
) -> None:
    """Send through an SMTP server; port None means the usual port for the TLS mode."""
    if not host:
        raise DeliveryError("no SMTP server; set BTM_SMTP_HOST (and BTM_SMTP_PORT if not default)")
    if tls not in DEFAULT_PORTS:
        raise DeliveryError(f"BTM_SMTP_TLS is {tls!r}; use one of starttls, ssl or none")
    port = port or DEFAULT_PORTS[tls]
    where = f"{host}:{port}"
    try:
        client = (
            smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
            if tls == "ssl"
            else smtplib.SMTP(host, port, timeout=timeout)
        )
        with client:
            if tls == "starttls":
                client.starttls(context=ssl.create_default_context())
            if user:
                client.login(user, password or "")
            refused = client.send_message(message)
    except smtplib.SMTPAuthenticationError as exc:
        raise _failure(
            f"{where} refused the login of {user!r} ({_reply(exc.smtp_code, exc.smtp_error)}); "
            "check BTM_SMTP_USER and BTM_SMTP_PASSWORD",
            password,
        ) from None
    except smtplib.SMTPNotSupportedError as exc:
        raise _failure(
            f"{where} does not support {exc}; check BTM_SMTP_TLS (starttls, ssl or none) "
            "and, for a login, BTM_SMTP_USER",
            password,
        ) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        raise _failure(
            f"{where} refused every recipient ({', '.join(exc.recipients)}); check BTM_REPORT_TO",
            password,
        ) from exc
    except smtplib.SMTPSenderRefused as exc:
        raise _failure(
            f"{where} refused the sender {exc.sender} ({_reply(exc.smtp_code, exc.smtp_error)}); "
            "check BTM_REPORT_FROM",
            password,
        ) from exc
    except ssl.SSLError as exc:
        raise _failure(
            f"TLS with {where} failed ({exc.reason or exc}); check BTM_SMTP_TLS (ssl for port "
            "465, starttls for 587) and BTM_SMTP_PORT",
            password,
        ) from exc
    except smtplib.SMTPException as exc:
        raise _failure(
            f"SMTP with {where} failed ({exc}); "
            "check BTM_SMTP_HOST, BTM_SMTP_PORT and BTM_SMTP_TLS",
            password,
        ) from exc
    except OSError as exc:
        raise _failure(
            f"cannot reach the SMTP server at {where} ({exc.strerror or exc}); "
            "check BTM_SMTP_HOST and BTM_SMTP_PORT",
            password,
        ) from exc
    if refused:
        # The others were accepted: say so, because sending again would send them a copy.
        raise DeliveryError(
            f"{where} refused {', '.join(sorted(refused))} but accepted the other recipients; "
            "check those addresses in BTM_REPORT_TO"
        )
    logger.info("sent %r to %s through %s", message["Subject"], message["To"], where)


def _reply(code: int, text: bytes | str) -> str:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {reply}".strip()


def _failure(text: str, password: str | None) -> DeliveryError:
    # Scrubbed because a server may echo what it was sent, and these messages end up in
    # logs and Prefect's UI. A refused login also drops its cause (`from None`) for that
    # reason; other failures keep theirs, which never holds the password.
    if password:
        text = text.replace(password, "***")
    return DeliveryError(text)
