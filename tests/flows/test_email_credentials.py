"""SMTP settings from a Prefect EmailServerCredentials block (BTM_SMTP_BLOCK), read from
the Prefect server at send time and used against a real SMTP server on loopback."""

from email import message_from_bytes, policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from prefect_email import EmailServerCredentials

from btm.delivery import (
    SmtpConfig,
    SmtpError,
    TlsMode,
    build_message,
    send_with_retry,
    smtp_config,
)
from btm.errors import ConfigurationError
from btm.reporting.render import RenderedReport
from btm.settings import Settings
from flows.credentials import load_smtp_block, smtp_config_from_block
from tests.conftest import PASSWORD, KeepingHandler

REPORT = RenderedReport(subject="BTM trend report 2026-Q3", html="<p>2.4</p>", text="2.4\n")


@pytest.fixture
def block_settings(btm_home: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No BTM_SMTP_* in the environment: whatever is sent, the block said where."""
    for name in ("BTM_SMTP_PORT", "BTM_SMTP_USER", "BTM_SMTP_PASSWORD", "BTM_SMTP_TLS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.prefect
def test_a_report_goes_through_the_server_the_block_names(
    prefect_server: None,
    block_settings: pytest.MonkeyPatch,
    smtp_server: tuple[Controller, KeepingHandler],
    caplog: pytest.LogCaptureFixture,
) -> None:
    controller, handler = smtp_server
    EmailServerCredentials(
        smtp_server="127.0.0.1",
        smtp_type="INSECURE",
        smtp_port=controller.port,
        username="btm",
        password=PASSWORD,
    ).save("btm-test-smtp", overwrite=True)
    block_settings.setenv("BTM_SMTP_BLOCK", "btm-test-smtp")
    settings = Settings()
    assert PASSWORD not in repr(settings)  # settings hold the block's name only

    config = smtp_config(settings, load_smtp_block)
    assert config is not None
    send_with_retry(
        build_message(REPORT, sender="btm@example.org", recipients=["pmo@example.org"]), config
    )

    [envelope] = handler.envelopes  # the login with the block's password was accepted
    assert envelope.rcpt_tos == ["pmo@example.org"]
    assert envelope.original_content is not None
    received = message_from_bytes(envelope.original_content, policy=policy.default)
    assert received["Subject"] == REPORT.subject
    assert config.address == f"127.0.0.1:{controller.port}"
    assert PASSWORD not in repr(config) and PASSWORD not in caplog.text


@pytest.mark.prefect
def test_a_wrong_password_in_the_block_names_the_block(
    prefect_server: None,
    block_settings: pytest.MonkeyPatch,
    smtp_server: tuple[Controller, KeepingHandler],
) -> None:
    controller, handler = smtp_server
    wrong = "not-" + PASSWORD
    EmailServerCredentials(
        smtp_server="127.0.0.1",
        smtp_type="INSECURE",
        smtp_port=controller.port,
        username="btm",
        password=wrong,
    ).save("btm-test-smtp-wrong", overwrite=True)
    block_settings.setenv("BTM_SMTP_BLOCK", "btm-test-smtp-wrong")
    config = smtp_config(Settings(), load_smtp_block)
    assert config is not None

    message = build_message(REPORT, sender="btm@example.org", recipients=["pmo@example.org"])
    with pytest.raises(
        SmtpError, match="password in the Prefect block 'btm-test-smtp-wrong'"
    ) as caught:
        send_with_retry(message, config)
    assert not caught.value.transient and wrong not in str(caught.value)
    assert handler.envelopes == []


@pytest.mark.prefect
def test_a_missing_block_says_how_to_create_it(
    prefect_server: None, block_settings: pytest.MonkeyPatch
) -> None:
    block_settings.setenv("BTM_SMTP_BLOCK", "btm-no-such-smtp-block")
    with pytest.raises(ConfigurationError) as caught:
        smtp_config(Settings(), load_smtp_block)
    text = str(caught.value)
    assert "BTM_SMTP_BLOCK" in text and "'btm-no-such-smtp-block'" in text
    assert "prefect block register -m prefect_email" in text


# The block's fields as BTM's settings: no server needed -------------------------------


@pytest.mark.parametrize(
    ("smtp_type", "tls"), [("SSL", "ssl"), ("STARTTLS", "starttls"), ("INSECURE", "none")]
)
def test_the_block_mode_maps_onto_the_tls_setting(smtp_type: str, tls: TlsMode) -> None:
    block = EmailServerCredentials(
        smtp_server="smtp.example.org", smtp_type=smtp_type, username="btm", password="pw"
    )
    assert smtp_config_from_block(block, name="b") == SmtpConfig(
        host="smtp.example.org", port=None, user="btm", password="pw", tls=tls, block="b"
    )


def test_a_known_provider_and_an_empty_login_are_understood() -> None:
    block = EmailServerCredentials(smtp_server="gmail", smtp_type="STARTTLS", smtp_port=2587)
    config = smtp_config_from_block(block, name="b")
    assert (config.host, config.port, config.user, config.password) == (
        "smtp.gmail.com",
        2587,
        None,
        None,
    )


def test_a_block_that_turns_certificate_checks_off_is_refused() -> None:
    block = EmailServerCredentials(smtp_server="smtp.example.org", verify=False)
    with pytest.raises(ConfigurationError, match=r"verify: false.*SSL_CERT_FILE"):
        smtp_config_from_block(block, name="b")
