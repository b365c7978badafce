"""Email headers cannot be steered by what a customer typed: a line break in the customer's
name or the ticket's description (which a subject may quote) is folded onto one line, so no
Bcc or other header is added and the message goes to the ticket's address alone; a contact
that is no plain address is refused, not mailed. And a reply after the chat is work: a
trainer cannot send one."""
from __future__ import annotations

import dataclasses

from sqlalchemy import select

from caredesk.db.models import Customer, Message
from caredesk.mail import InvalidAddress, MailSettings, Outgoing, build_message
from bot import store
from bot.emails import EmailTexts
from caredesk.db.models import Ticket
from caredesk.settings import PROJECT_ROOT
from bot.app_keys import DESK
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.smtp_server import smtp_server
from tests.bot.test_delivery import REPLY, add_ticket, agent_lines, console_of, deliveries, reply
from tests.bot.test_webchat import frames_until
from tests.conftest import FIXED_NOW

INJECTED = "\r\nBcc: victim@example.net\r\nX-Injected: yes"
SENDER = MailSettings(host="127.0.0.1", sender="help@northwind-goods.example", sender_name="Northwind Goods")


def test_line_breaks_in_names_and_subjects_are_folded_and_bad_addresses_refused() -> None:
    for breaker in ("\r\n", "\n", "\r", "\u2028", "\x85", "\x00"):
        message = build_message(Outgoing(to="maria@example.com", to_name=f"Maria{breaker}Bcc: victim@example.net",
                                         subject=f"About CD-1{breaker}X-Injected: yes", body="hi"),
                                SENDER, FIXED_NOW)
        raw = message.as_bytes()
        header_names = [line.split(b":")[0] for line in raw.split(b"\r\n\r\n")[0].split(b"\r\n")
                        if line and not line.startswith((b" ", b"\t"))]
        assert b"Bcc" not in header_names and b"X-Injected" not in header_names, repr(breaker)
        assert message["Subject"] == "About CD-1 X-Injected: yes"
    for address in ("maria@example.com\r\nBcc: victim@example.net", "maria@example.com, victim@example.net",
                    "Maria <maria@example.com>", "maria@example.com\n", "", "a" * 250 + "@example.com"):
        try:
            build_message(Outgoing(to=address, to_name="", subject="s", body="b"), SENDER, FIXED_NOW)
        except InvalidAddress:
            continue
        raise AssertionError(f"{address!r} was accepted")


async def test_a_customer_name_and_description_with_headers_in_them_reach_one_address(
    sessions, database_url, make_settings, company
) -> None:
    with smtp_server() as (inbox, mail):
        settings = dataclasses.replace(make_settings(database_url), mail=mail)
        client = await start_client(settings)
        # A desk whose subject quotes the description (a placeholder emails.yml offers).
        texts = client.server.app[DESK].delivery.emails
        client.server.app[DESK].delivery.emails = dataclasses.replace(texts, templates={
            "reply": {"subject": "Ticket {ticket_number}: {description}", "body": "{greeting}\n\n{reply}"}})
        try:
            async with sessions.begin() as session:
                session.add(Customer(email="maria.evil@example.com", name=f"Maria{INJECTED}", tier="regular"))
                await store.ensure_conversation(session, "web-hdr-1", "webchat")
            number = await add_ticket(sessions, "web-hdr-1", contact="maria.evil@example.com",
                                      customer_email="maria.evil@example.com")
            async with sessions.begin() as session:
                ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
                ticket.description = f"cracked grille{INJECTED}"
            await add_agent(sessions, role="agent")
            console = await console_of(client)
            await reply(console, "web-hdr-1")
            await frames_until(console, lambda f: f["type"] == "conversation")
            [received] = inbox.wait()
            await console.close()
        finally:
            await client.close()
    assert received.recipients == ["maria.evil@example.com"]
    message = received.message
    assert message["Bcc"] is None and message["X-Injected"] is None
    assert message["Subject"].strip() == f"Ticket {number}: cracked grille Bcc: victim@example.net X-Injected: yes"
    assert message["To"].addresses[0].addr_spec == "maria.evil@example.com"
    assert message["To"].addresses[0].display_name == "Maria Bcc: victim@example.net X-Injected: yes"


async def test_a_contact_that_is_no_plain_address_is_refused_not_mailed(sessions, database_url, make_settings) -> None:
    with smtp_server() as (inbox, mail):
        client = await start_client(dataclasses.replace(make_settings(database_url), mail=mail))
        try:
            async with sessions.begin() as session:
                await store.ensure_conversation(session, "web-hdr-2", "webchat")
            number = await add_ticket(sessions, "web-hdr-2", contact="maria@example.com\r\nBcc: victim@example.net")
            await add_agent(sessions, role="agent")
            console = await console_of(client)
            await reply(console, "web-hdr-2")
            error = (await frames_until(console, lambda f: f["type"] == "error"))[-1]
            await console.close()
        finally:
            await client.close()
    assert inbox.messages == []
    assert "not a plain email address" in error["text"]
    assert [note for _, note in await deliveries(sessions, number)] == [
        "webchat: stored", "email: failed (not a plain email address)"]
    assert await agent_lines(sessions, "web-hdr-2") == [(REPLY, "Dana")], "the reply itself is kept"


async def test_a_reply_after_the_chat_is_checked_like_any_other(gateway, sessions) -> None:
    """Trainers get no console at all; an over-long reply and an unknown conversation are
    refused before anything is stored or sent."""
    async with sessions.begin() as session:
        await store.ensure_conversation(session, "web-hdr-3", "webchat")
    number = await add_ticket(sessions, "web-hdr-3")
    await add_agent(sessions, username="tara", name="Tara", role="trainer")
    await log_in(gateway, "tara")
    refused = await gateway.get("/ws/console", headers={"Origin": ORIGIN, "Upgrade": "websocket",
                                                        "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
                                                        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert refused.status == 403
    await add_agent(sessions, role="agent")
    console = await console_of(gateway)
    await reply(console, "web-hdr-3", "x" * 2001)
    assert "at most" in (await frames_until(console, lambda f: f["type"] == "error"))[-1]["text"]
    await console.send_json({"type": "send", "conversation_id": "no-such-chat", "text": REPLY})
    assert "does not exist" in (await frames_until(console, lambda f: f["type"] == "error"))[-1]["text"]
    async with sessions() as session:
        assert (await session.scalars(select(Message).where(Message.sender == "agent"))).all() == []
    assert await deliveries(sessions, number) == []
    await console.close()


def test_email_texts_fill_each_value_once(company) -> None:
    texts = EmailTexts.load(PROJECT_ROOT / "emails.yml", company.slot_values())
    outgoing = texts.compose("reply", to="a@example.com", customer_name="{shop_name}", ticket_number="CD-1",
                             agent_name="Dana", reply="x", description="{website}")
    assert outgoing.to_name == "{shop_name}" and "Hello {shop_name}," in outgoing.body
