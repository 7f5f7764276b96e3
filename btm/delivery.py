"""Deliver a rendered trend report: build the email, keep it in the outbox, send it by SMTP.

`build_message` makes a standard-library `EmailMessage` with a plain-text part followed by
the HTML part (multipart/alternative, so clients show the richest part they can), the
HTML's charts beside it as PNG parts named by Content-ID (multipart/related);
`write_to_outbox` keeps that message as an `.eml` file, written atomically, for the ledger
or for sending by hand. `smtp_config` says where to send, from BTM_SMTP_* or from the
Prefect block BTM_SMTP_BLOCK names (read at send time through the reader a flow hands
down in its setup, so this library never imports Prefect); `send_with_retry` hands the
message to that server, trying again after transient failures, and turns every failure
into an `SmtpError` that names the setting to check. The SMTP password is never written
into an error message, a repr or a log line. `deliver_cycle_reports` sends a cycle's
reports, one message and one ledger row per recipient: the row says `sending` (with the
Message-ID) before the message goes out and `sent` or `failed` after, so a run that died
in between is known, and its re-run resends only those, with the same Message-ID, naming
them as possibly sent twice. `alert_ops` tells the ops team of a failed flow run: the
alert is kept in the outbox and logged whatever SMTP does, and the failure recorded for
`btm status`.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, localtime, make_msgid
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from btm import store
from btm.errors import BtmError, ConfigurationError, DeliveryError
from btm.reporting.compose import AudienceReport, standalone_path, write_reports
from btm.reporting.render import RenderedReport, write_file_atomically
from btm.resources import TEMPLATES_DIR
from btm.settings import Settings

logger = logging.getLogger(__name__)

TlsMode = Literal["starttls", "ssl", "none"]
DEFAULT_PORTS: dict[str, int] = {"ssl": 465, "starttls": 587, "none": 25}


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a questionnaire workbook, say)."""

    filename: str
    content: bytes
    maintype: str = "application"
    subtype: str = "octet-stream"


XLSX_TYPE = ("application", "vnd.openxmlformats-officedocument.spreadsheetml.sheet")


