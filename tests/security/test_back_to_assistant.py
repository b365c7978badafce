"""The waiting customer's "back to the assistant" frame (issue 19, item 5) as an attacker would
send it: it names no conversation, so a socket can only move its own chat; a flood of it is
counted like messages; it cannot take a chat away from the person who has it."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from caredesk.db.models import Conversation, ConversationEvent, Handoff, utcnow
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle
from tests.bot.conftest import ORIGIN


async def queued_chat(sessions, conversation_id: str) -> None:  # type: ignore[no-untyped-def]
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="bot"))
    request = HandoffRequest(reason="asked", priority="normal", priority_score=40, summary={},
                             promised_response_at=utcnow() + dt.timedelta(hours=1))
    async with sessions.begin() as session:
        await lifecycle.hand_over(session, conversation_id, request)


async def test_a_socket_cannot_send_someone_elses_waiting_chat_back(gateway, sessions) -> None:
    await queued_chat(sessions, "c_victim")
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    await ws.receive_json()
    for frame in ({"type": "back_to_assistant", "conversation_id": "c_victim"},
                  {"type": "back_to_assistant", "conversation": "c_victim", "resume": "x"}):
        await ws.send_json(frame)
    await ws.send_json({"type": "message", "text": "hi", "client_id": "e1"})  # its echo: the others were read
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] == "message" and frame["message"].get("client_id") == "e1":
            break
    await ws.close()
    async with sessions() as session:
        victim = await session.get(Conversation, "c_victim")
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == "c_victim"))
    assert (victim.mode, handoff.status) == ("queued", "waiting")


async def test_a_flood_of_back_frames_is_limited_like_messages(limited_gateway, sessions) -> None:
    gateway = await limited_gateway(chat_messages_per_minute=3)
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    chat = (await ws.receive_json())["conversation_id"]
    codes = []
    for _ in range(6):
        await ws.send_json({"type": "back_to_assistant"})
    await ws.send_json({"type": "message", "text": "hello", "client_id": "h1"})
    while True:
        frame = await ws.receive_json(timeout=5)
        if frame["type"] == "error":
            codes.append(frame.get("code"))
            if frame.get("client_id") == "h1":
                break
    await ws.close()
    assert codes.count("too_many_messages") == 4, "3 a minute: the 4th frame on is refused, the message too"
    async with sessions() as session:
        events = (await session.scalars(select(ConversationEvent).where(ConversationEvent.conversation_id == chat))).all()
    assert events == [], "a chat with the bot has nothing to go back from"
