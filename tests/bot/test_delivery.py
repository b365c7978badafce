"""An agent's reply on a ticket whose chat has ended reaches the customer where they are: the
open widget at once (and the transcript for the next time it opens), Telegram as a push
(through the Bot API stand-in), the ticket's email address through a real local SMTP server;
with the SMTP server down the line is kept and the failure is shown and recorded."""
from __future__ import annotations

import dataclasses
import re
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from caredesk.db import repository
from caredesk.db.models import AuditEntry, Message, Ticket, TicketEvent
from caredesk.mail import MailSettings
from bot import store
from bot.app_keys import DESK
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.smtp_server import smtp_server, unreachable
from tests.bot.telegram_standin import BotApiStandIn
from tests.bot.test_lifecycle import claim, hand_over, request
from tests.bot.test_webchat import frames_until
from tests.conftest import FIXED_NOW

CHAT = 660042
REPLY = "Hi Maria, a new speaker left our warehouse today."


async def add_ticket(sessions, conversation_id: str, *, contact: str = "maria.lopez@example.com",  # type: ignore[no-untyped-def]
                     contact_kind: str = "email", customer_email: str | None = None, channel: str = "webchat") -> str:
    async with sessions.begin() as session:
        customer = await repository.customer_by_email(session, customer_email) if customer_email else None
        ticket = await repository.create_ticket(session, repository.NewTicket(
            channel=channel, conversation_id=conversation_id, contact=contact, contact_kind=contact_kind,
            category="damaged_item", description="The speaker arrived with a cracked grille",
            desired_outcome="replacement", order_number="10005533", sentiment=-0.4, severity="formal_complaint",
            priority="normal", priority_score=60, promised_response_at=FIXED_NOW,
            customer_id=customer.id if customer else None,
        ))
        return str(ticket.number)


async def deliveries(sessions, number: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        ticket = await repository.ticket_by_number(session, number)
        rows = (await session.scalars(select(TicketEvent).where(
            TicketEvent.ticket_id == ticket.id, TicketEvent.kind == "delivery").order_by(TicketEvent.id))).all()
    return [(e.actor, e.note or "") for e in rows]


async def agent_lines(sessions, conversation_id: str) -> list[tuple[str, str | None]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.sender == "agent").order_by(Message.id))).all()
    return [(m.text, m.agent_name) for m in rows]


async def console_of(client: TestClient, username: str = "dana"):  # type: ignore[no-untyped-def]
    await log_in(client, username)
    console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    await frames_until(console, lambda f: f["type"] == "queue")
    return console


async def reply(console, conversation_id: str, text: str = REPLY) -> None:  # type: ignore[no-untyped-def]
    """Open the conversation in the console (as an agent does), then send the reply."""
    await console.send_json({"type": "open", "conversation_id": conversation_id})
    await frames_until(console, lambda f: f["type"] in ("conversation", "error"))
    await console.send_json({"type": "send", "conversation_id": conversation_id, "text": text})


@pytest.fixture
async def mail_gateway(sessions, database_url, make_settings) -> AsyncIterator[tuple[TestClient, Any]]:  # type: ignore[no-untyped-def]
    with smtp_server() as (inbox, mail):
        client = await start_client(dataclasses.replace(make_settings(database_url), mail=mail))
        try:
            yield client, inbox
        finally:
            await client.close()


