"""Resolving a ticket whose chat has ended tells the customer where they are (the widget,
Telegram, the ticket's email address: the "resolved" email) and, with the assistant, the bot
asks for the rating (Rasa's stand-in gets the gateway's /review). In a live chat nothing is
sent: the agent says it themselves."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import select

from caredesk.db.models import Feedback, Message
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from bot import lifecycle, store
from bot.console.auth import create_agent
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent, start_client
from tests.bot.smtp_server import smtp_server
from tests.bot.test_delivery import add_ticket, console_of, deliveries
from tests.bot.test_lifecycle import claim, hand_over, request
from tests.bot.test_webchat import frames_until


async def lines(sessions, conversation_id: str) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.scalars(select(Message).where(Message.conversation_id == conversation_id)
                                      .order_by(Message.id))).all()
    return [(m.sender, m.text) for m in rows]


async def test_resolving_in_the_console_tells_the_open_widget_and_emails_and_the_bot_asks_for_the_rating(
    sessions, database_url, make_settings, rasa
) -> None:
    await rasa.start()
    with smtp_server() as (inbox, mail):
        client = await start_client(dataclasses.replace(make_settings(database_url, rasa.url), mail=mail))
        try:
            chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
            conversation_id = (await chat.receive_json())["conversation_id"]
            number = await add_ticket(sessions, conversation_id, customer_email="maria.lopez@example.com")
            await add_agent(sessions, role="agent")
            console = await console_of(client)
            await console.send_json({"type": "open", "conversation_id": conversation_id})
            await frames_until(console, lambda f: f["type"] == "conversation")
            await console.send_json({"type": "ticket_status", "conversation_id": conversation_id,
                                     "status": "resolved"})
            told = await frames_until(chat, lambda f: f["type"] == "message" and f["message"]["from"] == "bot")
            [system] = [f["message"] for f in told if f["type"] == "message" and f["message"]["from"] == "system"]
            assert f"Dana from our team has resolved your ticket {number}" in system["text"]
            assert told[-1]["message"]["text"] == "You said /review", "the bot's rating question follows"
            [mail_sent] = inbox.wait()
            await chat.close()
            await console.close()
        finally:
            await client.close()
    assert [body["message"] for body in rasa.received] == ["/review"]
    assert rasa.received[0]["sender"] == conversation_id
    assert mail_sent.message["Subject"] == f"Northwind Goods: your ticket {number} is resolved"
    assert "has resolved your ticket" in mail_sent.message.get_content()
    assert [note for _, note in await deliveries(sessions, number)] == [
        "webchat: live", "email: sent (to maria.lopez@example.com)"]
    assert [s for s, _ in await lines(sessions, conversation_id)] == ["system", "bot"]


async def test_resolving_through_the_api_reaches_a_chat_that_is_not_open(gateway, sessions) -> None:
    async with sessions.begin() as session:
        await store.ensure_conversation(session, "web-res-1", "webchat")
    number = await add_ticket(sessions, "web-res-1", contact="+49 30 555 0199", contact_kind="phone")
    await add_agent(sessions, role="agent")
    await console_of(gateway)
    response = await gateway.patch(f"/api/tickets/{number}", json={"status": "resolved"}, headers={"Origin": ORIGIN})
    assert response.status == 200
    body = await response.json()
    assert [e["note"] for e in body["events"] if e["kind"] == "delivery"] == ["webchat: stored"]
    (sender, text), *_ = await lines(sessions, "web-res-1")
    assert sender == "system" and number in text
    assert await deliveries(sessions, number) == [("agent:dana", "webchat: stored")]


async def test_resolving_in_the_inbox_reaches_a_closed_conversation_on_telegram_too(
    sessions, database_url, make_settings
) -> None:
    from aiohttp.test_utils import TestServer

    from tests.bot.telegram_standin import BotApiStandIn

    api = BotApiStandIn()
    api_server = TestServer(api.app)
    await api_server.start_server()
    client = await start_client(dataclasses.replace(make_settings(database_url), telegram_token="123:TEST",
                                                    telegram_api_url=str(api_server.make_url("")).rstrip("/")))
    try:
        async with sessions.begin() as session:
            await store.ensure_conversation(session, "tg_660043", "telegram")
        number = await add_ticket(sessions, "tg_660043", contact="+49 30 555 0199", contact_kind="phone",
                                  channel="telegram")
        await hand_over(sessions, "tg_660043", request())
        await claim(sessions, "tg_660043", "eli", "Eli")
        async with sessions.begin() as session:  # Eli resolved the chat: closed, with the bot
            assert (await lifecycle.hand_back(session, "tg_660043", actor="agent:eli", resolve=True)) is not None
        await add_agent(sessions, role="agent")
        await console_of(client)
        response = await client.post(f"/api/inbox/tickets/{number}/status", json={"status": "resolved"},
                                     headers={"Origin": ORIGIN})
        assert response.status == 200, await response.text()
        told = await api.wait_for(lambda p: int(p["chat_id"]) == 660043)
        assert f"has resolved your ticket {number}" in told["text"]
        assert await deliveries(sessions, number) == [("agent:dana", "telegram: sent")]
        async with sessions() as session:
            conversation = await store.conversation(session, "tg_660043")
        assert conversation.mode == "closed"
    finally:
        await client.close()
        await api_server.close()


async def test_resolving_a_ticket_in_a_live_chat_sends_nothing_by_itself(gateway, sessions) -> None:
    async with sessions.begin() as session:
        await store.ensure_conversation(session, "web-res-2", "webchat")
    number = await add_ticket(sessions, "web-res-2")
    await hand_over(sessions, "web-res-2", request())
    await claim(sessions, "web-res-2", "dana", "Dana")
    await add_agent(sessions, role="agent")
    console = await console_of(gateway)
    await console.send_json({"type": "ticket_status", "conversation_id": "web-res-2", "status": "resolved"})
    await console.send_json({"type": "open", "conversation_id": "web-res-2"})  # handled after the change
    shown = (await frames_until(console, lambda f: f["type"] == "conversation"))[-1]["conversation"]
    assert shown["ticket"]["status"] == "resolved"
    assert await lines(sessions, "web-res-2") == []
    assert await deliveries(sessions, number) == []
    await console.close()


@pytest.mark.e2e
async def test_with_the_real_bot_the_customer_rates_after_the_ticket_is_resolved(rasa_stack, make_settings) -> None:
    """The real Rasa server and action server: the rating question the gateway's /review brings
    is the bot's own, and a tap on it is stored in `feedback`."""
    database_url = async_database_url(rasa_stack.database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    client = await start_client(make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                                              channel_secret=rasa_stack.channel_secret))
    try:
        chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await chat.receive_json())["conversation_id"]
        number = await add_ticket(sessions, conversation_id, contact="+49 30 555 0199", contact_kind="phone")
        async with sessions.begin() as session:
            await create_agent(session, f"dana-{conversation_id[:8]}", "Dana", PASSWORD, "agent")
        console = await console_of(client, f"dana-{conversation_id[:8]}")
        await console.send_json({"type": "open", "conversation_id": conversation_id})
        await frames_until(console, lambda f: f["type"] == "conversation")
        await console.send_json({"type": "ticket_status", "conversation_id": conversation_id, "status": "resolved"})
        asked = await frames_until(chat, lambda f: f["type"] == "message" and f["message"]["from"] == "bot"
                                   and bool(f["message"]["buttons"]), seconds=30)
        assert any(f["type"] == "message" and f["message"]["from"] == "system" and number in f["message"]["text"]
                   for f in asked)
        buttons = {b["title"]: b["payload"] for b in asked[-1]["message"]["buttons"]}
        await chat.send_json({"type": "message", "text": "5 - Excellent", "payload": buttons["5 - Excellent"],
                              "client_id": "r1"})
        comment = await frames_until(chat, lambda f: f["type"] == "message" and f["message"]["from"] == "bot"
                                     and bool(f["message"]["buttons"]), seconds=30)
        done = {b["title"]: b["payload"] for b in comment[-1]["message"]["buttons"]}
        await chat.send_json({"type": "message", "text": "No, that's all", "payload": done["No, that's all"],
                              "client_id": "r2"})
        await frames_until(chat, lambda f: f["type"] == "message" and f["message"]["from"] == "bot", seconds=30)
        async with sessions() as session:
            ratings = (await session.scalars(select(Feedback).where(Feedback.conversation_id == conversation_id))).all()
        assert [f.rating for f in ratings] == [5]
        await chat.close()
        await console.close()
    finally:
        await client.close()
        await engine.dispose()
