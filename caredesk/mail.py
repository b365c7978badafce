"""Email to customers over SMTP (aiosmtplib): the settings, a message whose headers cannot be
steered by what a customer typed, and an async sender with a time-out.

Without SMTP_HOST nothing is sent: the gateway says so once when it starts, and each reply
that would have gone by email is recorded as not sent, so an agent sees why. The password is
never logged nor shown in a repr; errors are reported by their kind and the server's answer,
which never contains it."""
from __future__ import annotations

import datetime as dt
import logging
import os
import re
from dataclasses import dataclass, field
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Mapping

import aiosmtplib

logger = logging.getLogger(__name__)

# One address, no display name, nothing a header or the SMTP envelope could misread.
_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                      r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+")
# Line breaks of every kind and other control characters: folded to one space in a header.
_BREAKS = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")
MAX_NAME, MAX_SUBJECT = 120, 200
STARTTLS_CHOICES = {"auto": None, "true": True, "false": False}


class MailError(Exception):
    """The message was not handed to the SMTP server (the reason, without any secret)."""


class InvalidAddress(ValueError):
    """Not one plain email address: refused rather than put in a header."""


def valid_address(value: str) -> str:
    """The address itself, or InvalidAddress: a plain addr-spec of at most 254 characters."""
    if not isinstance(value, str) or len(value) > 254 or not _ADDRESS.fullmatch(value):
        raise InvalidAddress("not a plain email address")
    return value


def one_line(value: str, limit: int) -> str:
    """A header value from words anyone may have typed: line breaks and control characters
    fold into single spaces (so no header can be added), then it is cut to `limit`."""
    return " ".join(_BREAKS.sub(" ", value).split())[:limit]


def _flag(environ: Mapping[str, str], name: str) -> bool:
    value = (environ.get(name) or "false").strip().lower()
    if value not in ("true", "false", "1", "0", "yes", "no", "on", "off"):
        raise ValueError(f"{name} must be true or false, not {value!r}")
    return value in ("true", "1", "yes", "on")


@dataclass(frozen=True)
class MailSettings:
    host: str = ""  # empty: email is off
    port: int = 587
    username: str = ""
    password: str = field(default="", repr=False)
    tls: bool = False  # TLS from the first byte (usually port 465)
    starttls: str = "auto"  # auto: upgrade when the server offers it; true: required; false: never
    sender: str = ""  # MAIL_FROM, a plain address
    sender_name: str = ""  # MAIL_FROM_NAME, shown beside it
    timeout: float = 10.0

    @property
    def enabled(self) -> bool:
        return bool(self.host)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> "MailSettings":
        host = (environ.get("SMTP_HOST") or "").strip()
        tls = _flag(environ, "SMTP_TLS")
        starttls = (environ.get("SMTP_STARTTLS") or "auto").strip().lower()
        if starttls not in STARTTLS_CHOICES:
            raise ValueError(f"SMTP_STARTTLS must be auto, true or false, not {starttls!r}")
        if tls and starttls == "true":
            raise ValueError("SMTP_TLS and SMTP_STARTTLS=true exclude each other: choose one")
        timeout = float(environ.get("SMTP_TIMEOUT_SECONDS") or 10)
        if timeout <= 0:
            raise ValueError("SMTP_TIMEOUT_SECONDS must be more than 0")
        sender = (environ.get("MAIL_FROM") or "").strip()
        if host:
            try:
                valid_address(sender)
            except InvalidAddress:
                raise ValueError("MAIL_FROM must be one plain email address when SMTP_HOST is set") from None
        return cls(
            host=host, port=int(environ.get("SMTP_PORT") or (465 if tls else 587)),
            username=environ.get("SMTP_USERNAME") or "", password=environ.get("SMTP_PASSWORD") or "",
            tls=tls, starttls=starttls, sender=sender,
            sender_name=one_line(environ.get("MAIL_FROM_NAME") or "", MAX_NAME), timeout=timeout,
        )

    def describe(self) -> str:
        """One line for the start-up log: where mail goes, never the password."""
        if not self.enabled:
            return "email off (SMTP_HOST is not set): replies after a chat ended are not emailed"
        security = "TLS" if self.tls else {"auto": "STARTTLS when offered", "true": "STARTTLS",
                                           "false": "no TLS"}[self.starttls]
        login = f", as {self.username}" if self.username else ""
        return f"email on: {self.host}:{self.port} ({security}{login}), from {self.sender}"


@dataclass(frozen=True)
class Outgoing:
    """One email to one customer, in words that may come from anyone."""

    to: str
    to_name: str
    subject: str
    body: str


def build_message(outgoing: Outgoing, settings: MailSettings, now: dt.datetime) -> EmailMessage:
    """The message, with every header from `outgoing` on one line; InvalidAddress when the
    recipient is not one plain address. The SMTP policy refuses any line break left over."""
    message = EmailMessage(policy=SMTP_POLICY)
    sender = valid_address(settings.sender)
    message["From"] = Address(display_name=settings.sender_name, addr_spec=sender)
    message["To"] = Address(display_name=one_line(outgoing.to_name, MAX_NAME), addr_spec=valid_address(outgoing.to))
    message["Subject"] = one_line(outgoing.subject, MAX_SUBJECT)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[1])
    message.set_content(outgoing.body)
    return message


class Mailer:
    """Sends one message per connection: replies after a chat are rare, and a pooled
    connection would only time out between them."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings

    @property
    def enabled(self) -> bool:
        return self.settings.enabled

    async def send(self, outgoing: Outgoing, now: dt.datetime) -> None:
        """Hand the message to the SMTP server, or MailError (InvalidAddress for a bad recipient)."""
        if not self.enabled:
            raise MailError("email is off (SMTP_HOST is not set)")
        message = build_message(outgoing, self.settings, now)
        s = self.settings
        try:
            await aiosmtplib.send(
                message, sender=s.sender, recipients=[outgoing.to], hostname=s.host, port=s.port,
                username=s.username or None, password=s.password or None, use_tls=s.tls,
                start_tls=False if s.tls else STARTTLS_CHOICES[s.starttls], timeout=s.timeout,
            )
        except aiosmtplib.SMTPException as error:
            raise MailError(f"{type(error).__name__}: {one_line(str(error), 160)}") from None
        except OSError as error:
            raise MailError(f"{type(error).__name__}: {one_line(str(error), 160)}") from None
        logger.info("email sent to the SMTP server %s:%s", s.host, s.port)
