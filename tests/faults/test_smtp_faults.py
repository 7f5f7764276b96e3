"""A `btm run` SIGKILLed inside the SMTP conversation (issue 14): the server has accepted
the 2nd of the cycle's 6 messages and the run dies before it hears so. The next run
resends only that one, with the same Message-ID, and names its recipient as possibly
having two copies; every other recipient has the report once."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections import Counter
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from btm.settings import Settings
from tests.conftest import free_port
from tests.faults.test_killed_run import Run, environment


class HoldingHandler:
    """Keeps every message; while `holding`, it answers the 2nd only after a long pause,
    so the client dies not knowing it was accepted."""

    def __init__(self) -> None:
        self.envelopes: list[Any] = []
        self.accepted_second = threading.Event()
        self.holding = True

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        if self.holding and len(self.envelopes) == 2:
            self.accepted_second.set()
            await asyncio.sleep(60)
        return "250 Message accepted for delivery"


def _message_id(envelope: Any) -> str:
    return str(message_from_bytes(envelope.content, policy=policy.default)["Message-ID"])


def test_a_run_killed_in_the_smtp_conversation_mails_at_most_twice_and_says_so(
    delivered_home: Path, tmp_path: Path
) -> None:
    settings = Settings(home=delivered_home)
    with sqlite3.connect(settings.resolved_home / "btm.db") as db:
        db.execute("DELETE FROM delivery")  # the cycle is scored, its mail not yet sent
    handler = HoldingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        env = environment(delivered_home, tmp_path / "prefect-home")
        env.update(BTM_SMTP_HOST="127.0.0.1", BTM_SMTP_PORT=str(controller.port))
        env.update(BTM_SMTP_TLS="none")
        killed = Run(env)
        try:
            assert handler.accepted_second.wait(120), killed.log
        finally:
            killed.kill()
        handler.holding = False
        result = Run(env).finish(timeout=90)
    finally:
        controller.stop()

    ids = [_message_id(e) for e in handler.envelopes]
    copies = Counter(ids)
    # six messages, one per audience and recipient; the one the killed run never heard
    # accepted was sent again, with its Message-ID, so mail clients collapse the two
    assert len(copies) == 6 and len(ids) == 7
    assert copies[ids[1]] == 2 and set(copies.values()) == {1, 2}
    second = handler.envelopes[1].rcpt_tos[0]
    named = result["possibly_twice"]
    assert isinstance(named, list) and [str(n).split("/")[-1] for n in named] == [second]


def test_smtp_down_for_a_run_then_up_alerts_ops_and_then_mails_everyone_once(
    delivered_home: Path, tmp_path: Path
) -> None:
    settings = Settings(home=delivered_home)
    with sqlite3.connect(settings.resolved_home / "btm.db") as db:
        db.execute("DELETE FROM delivery")  # the cycle is scored, its mail not yet sent
    port = free_port()  # nothing listens there yet: SMTP is down
    env = environment(delivered_home, tmp_path / "prefect-home")
    env.update(BTM_SMTP_HOST="127.0.0.1", BTM_SMTP_PORT=str(port), BTM_SMTP_TLS="none")
    env.update(BTM_OPS_EMAIL="ops@example.org")
    down = Run(env)
    assert down.process.wait(timeout=180) != 0  # the run fails, as it should...
    alerts = list(settings.outbox_dir.glob("ops-*.eml"))
    assert len(alerts) == 1, down.log  # ...and its alert lands in the outbox
    assert "could not deliver" in alerts[0].read_text(encoding="utf-8", errors="replace")

    handler = HoldingHandler()
    handler.holding = False
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        Run(env).finish(timeout=90)
    finally:
        controller.stop()
    ids = [_message_id(e) for e in handler.envelopes]
    assert len(ids) == len(set(ids)) == 6  # everyone once, now that SMTP is up
