"""A real SMTP server for the tests (aiosmtpd, in its own thread), which keeps every message
it accepts and, when given a username, asks the client to log in (AUTH PLAIN/LOGIN over the
plain connection: it is 127.0.0.1 and a test)."""
from __future__ import annotations

import dataclasses
import email
import email.policy
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from caredesk.mail import MailSettings


@dataclass
class Received:
    sender: str
    recipients: list[str]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.raw, policy=email.policy.default)  # type: ignore[return-value]


@dataclass
class Inbox:
    username: str = ""
    password: str = ""
    messages: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content)))
        return "250 OK"

    def authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        ok = data.login.decode() == self.username and data.password.decode() == self.password
        if ok:
            self.logins.append(data.login.decode())
        return AuthResult(success=ok, handled=False)

    def wait(self, count: int = 1, seconds: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + seconds
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(username: str = "", password: str = "", port: int | None = None
                ) -> Iterator[tuple[Inbox, MailSettings]]:
    """A running server (on `port`, or a free one), and MailSettings that send to it
    (STARTTLS off: it offers none)."""
    inbox = Inbox(username, password)
    port = port or free_port()
    extra: dict[str, Any] = {}
    if username:
        extra = {"authenticator": inbox.authenticate, "auth_require_tls": False}
    controller = Controller(inbox, hostname="127.0.0.1", port=port, **extra)
    controller.start()
    try:
        yield inbox, MailSettings(host="127.0.0.1", port=port, username=username, password=password,
                                  starttls="false", sender="help@northwind-goods.example",
                                  sender_name="Northwind Goods", timeout=5.0)
    finally:
        controller.stop()


def unreachable(settings: MailSettings) -> MailSettings:
    """The same settings pointing at a port nothing listens on (the SMTP server is down)."""
    return dataclasses.replace(settings, port=free_port(), timeout=2.0)
