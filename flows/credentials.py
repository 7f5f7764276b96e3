"""Secrets kept in Prefect blocks: `{block: NAME}` in a sources file names a Secret block,
BTM_SMTP_BLOCK an `EmailServerCredentials` block (the prefect-email package).

A flow run hands these readers down with its setup (`flows.tasks.flow_setup`); the
library calls them at fetch and send time, so a secret is read from Prefect for that use
only and is never kept in settings, logs, reports, artifacts or the database.
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING, Any

from btm.delivery import SmtpConfig, TlsMode
from btm.errors import ConfigurationError

if TYPE_CHECKING:
    from prefect_email import EmailServerCredentials

# The block's smtp_type (an enum named SSL, STARTTLS or INSECURE) as BTM's TLS mode.
SMTP_TYPES: dict[str, TlsMode] = {"SSL": "ssl", "STARTTLS": "starttls", "INSECURE": "none"}

HOW_TO_CREATE = (
    "create it: `prefect block register -m prefect_email`, then add an Email Server "
    "Credentials block named {name!r} in the Prefect UI (Blocks), or in Python: "
    "EmailServerCredentials(smtp_server='smtp.example.org', smtp_type='STARTTLS', "
    "username='btm@example.org', password='...').save({name!r})"
)


def load_secret_block(name: str) -> str:
    """The value of a Prefect Secret block, for `{block: NAME}` in the sources file."""
    from prefect.blocks.system import Secret  # imported when a block is read, not before

    try:
        block: Any = Secret.load(name)
        return str(block.get())
    except ValueError as exc:
        raise ConfigurationError(
            f"Prefect Secret block {name!r} cannot be loaded ({exc}); create it with "
            "`prefect block create secret` or in the Prefect UI"
        ) from exc


def load_smtp_block(name: str) -> SmtpConfig:
    """The SMTP server of the EmailServerCredentials block `name`, for BTM_SMTP_BLOCK."""
    from prefect_email import EmailServerCredentials  # imported when a block is read

    try:
        # _sync: a plain call even when a hook or task runs inside an event loop, where
        # Prefect would otherwise hand back a coroutine.
        block = EmailServerCredentials.load(name, _sync=True)
    except ValueError as exc:
        raise ConfigurationError(
            f"BTM_SMTP_BLOCK names the Prefect block {name!r}, which cannot be loaded ({exc}); "
            + HOW_TO_CREATE.format(name=name)
        ) from exc
    return smtp_config_from_block(block, name=name)


def smtp_config_from_block(block: EmailServerCredentials, *, name: str) -> SmtpConfig:
    """The block's server, port, mode, user and password as an `SmtpConfig`."""
    server = block.smtp_server  # a host name, or a member of prefect-email's SMTPServer
    mode = SMTP_TYPES[block.smtp_type.name]  # the block's validator made it the enum
    if mode != "none" and block.verify is False:
        # Certificates are always checked: a block cannot turn that off for BTM.
        raise ConfigurationError(
            f"the Prefect block {name!r} (BTM_SMTP_BLOCK) turns certificate checks off "
            "(verify: false), which BTM does not do; turn verify on, and if a private CA "
            "signed the server's certificate, point SSL_CERT_FILE at that CA's certificate"
        )
    password: str = block.password.get_secret_value()
    return SmtpConfig(
        host=str(server.value if isinstance(server, Enum) else server),
        port=block.smtp_port,
        user=block.username or None,
        password=password or None,
        tls=mode,
        block=name,
    )