async def test_a_reply_reaches_the_open_widget_and_the_ticket_email_and_stays_in_the_transcript(
    mail_gateway, sessions
) -> None:
    client, inbox = mail_gateway
    await add_agent(sessions, role="agent")
    chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await chat.receive_json()
    conversation_id = hello["conversation_id"]
    number = await add_ticket(sessions, conversation_id, customer_email="maria.lopez@example.com")
    console = await console_of(client)

    await reply(console, conversation_id)
    live = (await frames_until(chat, lambda f: f["type"] == "message"))[-1]["message"]
    assert (live["from"], live["agent_name"], live["text"]) == ("agent", "Dana", REPLY)
    shown = await frames_until(console, lambda f: f["type"] == "conversation")
    assert [e["note"] for e in shown[-1]["conversation"]["ticket"]["events"] if e["kind"] == "delivery"] == [
        "webchat: live", "email: sent (to maria.lopez@example.com)"]

    [mail] = inbox.wait()
    assert mail.recipients == ["maria.lopez@example.com"]
    assert number in mail.message["Subject"] and mail.message["To"] == "Maria Lopez <maria.lopez@example.com>"
    assert REPLY in mail.message.get_content()
    assert await agent_lines(sessions, conversation_id) == [(REPLY, "Dana")]
    assert await deliveries(sessions, number) == [
        ("agent:dana", "webchat: live"), ("agent:dana", "email: sent (to maria.lopez@example.com)")]
    async with sessions() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.number == number))
        audit = await session.scalar(select(AuditEntry).where(AuditEntry.action == "reply"))
    assert ticket.first_response_at is not None
    assert (audit.actor, audit.target, audit.detail["after_chat"], audit.detail["ticket"]) == (
        "dana", conversation_id, True, number)

    await chat.close()
    again = await client.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
    history = (await again.receive_json())["history"]
    assert [(m["from"], m["text"]) for m in history] == [("agent", REPLY)], "shown when the widget opens again"
    await again.close()
    await console.close()


async def test_a_telegram_customer_gets_the_reply_as_a_push(sessions, database_url, make_settings) -> None:
    api = BotApiStandIn()
    api_server = TestServer(api.app)
    await api_server.start_server()
    settings = dataclasses.replace(make_settings(database_url), telegram_token="123:TEST",
                                   telegram_api_url=str(api_server.make_url("")).rstrip("/"))
    client = await start_client(settings)
    try:
        conversation_id = f"tg_{CHAT}"
        async with sessions.begin() as session:
            await store.ensure_conversation(session, conversation_id, "telegram")
        number = await add_ticket(sessions, conversation_id, contact="+49 30 555 0199", contact_kind="phone",
                                  channel="telegram")
        await add_agent(sessions, role="agent")
        console = await console_of(client)
        await reply(console, conversation_id)
        pushed = await api.wait_for(lambda p: int(p["chat_id"]) == CHAT)
        assert pushed["text"] == f"Dana: {REPLY}"
        await frames_until(console, lambda f: f["type"] == "conversation")
        assert await deliveries(sessions, number) == [("agent:dana", "telegram: sent")], "no email: a phone contact"
        assert len(api.sent(CHAT)) == 1, "pushed once, not again through the hub's channel"
        assert await agent_lines(sessions, conversation_id) == [(REPLY, "Dana")]
        await console.close()
    finally:
        await client.close()
        await api_server.close()


async def test_with_the_smtp_server_down_the_reply_is_kept_and_the_agent_is_told(
    sessions, database_url, make_settings
) -> None:
    with smtp_server() as (_inbox, mail):
        down = unreachable(mail)
    client = await start_client(dataclasses.replace(make_settings(database_url), mail=down))
    try:
        async with sessions.begin() as session:
            await store.ensure_conversation(session, "web-ended-1", "webchat")
        number = await add_ticket(sessions, "web-ended-1", contact="tom.becker@example.com")
        await add_agent(sessions, role="agent")
        console = await console_of(client)
        await reply(console, "web-ended-1")
        error = (await frames_until(console, lambda f: f["type"] == "error"))[-1]
        assert "kept in the transcript" in error["text"] and "email" in error["text"]
        assert await agent_lines(sessions, "web-ended-1") == [(REPLY, "Dana")]
        [(actor, stored), (_, failed)] = await deliveries(sessions, number)
        assert (actor, stored) == ("agent:dana", "webchat: stored")
        assert failed.startswith("email: failed (to tom.becker@example.com: SMTPConnect")
        await console.close()
    finally:
        await client.close()