def build_message(
    rendered: RenderedReport,
    *,
    sender: str,
    recipients: Sequence[str],
    message_id_domain: str = "btm.local",
    message_id: str | None = None,
    attachments: Sequence[Attachment] = (),
) -> EmailMessage:
    """The report as a multipart/alternative message: text/plain first, then text/html,
    with any `attachments` after them (multipart/mixed); `message_id` is a resend's (a
    new one is made when None)."""
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
    message["Message-ID"] = message_id or make_msgid(domain=message_id_domain)
    # Quoted-printable keeps the .eml readable and every line under SMTP's 998-octet limit,
    # which the inlined HTML (long style= attributes) would otherwise break.
    message.set_content(rendered.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8", cte="quoted-printable")
    if rendered.images:
        # The charts travel beside the HTML (multipart/related), which names each one as
        # cid:<name>@btm: mail clients drop data: URIs and inline SVG.
        html = message.get_body(preferencelist=("html",))
        assert isinstance(html, EmailMessage)
        for chart in rendered.images:
            html.add_related(
                chart.png,
                maintype="image",
                subtype="png",
                cid=f"<{chart.name}@btm>",
                filename=chart.file_name,
                disposition="inline",
            )
    for attachment in attachments:
        message.add_attachment(
            attachment.content,
            maintype=attachment.maintype,
            subtype=attachment.subtype,
            filename=attachment.filename,
        )
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


# Where to send -----------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpConfig:
    """An SMTP server and how to talk to it; port None means the usual port for the mode.

    `block` names the Prefect block these values came from (None: the BTM_SMTP_* settings),
    so that an error points at the right place to fix. The password is left out of the
    repr, so a config printed or logged by mistake does not show it.
    """

    host: str
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: TlsMode = "starttls"
    timeout: float = 30.0
    block: str | None = None

    @property
    def address(self) -> str:
        """`host:port`, with the mode's usual port when none is set: for logs and the ledger."""
        return f"{self.host}:{self.port or DEFAULT_PORTS.get(self.tls, '')}"


SmtpBlockLoader = Callable[[str], SmtpConfig]


def smtp_config(settings: Settings, read_block: SmtpBlockLoader | None = None) -> SmtpConfig | None:
    """The server to send through, read now (call it at send time, and keep the result no
    longer than the send): the Prefect block BTM_SMTP_BLOCK names, else BTM_SMTP_*; None
    when neither BTM_SMTP_BLOCK nor BTM_SMTP_HOST is set, and the outbox is used. The
    flows hand down `read_block` (Prefect's EmailServerCredentials blocks), so this
    library never imports Prefect."""
    if settings.smtp_block:
        if read_block is None:
            raise ConfigurationError(
                f"BTM_SMTP_BLOCK names the Prefect block {settings.smtp_block!r}, which only "
                "the flows can read; run through `btm run` or the deployment, or set "
                "BTM_SMTP_HOST instead"
            )
        return read_block(settings.smtp_block)
    if not settings.smtp_host:
        return None
    return SmtpConfig(
        host=settings.smtp_host,
        port=settings.smtp_port,
        user=settings.smtp_user,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        tls=settings.smtp_tls,
    )


# Sending -----------------------------------------------------------------------------


class SmtpError(DeliveryError):
    """The server did not take the message. `transient` says whether trying again later
    may succeed (no connection, a timeout, a 4xx reply) or not (a refused login, address
    or message, a TLS mismatch): only then does `send_with_retry` try again. `refused` names
    the recipients a server refused while it took the message for the others (who must
    not be sent it again); it is empty when nobody got the message. `unknown` says the
    conversation broke off once the message itself was on its way: it may have arrived,
    so it is not tried again at once (the ledger keeps it for the next run)."""

    def __init__(
        self, text: str, *, transient: bool, refused: Sequence[str] = (), unknown: bool = False
    ) -> None:
        super().__init__(text)
        self.transient = transient and not unknown
        self.refused = tuple(refused)
        self.unknown = unknown


def send_with_retry(
    message: EmailMessage,
    config: SmtpConfig,
    *,
    attempts: int = 3,
    backoff: Sequence[float] = (2, 10),
    sleep: Callable[[float], object] = time.sleep,
) -> None:
    """Send, trying again after a transient failure: attempt n+1 waits `backoff[n-1]`
    seconds (the last delay again when there are more attempts than delays). A permanent
    failure, or the last attempt's, is raised as it is: the caller records it."""
    if attempts < 1:
        raise ValueError(f"attempts must be at least 1, not {attempts}")
    for attempt in range(1, attempts + 1):
        try:
            send_once(message, config)
            return
        except SmtpError as exc:
            if not exc.transient or attempt == attempts:
                raise
            delay = backoff[min(attempt, len(backoff)) - 1] if backoff else 0
            logger.warning(
                "sending %r through %s failed (attempt %d of %d), trying again in %g s: %s",
                message["Subject"],
                config.address,
                attempt,
                attempts,
                delay,
                exc,
            )
            sleep(delay)


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
    """One attempt, with the server given setting by setting (see `send_once`)."""
    send_once(
        message,
        SmtpConfig(host=host, port=port, user=user, password=password, tls=tls, timeout=timeout),
    )


def send_once(message: EmailMessage, config: SmtpConfig) -> None:
    """One attempt to hand the message to the server; every failure is an `SmtpError`."""
    names = _Names.of(config)
    if not config.host:
        raise SmtpError(
            f"no SMTP server; set {names.host} (and {names.port} if not default){names.where}",
            transient=False,
        )
    if config.tls not in DEFAULT_PORTS:
        raise SmtpError(
            f"{names.tls} is {config.tls!r}; use one of {names.modes}{names.where}",
            transient=False,
        )
    port = config.port or DEFAULT_PORTS[config.tls]
    where = config.address
    client: _Client | None = None
    try:
        # The system's trust store (or the file SSL_CERT_FILE names), with host-name checks.
        context = ssl.create_default_context()
        client = (
            _SslClient(config.host, port, timeout=config.timeout, context=context)
            if config.tls == "ssl"
            else _Client(config.host, port, timeout=config.timeout)
        )
        with client:
            if config.tls == "starttls":
                client.starttls(context=context)
            if config.user:
                client.login(config.user, config.password or "")
            refused = client.send_message(message)
    except OSError as exc:  # smtplib's and ssl's errors are OSErrors too
        error = _explain(
            exc,
            config=config,
            where=where,
            greeted=client is not None,
            # No reply to the message itself: the server may have kept it.
            unknown=client is not None
            and client.data_begun
            and not isinstance(exc, smtplib.SMTPResponseException),
        )
        # A refused login drops its cause: the server may echo what it was sent.
        raise error from (None if isinstance(exc, smtplib.SMTPAuthenticationError) else exc)
    if refused:
        # The others were accepted: say so, and never retry, which would send them a copy.
        raise SmtpError(
            f"{where} refused {_refusals(refused)} but accepted the other recipients; "
            "check those addresses in BTM_REPORT_TO",
            transient=False,
            refused=sorted(refused),
        )
    logger.info("sent %r to %s through %s", message["Subject"], message["To"], where)


class _Client(smtplib.SMTP):
    """smtplib's client, noting when the DATA command begins: from then on, a lost
    connection or a timeout leaves unknown whether the server kept the message."""

    data_begun = False

    def data(self, msg: Any) -> tuple[int, bytes]:
        self.data_begun = True
        return super().data(msg)


class _SslClient(_Client, smtplib.SMTP_SSL):
    """The same, with TLS from the first byte (port 465)."""


@dataclass(frozen=True)
class _Names:
    """What the user calls each setting, in the place the config came from."""

    host: str
    port: str
    user: str
    password: str
    tls: str
    modes: str
    ssl: str
    ports: str
    where: str

    @classmethod
    def of(cls, config: SmtpConfig) -> _Names:
        if config.block is None:
            return cls(
                "BTM_SMTP_HOST",
                "BTM_SMTP_PORT",
                "BTM_SMTP_USER",
                "BTM_SMTP_PASSWORD",
                "BTM_SMTP_TLS",
                "starttls, ssl or none",
                "ssl",
                "ssl for port 465, starttls for 587",
                "",
            )
        return cls(
            "smtp_server",
            "smtp_port",
            "username",
            "password",
            "smtp_type",
            "STARTTLS, SSL or INSECURE",
            "SSL",
            "SSL for port 465, STARTTLS for 587",
            f" in the Prefect block {config.block!r} (BTM_SMTP_BLOCK)",
        )


def _explain(
    exc: OSError, *, config: SmtpConfig, where: str, greeted: bool, unknown: bool = False
) -> SmtpError:
    """The error the user sees for a failed attempt: what went wrong, the setting to check,
    and whether trying again may help (a 4xx reply or a network failure)."""
    n = _Names.of(config)
    code, reply = (
        (exc.smtp_code, _reply(exc.smtp_code, exc.smtp_error))
        if isinstance(exc, smtplib.SMTPResponseException)
        else (None, str(exc))
    )
    transient = code is not None and 400 <= code < 500
    if unknown:
        text = (
            f"{where} did not confirm the message ({reply or type(exc).__name__}): it may "
            "have arrived, so it is not sent again now; the next run resends it with the "
            "same Message-ID"
        )
    elif isinstance(exc, smtplib.SMTPAuthenticationError):
        text = (
            f"{where} refused the login of {config.user!r} ({reply}); "
            f"check {n.user} and {n.password}{n.where}"
        )
    elif isinstance(exc, smtplib.SMTPNotSupportedError):
        text = (
            f"{where} does not support {exc}; check {n.tls} ({n.modes}) "
            f"and, for a login, {n.user}{n.where}"
        )
    elif isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [c for c, _ in exc.recipients.values()]
        transient = bool(codes) and all(400 <= c < 500 for c in codes)
        text = f"{where} refused every recipient ({_refusals(exc.recipients)}); " + (
            "it asks to be tried again later" if transient else "check BTM_REPORT_TO"
        )
    elif isinstance(exc, smtplib.SMTPSenderRefused) and code != 530:
        text = f"{where} refused the sender {exc.sender} ({reply}); " + (
            "it asks to be tried again later" if transient else "check BTM_REPORT_FROM"
        )
    elif isinstance(exc, smtplib.SMTPServerDisconnected) and not greeted:
        # A server that speaks TLS from the first byte (port 465) waits for our TLS hello
        # while we wait for its greeting: all we see is a timeout or a hang-up.
        transient = True
        text = (
            f"{where} did not greet us ({exc}); if it expects TLS from the start (port 465), "
            f"set {n.tls} to {n.ssl}, else check {n.host} and {n.port}{n.where}"
        )
    elif code == 530:  # "5.7.0 Must issue a STARTTLS command first" / "Authentication required"
        text = (
            f"{where} asks for STARTTLS or a login first ({reply}); "
            f"check {n.tls} ({n.modes}) and {n.user}{n.where}"
        )
    elif isinstance(exc, smtplib.SMTPDataError):
        text = f"{where} refused the message ({reply}); " + (
            "it may take it on a later attempt"
            if transient
            else "its reply says why (often the size, the content or the sender's domain)"
        )
    elif isinstance(exc, ssl.SSLCertVerificationError):
        text = (
            f"TLS with {where} failed: its certificate is not trusted ({exc.verify_message}); "
            f"check {n.host} is the name on the certificate{n.where}, and if a private CA "
            "signed it, point SSL_CERT_FILE at that CA's certificate"
        )
    elif isinstance(exc, ssl.SSLError):
        text = (
            f"TLS with {where} failed ({exc.reason or exc}); check {n.tls} ({n.ports}) "
            f"and {n.port}{n.where}"
        )
    elif isinstance(exc, smtplib.SMTPException):
        transient = transient or isinstance(exc, smtplib.SMTPServerDisconnected)
        text = f"SMTP with {where} failed ({reply}); check {n.host}, {n.port} and {n.tls}{n.where}"
    else:
        # No connection, a reset or a timeout: worth another try; a host name that does
        # not resolve (rather than a DNS server that did not answer) is not.
        transient = not isinstance(exc, socket.gaierror) or exc.errno == socket.EAI_AGAIN
        text = (
            f"cannot reach the SMTP server at {where} ({exc.strerror or exc}); "
            f"check {n.host} and {n.port}{n.where}"
        )
    # Scrubbed because a server may echo what it was sent, and these messages end up in
    # logs and Prefect's UI.
    if config.password:
        text = text.replace(config.password, "***")
    return SmtpError(text, transient=transient, unknown=unknown)


def _refusals(refused: dict[str, tuple[int, bytes]]) -> str:
    """`a@x (550 No such user), b@y (550 No such user)`, in address order."""
    return ", ".join(f"{address} ({_reply(*refused[address])})" for address in sorted(refused))


def _reply(code: int, text: bytes | str) -> str:
    reply = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"{code} {reply}".strip()


# a cycle's reports: dispatch each message, with the ledger -----------------------------


def destination(config: SmtpConfig | None, *, settings: Settings, name: str) -> tuple[str, str]:
    """The channel a message takes and where it goes: the SMTP server when one is
    configured, else the outbox file `<name>.eml`. Known before sending, for the ledger."""
    if config is not None:
        return "smtp", config.address
    return "outbox", str(settings.outbox_dir / f"{name}.eml")


def dispatch(
    message: EmailMessage,
    *,
    settings: Settings,
    name: str,
    smtp: SmtpConfig | Literal["settings"] | None = "settings",
) -> tuple[str, str]:
    """Send through SMTP when it is configured (BTM_SMTP_* or BTM_SMTP_BLOCK), retrying
    transient failures with backoff, else keep the message in the outbox as `<name>.eml`;
    returns the channel and where the message went. A caller sending many messages reads
    the SMTP configuration once and passes it as `smtp`."""
    config = smtp_config(settings) if smtp == "settings" else smtp
    if config is not None:
        send_with_retry(message, config)
        return "smtp", config.address
    path = write_to_outbox(message, outbox_dir=settings.outbox_dir, name=name)
    return "outbox", str(path)


@dataclass(frozen=True)
class AudienceDelivery:
    audience: str
    report_path: Path
    sent: tuple[str, ...]
    skipped: tuple[str, ...]  # delivered before: the ledger has them
    failed: tuple[str, ...]  # "address: why"
    channel: str
    locations: tuple[str, ...]
    # Sent again because an earlier attempt has no recorded outcome (a run stopped inside
    # it): the same Message-ID, but they may have two copies.
    resent: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeliveryReport:
    cycle_id: str
    index_path: Path
    audiences: tuple[AudienceDelivery, ...]
    dry_run: bool = False

    @property
    def report_path(self) -> Path:
        return self.audiences[0].report_path

    @property
    def location(self) -> str | None:
        """Where the first message went (the outbox file or the SMTP server), or None
        when nothing was sent."""
        return next((loc for d in self.audiences for loc in d.locations), None)

    @property
    def failed(self) -> tuple[str, ...]:
        return tuple(f for d in self.audiences for f in d.failed)

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(f"{d.audience}/{r}" for d in self.audiences for r in d.skipped)

    @property
    def possibly_twice(self) -> tuple[str, ...]:
        """`audience/recipient` of everyone who may have received this cycle's email twice."""
        return tuple(f"{d.audience}/{r}" for d in self.audiences for r in d.resent)


@dataclass(frozen=True)
class Letter:
    """One message for one recipient: what it says, and what travels with it."""

    recipient: str
    rendered: RenderedReport
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class Sending:
    """How the letters under one ledger key (a cycle and an audience) fared."""

    sent: tuple[str, ...]
    skipped: tuple[str, ...]  # delivered before: the ledger has them
    failed: tuple[str, ...]  # "address: why"
    channel: str
    locations: tuple[str, ...]
    resent: tuple[str, ...] = ()  # sent again after an attempt with no recorded outcome


def send_letters(
    letters: Sequence[Letter],
    *,
    engine: sa.Engine,
    cycle_id: str,
    audience: str,
    settings: Settings,
    smtp: Callable[[], SmtpConfig | None] | None = None,
    dry_run: bool = False,
) -> Sending:
    """Send each letter whose recipient the ledger does not have as sent under the
    cycle and audience: one message and one ledger row per recipient, so that a re-run
    never sends a letter twice, except to a recipient whose last attempt has no outcome,
    who is sent it again with the same Message-ID and named in `resent`. A send that
    fails after its retries is recorded as failed and reported, and the others go on.
    `dry_run` sends and records nothing. `smtp` says where to send, read once (default:
    the BTM_SMTP_* settings)."""
    server_for = smtp or (lambda: smtp_config(settings))
    ledger = store.ledger_of(engine=engine, cycle_id=cycle_id, audience=audience)
    pending = [
        letter
        for letter in letters
        if letter.recipient not in ledger
        or ledger[letter.recipient].state != store.DeliveryState.SENT
    ]
    skipped = [letter.recipient for letter in letters if letter not in pending]
    sent, failed, resent, locations, channel = [], [], [], [], "none"
    server = server_for() if pending and not dry_run else None
    for letter in [] if dry_run else pending:
        attempt = _Attempt(cycle_id, audience, letter.recipient, ledger.get(letter.recipient))
        message = build_message(
            letter.rendered,
            sender=settings.report_from,
            recipients=[letter.recipient],
            message_id=attempt.message_id,
            attachments=letter.attachments,
        )
        channel, location = destination(server, settings=settings, name=attempt.name)
        outcome = attempt.make(
            message,
            engine=engine,
            settings=settings,
            server=server,
            channel=channel,
            location=location,
        )
        if outcome is None:  # another run has just claimed it
            skipped.append(letter.recipient)
        elif outcome:
            failed.append(f"{letter.recipient}: {outcome}")
        else:
            sent.append(letter.recipient)
            locations.append(location)
            if attempt.again:
                resent.append(letter.recipient)
    return Sending(
        tuple(sent), tuple(skipped), tuple(failed), channel, tuple(locations), tuple(resent)
    )


def deliver_cycle_reports(
    reports: Sequence[AudienceReport],
    *,
    engine: sa.Engine,
    cycle_id: str,
    settings: Settings,
    smtp: Callable[[], SmtpConfig | None] | None = None,
    templates: Sequence[Path] = (TEMPLATES_DIR,),
    dry_run: bool = False,
) -> DeliveryReport:
    """Keep the standalone reports, then send each audience's email to each recipient
    the ledger does not have as sent: one message and one ledger row per recipient, so a
    retried task or a re-run flow never sends a report twice, except to a recipient whose
    last attempt has no outcome (the run stopped inside it), who is sent it again with
    the same Message-ID and named in `resent`. A send that fails after its retries is
    recorded as failed and reported, and the others go on. `dry_run` renders and keeps
    the files but sends and records nothing. `smtp` says where to send, read once per
    audience that has someone to send to (default: the BTM_SMTP_* settings)."""
    index = write_reports(reports, cycle_id=cycle_id, settings=settings, templates=templates)
    outcomes = []
    for report in reports:
        audience = report.audience
        letters = [Letter(r, report.email) for r in audience.recipients]
        sending = send_letters(
            letters,
            engine=engine,
            cycle_id=cycle_id,
            audience=audience.id,
            settings=settings,
            smtp=smtp,
            dry_run=dry_run,
        )
        outcomes.append(
            AudienceDelivery(
                audience=audience.id,
                report_path=standalone_path(settings, cycle_id, audience.id),
                sent=sending.sent,
                skipped=sending.skipped,
                failed=sending.failed,
                channel=sending.channel,
                locations=sending.locations,
                resent=sending.resent,
            )
        )
    return DeliveryReport(cycle_id, index, tuple(outcomes), dry_run)


@dataclass(frozen=True)
class _Attempt:
    """One recipient's attempt, framed by its ledger row: `sending` before, its outcome
    after. `earlier` is the row of the last attempt, if any."""

    cycle_id: str
    audience: str
    recipient: str
    earlier: store.Delivery | None

    @property
    def again(self) -> bool:
        """The last attempt's outcome is unknown: a copy may already have arrived."""
        return self.earlier is not None and self.earlier.state == store.DeliveryState.SENDING

    @property
    def message_id(self) -> str | None:
        """The Message-ID of the last attempt, so that a duplicate collapses in mail
        clients (a failed attempt delivered nothing, so reusing its id is harmless)."""
        return self.earlier.message_id if self.earlier is not None else None

    @property
    def name(self) -> str:
        return f"{self.cycle_id}-{self.audience}-{_slug(self.recipient)}"

    def make(
        self,
        message: EmailMessage,
        *,
        engine: sa.Engine,
        settings: Settings,
        server: SmtpConfig | None,
        channel: str,
        location: str,
    ) -> str | None:
        """Send, with the ledger around it; "" when sent, why when it failed, None when the
        ledger has it claimed already."""
        row = store.begin_delivery(
            engine=engine,
            delivery=store.Delivery(
                cycle_id=self.cycle_id,
                audience=self.audience,
                recipient=self.recipient,
                channel=channel,
                location=location,
                message_id=str(message["Message-ID"]),
            ),
        )
        if row is None or row.id is None:
            return None
        if self.again:
            assert self.earlier is not None
            logger.warning(
                "%s/%s: the attempt of %s (Message-ID %s) has no recorded outcome; sending "
                "it again with the same Message-ID: %s may have two copies",
                self.audience,
                self.recipient,
                f"{self.earlier.attempted_at:%Y-%m-%d %H:%M} UTC"
                if self.earlier.attempted_at
                else "an earlier run",
                message["Message-ID"],
                self.recipient,
            )
        try:
            dispatch(message, settings=settings, name=self.name, smtp=server)
        except DeliveryError as exc:
            # Still unknown if this attempt, or an earlier one, may have delivered it.
            unknown = self.again or (isinstance(exc, SmtpError) and exc.unknown)
            state = store.DeliveryState.SENDING if unknown else store.DeliveryState.FAILED
            store.finish_delivery(engine=engine, delivery_id=row.id, state=state, error=str(exc))
            return str(exc)
        store.finish_delivery(engine=engine, delivery_id=row.id, state=store.DeliveryState.SENT)
        return ""


# the ops team's alert ------------------------------------------------------------------


def failure_alert(
    *, flow_name: str, run_name: str, state: str, detail: str, link: str, settings: Settings
) -> EmailMessage | None:
    """The ops team's email for a failed flow run; None when no ops address is set."""
    if not settings.ops_email:
        return None
    message = EmailMessage()
    message["Subject"] = f"BTM flow run {run_name} ({flow_name}): {state}"
    message["From"] = settings.report_from
    message["To"] = settings.ops_email
    message["Date"] = format_datetime(localtime())
    message["Message-ID"] = make_msgid(domain="btm.local")
    message.set_content(
        f"The flow run {run_name} of {flow_name} ended {state}.\n\n"
        f"{detail}\n\nOpen it in Prefect: {link}\n"
    )
    return message


def alert_ops(
    failure: store.RunFailure,
    *,
    settings: Settings,
    smtp: Callable[[], SmtpConfig | None],
    engine: Callable[[], sa.Engine],
    sleep: Callable[[float], object] = time.sleep,
) -> store.RunFailure:
    """Tell the ops team of a failed flow run so that the alert always lands: logged at
    error level, kept in the outbox as `ops-<run>.eml`, then emailed when SMTP is
    configured (a failure to send is logged, the outbox copy stays), and recorded in the
    store for `btm status`. Nothing here raises: the alert must not hide the failure it
    reports. Returns the failure with where its alert went."""
    logger.error(
        "flow run %s of %s ended %s: %s (%s)",
        failure.run_name,
        failure.flow_name,
        failure.state,
        failure.detail,
        failure.link,
    )
    message = failure_alert(
        flow_name=failure.flow_name,
        run_name=failure.run_name,
        state=failure.state,
        detail=failure.detail,
        link=failure.link,
        settings=settings,
    )
    problems = []
    if message is None:
        problems.append("no alert: BTM_OPS_EMAIL is not set")
    else:
        try:
            path = write_to_outbox(
                message, outbox_dir=settings.outbox_dir, name=f"ops-{_slug(failure.run_name)}"
            )
            failure.alert_path = str(path)
            logger.error("the alert to %s is kept in %s", settings.ops_email, path)
        except (OSError, BtmError) as exc:
            problems.append(f"not kept in {settings.outbox_dir}: {exc}")
        try:
            config = smtp()
            if config is not None:
                # Two tries, not three: the outbox has it, and the run's end waits for this.
                send_with_retry(message, config, attempts=2, backoff=(2,), sleep=sleep)
                failure.alert_emailed = True
        except BtmError as exc:
            problems.append(f"not emailed: {exc}")
    failure.alert_error = "; ".join(problems) or None
    for problem in problems:
        logger.error("the alert of flow run %s: %s", failure.run_name, problem)
    try:
        store.record_run_failure(engine=engine(), failure=failure)
    except Exception as exc:  # a store that is down must not hide the alert
        logger.error(
            "could not record flow run %s's failure in the store: %s", failure.run_name, exc
        )
    return failure


def _slug(address: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", address.lower()).strip("-")
