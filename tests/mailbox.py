"""A real SMTP server on a free local port (aiosmtpd), keeping what it receives: where
the tests of verified emails read their codes."""

from __future__ import annotations

import email
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import Message

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.harness.processes import free_ports


class Inbox:
    """What the local SMTP server received, oldest first."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or envelope.content or b""
        self.messages.append(email.message_from_bytes(content if isinstance(content, bytes) else content.encode()))
        return "250 OK"

    def last_code(self) -> str:
        """The code in the newest message."""
        assert self.messages, "no message was sent"
        return code_of(self.messages[-1])

    def wait_for(self, count: int, timeout: float = 15.0) -> Message:
        """The ``count``-th message (1-based), once it has arrived."""
        deadline = time.monotonic() + timeout
        while len(self.messages) < count:
            assert time.monotonic() < deadline, f"{len(self.messages)} message(s), waited for {count}"
            time.sleep(0.05)
        return self.messages[count - 1]


def code_of(message: Message) -> str:
    body = message.get_payload(decode=True)
    assert isinstance(body, bytes)
    match = re.search(r"Your code: (\d{6})", body.decode())
    assert match, body
    return match.group(1)


@contextmanager
def local_smtp() -> Iterator[tuple[str, Inbox]]:
    """``(smtp://127.0.0.1:PORT, inbox)`` while the server runs (in its own thread)."""
    inbox = Inbox()
    (port,) = free_ports(1)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}", inbox
    finally:
        controller.stop()
