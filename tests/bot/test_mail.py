"""Email over SMTP against a real local server (aiosmtpd): the message arrives with its
headers and words from emails.yml, the client logs in, and the password is in no log line,
no error and no repr."""
from __future__ import annotations

import base64
import dataclasses
import logging

import pytest

from caredesk.company import Company
from caredesk.mail import MailError, Mailer, MailSettings
from caredesk.settings import PROJECT_ROOT
from bot.emails import EmailTexts
from tests.bot.smtp_server import smtp_server, unreachable
from tests.conftest import FIXED_NOW

PASSWORD = "s3cret-smtp-Passw0rd"


@pytest.fixture
def texts(company: Company) -> EmailTexts:
    return EmailTexts.load(PROJECT_ROOT / "emails.yml", company.slot_values())


def secrets_in(records: list[logging.LogRecord], secret: str) -> list[str]:
    """Our log lines (aiosmtpd's own server log, `mail.log`, is the other side) that hold the
    secret or its base64 form, as AUTH PLAIN would carry it."""
    forms = {secret, base64.b64encode(secret.encode()).decode(),
             base64.b64encode(f"\0dana-mailer\0{secret}".encode()).decode()}
    return [r.getMessage() for r in records
            if not r.name.startswith("mail.log") and any(f in r.getMessage() for f in forms)]


async def test_a_reply_email_arrives_with_its_headers_and_the_login_used(texts, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    with smtp_server("dana-mailer", PASSWORD) as (inbox, settings):
        outgoing = texts.compose("reply", to="maria.lopez@example.com", customer_name="Maria Lopez",
                                 ticket_number="CD-100007", agent_name="Dana",
                                 reply="A new speaker is on its way.\nIt ships today.")
        await Mailer(settings).send(outgoing, FIXED_NOW)
        [received] = inbox.wait()
    assert inbox.logins == ["dana-mailer"]
    assert received.sender == "help@northwind-goods.example"
    assert received.recipients == ["maria.lopez@example.com"]
    message = received.message
    assert message["From"] == "Northwind Goods <help@northwind-goods.example>"
    assert message["To"] == "Maria Lopez <maria.lopez@example.com>"
    assert message["Subject"] == "Northwind Goods: a reply about your ticket CD-100007"
    assert message["Date"] == "Tue, 24 Nov 2026 09:00:00 +0000"
    assert message["Message-ID"].endswith("@northwind-goods.example>")
    body = message.get_content().replace("\r\n", "\n")
    assert body.startswith("Hello Maria Lopez,")
    assert "Dana from the Northwind Goods team has answered about your ticket CD-100007" in body
    assert "A new speaker is on its way.\nIt ships today." in body
    assert "northwind-goods.example" in body
    assert secrets_in(caplog.records, PASSWORD) == []
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.describe()


async def test_a_placeholder_typed_in_a_reply_stays_as_typed(texts) -> None:
    outgoing = texts.compose("reply", to="a@example.com", customer_name=None, ticket_number="CD-1",
                             agent_name="{shop_name}", reply="Your code is {ticket_number} {website}")
    assert "Your code is {ticket_number} {website}" in outgoing.body
    assert outgoing.body.startswith("Hello,\n")
    assert outgoing.to_name == ""


async def test_a_wrong_password_and_a_server_that_is_down_raise_without_the_secret(texts, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    outgoing = texts.compose("reply", to="a@example.com", customer_name=None, ticket_number="CD-1",
                             agent_name="Dana", reply="hello")
    with smtp_server("dana-mailer", "the-right-one") as (inbox, settings):
        with pytest.raises(MailError) as refused:
            await Mailer(dataclasses.replace(settings, password=PASSWORD)).send(outgoing, FIXED_NOW)
        assert inbox.messages == []
        down = unreachable(settings)
    assert refused.value.args[0].startswith("SMTPAuthenticationError")
    with pytest.raises(MailError) as unreached:
        await Mailer(dataclasses.replace(down, password=PASSWORD)).send(outgoing, FIXED_NOW)
    assert "Connect" in unreached.value.args[0] or "Connection" in unreached.value.args[0]
    for error in (refused.value, unreached.value):
        assert PASSWORD not in str(error) and error.__cause__ is None
    assert secrets_in(caplog.records, PASSWORD) == []


async def test_without_smtp_host_nothing_is_sent(texts) -> None:
    settings = MailSettings.from_env({})
    assert not settings.enabled and "SMTP_HOST is not set" in settings.describe()
    outgoing = texts.compose("reply", to="a@example.com", customer_name=None, ticket_number="CD-1",
                             agent_name="Dana", reply="hello")
    with pytest.raises(MailError, match="off"):
        await Mailer(settings).send(outgoing, FIXED_NOW)


def test_settings_from_the_environment() -> None:
    settings = MailSettings.from_env({
        "SMTP_HOST": "smtp.example.com", "SMTP_USERNAME": "desk", "SMTP_PASSWORD": PASSWORD,
        "MAIL_FROM": "help@northwind-goods.example", "MAIL_FROM_NAME": "Northwind\r\nBcc: x@example.com",
    })
    assert (settings.host, settings.port, settings.starttls, settings.tls) == ("smtp.example.com", 587, "auto", False)
    assert settings.sender_name == "Northwind Bcc: x@example.com", "folded onto one line"
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.describe()
    assert MailSettings.from_env({"SMTP_HOST": "h", "SMTP_TLS": "true", "MAIL_FROM": "a@example.com"}).port == 465
    with pytest.raises(ValueError, match="MAIL_FROM"):
        MailSettings.from_env({"SMTP_HOST": "h"})
    with pytest.raises(ValueError, match="MAIL_FROM"):
        MailSettings.from_env({"SMTP_HOST": "h", "MAIL_FROM": "a@example.com\r\nBcc: b@example.com"})
    with pytest.raises(ValueError, match="exclude"):
        MailSettings.from_env({"SMTP_HOST": "h", "MAIL_FROM": "a@example.com", "SMTP_TLS": "true",
                               "SMTP_STARTTLS": "true"})
    with pytest.raises(ValueError, match="SMTP_STARTTLS"):
        MailSettings.from_env({"SMTP_STARTTLS": "maybe"})