async def test_an_email_the_server_did_not_take_is_tried_again_later(sessions, database_url, make_settings) -> None:
    with smtp_server() as (_inbox, mail):
        down = unreachable(mail)
    client = await start_client(dataclasses.replace(make_settings(database_url), mail=down))
    client.server.app[DESK].delivery.retry_delays = (0.5, 1.0, 2.0)
    try:
        async with sessions.begin() as session:
            await store.ensure_conversation(session, "web-ended-r", "webchat")
        number = await add_ticket(sessions, "web-ended-r", contact="tom.becker@example.com")
        await add_agent(sessions, role="agent")
        console = await console_of(client)
        await reply(console, "web-ended-r")
        await frames_until(console, lambda f: f["type"] == "error")
        with smtp_server(port=down.port) as (inbox, _):  # the server is back
            shown = await frames_until(console, lambda f: f["type"] == "conversation" and any(
                "sent" in (e["note"] or "") for e in f["conversation"]["ticket"]["events"]), seconds=15)
            [mail_sent] = inbox.wait()
        assert mail_sent.recipients == ["tom.becker@example.com"] and REPLY in mail_sent.message.get_content()
        notes = [note for _, note in await deliveries(sessions, number)]
        assert notes[0] == "webchat: stored" and notes[1].startswith("email: failed (to tom.becker@example.com: ")
        assert re.fullmatch(r"email: sent \(to tom\.becker@example\.com, try [234]\)", notes[-1]), notes
        assert [e["note"] for e in shown[-1]["conversation"]["ticket"]["events"] if e["kind"] == "delivery"] == notes
        assert await agent_lines(sessions, "web-ended-r") == [(REPLY, "Dana")], "sent once, stored once"
        await console.close()
    finally:
        await client.close()


async def test_without_smtp_host_the_reply_is_stored_and_email_recorded_as_off(gateway, sessions) -> None:
    async with sessions.begin() as session:
        await store.ensure_conversation(session, "web-ended-2", "webchat")
    number = await add_ticket(sessions, "web-ended-2")
    await add_agent(sessions, role="agent")
    console = await console_of(gateway)
    await reply(console, "web-ended-2")
    error = (await frames_until(console, lambda f: f["type"] == "error"))[-1]
    assert "SMTP_HOST" in error["text"]
    assert [note for _, note in await deliveries(sessions, number)] == [
        "webchat: stored", "email: off (SMTP_HOST is not set)"]
    await console.close()


async def test_a_chat_someone_is_in_is_not_reached_this_way(gateway, sessions) -> None:
    """Queued: claim it first. Claimed by another agent: theirs. No ticket: nothing to reach."""
    for conversation_id in ("queued-1", "claimed-1", "no-ticket-1"):
        async with sessions.begin() as session:
            await store.ensure_conversation(session, conversation_id, "webchat")
    for conversation_id in ("queued-1", "claimed-1"):
        await add_ticket(sessions, conversation_id)
        await hand_over(sessions, conversation_id, request())
    await claim(sessions, "claimed-1", "eli", "Eli")
    await add_agent(sessions, role="agent")
    console = await console_of(gateway)
    for conversation_id, expected in (("queued-1", "Claim the conversation"), ("claimed-1", "Eli is handling"),
                                      ("no-ticket-1", "Claim the conversation")):
        await reply(console, conversation_id)
        error = (await frames_until(console, lambda f: f["type"] == "error"))[-1]
        assert expected in error["text"], conversation_id
        assert await agent_lines(sessions, conversation_id) == []
    await console.close()


async def test_settings_read_mail_from_the_environment() -> None:
    from bot.settings import Settings

    settings = Settings.from_env({"SMTP_HOST": "smtp.example.com", "MAIL_FROM": "help@example.com",
                                  "SMTP_PASSWORD": "hunter22-secret"})
    assert settings.mail == MailSettings.from_env({"SMTP_HOST": "smtp.example.com", "MAIL_FROM": "help@example.com",
                                                   "SMTP_PASSWORD": "hunter22-secret"})
    assert "hunter22-secret" not in repr(settings)
    assert not Settings.from_env({}).mail.enabled
