"""A customer waiting for a person is never parked (issue 19, item 5): the widget's header says
who they are talking to and, while they wait, when a person will answer; they can go back to
the assistant at any moment until a person claims the chat. Real gateway and database, a
stand-in of Rasa's REST channel (tests/bot/rasa_standin.py)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from caredesk.db.models import Conversation, ConversationEvent, Handoff, Message, utcnow
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle
from bot.app_keys import ROUTER
from tests.bot.conftest import ORIGIN, start_client
from tests.bot.test_webchat import frames_until, system_text

PROMISED = utcnow().replace(microsecond=0) + dt.timedelta(hours=2)


async def queue(sessions: Any, conversation_id: str) -> None:
    """The bot asked for a person (as the hand-off action does): the chat waits in the queue."""
    request = HandoffRequest(reason="not_understood", priority="normal", priority_score=40, summary={},
                             promised_response_at=PROMISED)
    async with sessions.begin() as session:
        await lifecycle.hand_over(session, conversation_id, request)


async def test_a_waiting_customer_goes_back_to_the_assistant_and_is_answered_by_it(
    sessions, database_url, make_settings, rasa, domain
) -> None:
    await rasa.start()
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
        chat, token = hello["conversation_id"], hello["resume"]
        texts = hello["texts"]
        assert texts["state_waiting_until"] == domain["responses"]["utter_gateway_widget_state_waiting_until"][0]["text"]
        assert "{promised_time}" in texts["state_waiting_until"] and "{agent_name}" in texts["state_agent"]
        await ws.close()

        await queue(sessions, chat)
        ws = await client.ws_connect(f"/ws/chat?resume={token}", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
        assert hello["mode"] == "queued"
        assert dt.datetime.fromisoformat(hello["promised_response_at"]) == PROMISED, "the header can say when"
        assert hello["promised_time"] and hello["promised_time"][-5:] == PROMISED.astimezone(
            client.server.app[ROUTER].company.timezone).strftime("%H:%M"), "in the company's clock"

        await ws.send_json({"type": "back_to_assistant"})
        frames = await frames_until(ws, lambda f: bool(system_text(f)))
        assert [(f["state"], f["transition"]) for f in frames if f["type"] == "state"] == [("bot", "customer_back")]
        assert system_text(frames[-1]) == domain["responses"]["utter_gateway_customer_back"][0]["text"]
        assert rasa.resumed == [chat], "Rasa's paused tracker is resumed"

        await ws.send_json({"type": "message", "text": "where is my parcel", "client_id": "w1"})
        answer = await frames_until(ws, lambda f: f.get("type") == "message" and f["message"]["from"] == "bot")
        assert answer[-1]["message"]["text"] == "You said where is my parcel"
        await ws.close()
    finally:
        await client.close()
    async with sessions() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == chat))
        conversation = await session.get(Conversation, chat)
        events = (await session.execute(select(ConversationEvent.transition, ConversationEvent.actor).where(
            ConversationEvent.conversation_id == chat).order_by(ConversationEvent.id))).all()
        line = await session.scalar(select(Message).where(Message.client_id == "w1"))
    assert (handoff.status, handoff.end_reason, handoff.claimed_by) == ("ended", "customer_back", None)
    assert conversation.mode == "bot" and line.outcome == "bot"
    assert [tuple(e) for e in events] == [("handed_over", "bot"), ("customer_back", "customer")]


async def test_once_a_person_has_the_chat_the_customer_stays_with_them_and_is_told(
    sessions, database_url, make_settings, rasa, domain
) -> None:
    await rasa.start()
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await queue(sessions, chat)
        async with sessions.begin() as session:
            handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == chat))
            await lifecycle.claim(session, chat, handoff, username="dana", name="Dana", now=utcnow(), taken_from=None)
        await ws.send_json({"type": "back_to_assistant"})
        [error] = [f for f in await frames_until(ws, lambda f: f["type"] == "error")]
        assert error["text"] == domain["responses"]["utter_gateway_customer_back_too_late"][0]["text"]
        async with sessions.begin() as session:
            await lifecycle.hand_back(session, chat, actor="agent:dana")
        await ws.send_json({"type": "back_to_assistant"})  # a stale button, with the bot already: no-op
        await ws.send_json({"type": "message", "text": "thanks", "client_id": "t1"})
        frames = await frames_until(ws, lambda f: f.get("type") == "message" and f["message"]["from"] == "bot")
        assert not [f for f in frames if f["type"] in ("error", "state")]
        await ws.close()
    finally:
        await client.close()
    async with sessions() as session:
        conversation = await session.get(Conversation, chat)
        events = (await session.scalars(select(ConversationEvent.transition).where(
            ConversationEvent.conversation_id == chat))).all()
    assert (conversation.mode, conversation.agent_name) == ("bot", None)
    assert list(events) == ["handed_over", "claimed", "handed_back"] and rasa.resumed == []


async def test_a_waiting_customer_leaves_an_email_for_the_reply_and_keeps_their_place(
    sessions, database_url, make_settings, rasa, domain
) -> None:
    from caredesk.db.models import Ticket, TicketEvent

    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await ws.send_json({"type": "leave_email", "email": "dana@example.com"})  # not waiting yet
        error = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
        assert error["text"] == domain["responses"]["utter_gateway_email_not_waiting"][0]["text"]
        await queue(sessions, chat)
        await ws.send_json({"type": "leave_email", "email": "not an address"})
        error = (await frames_until(ws, lambda f: f["type"] == "error"))[-1]
        assert error["text"] == domain["responses"]["utter_gateway_email_invalid"][0]["text"]
        await ws.send_json({"type": "leave_email", "email": " sam.lee@example.co.uk "})
        noted = system_text((await frames_until(ws, lambda f: bool(system_text(f))))[-1])
        await ws.close()
    finally:
        await client.close()
    async with sessions() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == chat))
        ticket = await session.get(Ticket, handoff.ticket_id)
        events = (await session.execute(select(TicketEvent.kind, TicketEvent.actor).where(
            TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all()
        conversation = await session.get(Conversation, chat)
    assert (ticket.contact, ticket.contact_kind, ticket.status) == ("sam.lee@example.co.uk", "email", "open")
    assert [tuple(e) for e in events] == [("created", "bot"), ("contact", "customer")]
    assert ticket.number in noted and "sam.lee@example.co.uk" in noted
    assert (conversation.mode, handoff.status) == ("queued", "waiting"), "still in the queue"
