"""Issue 16 item 1 against the real Rasa and action server, through the real gateway: what a
customer types, or sends as a button they were not offered, never reaches the engine as an
intent. Typed `/restart`, `/session_start`, `/handoff_ended` get an ordinary answer (no
hand-off, no ticket); an unoffered rating payload stores no rating; a typed
`/track_order{...}` with a real order and its email reveals nothing of that order."""
from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from caredesk.db.models import Feedback, Handoff, Message, Ticket
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from tests.bot.conftest import ORIGIN, start_client
from tests.bot.test_webchat import frames_until

pytestmark = pytest.mark.e2e

ORDER, EMAIL = "10005533", "maria.lopez@example.com"  # the demo shop's shipped speaker
ORDER_DETAILS = ("Aria", "shipped", "Shipped", "59.00")


@pytest.fixture
async def stack_gateway(rasa_stack, make_settings) -> AsyncIterator[tuple[TestClient, Any]]:  # type: ignore[no-untyped-def]
    """The gateway on the stack's own database (where the action server writes tickets)."""
    database_url = async_database_url(rasa_stack.database_url)
    engine = make_engine(database_url)
    client = await start_client(make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                                              channel_secret=rasa_stack.channel_secret))
    try:
        yield client, make_sessions(engine)
    finally:
        await client.close()
        await engine.dispose()


class Customer:
    """One web chat; `say` returns the frames up to the bot's (or the gateway's) answer."""

    def __init__(self, socket: Any, conversation_id: str) -> None:
        self.socket, self.conversation_id = socket, conversation_id

    async def say(self, text: str, payload: str | None = None) -> list[dict[str, Any]]:
        frame: dict[str, Any] = {"type": "message", "text": text, "client_id": uuid.uuid4().hex}
        if payload is not None:
            frame["payload"] = payload
        await self.socket.send_json(frame)
        # "Typing off" leaves just before the turn's lines; a turn's lines leave together.
        frames = await frames_until(self.socket, lambda f: f.get("type") == "message"
                                    and (f.get("message") or {}).get("from") in ("bot", "system"), seconds=60)
        with contextlib.suppress(asyncio.TimeoutError):
            while True:
                frames.append(await self.socket.receive_json(timeout=0.5))
        return frames

    @staticmethod
    def answers(frames: list[dict[str, Any]], sender: str) -> list[str]:
        return [f["message"]["text"] for f in frames
                if f.get("type") == "message" and (f.get("message") or {}).get("from") == sender]


async def open_chat(client: TestClient) -> Customer:
    socket = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await socket.receive_json()
    return Customer(socket, hello["conversation_id"])


async def count(sessions: Any, model: type, conversation_id: str) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)
                                        .where(model.conversation_id == conversation_id)))


async def test_typed_internal_intents_are_words_not_commands(stack_gateway) -> None:  # type: ignore[no-untyped-def]
    """Each in a chat of its own: two misunderstandings in a row rightly bring a person, which
    is not what is tested here."""
    client, sessions = stack_gateway
    sent = [("/restart", None), ("/session_start", None), ("/handoff_ended", None), ("/nlu_fallback", None),
            ("restart", "/restart"), ("thanks", "/handoff_ended")]  # the last two as buttons nobody offered
    chats = []
    for text, payload in sent:
        chat = await open_chat(client)
        chats.append(chat)
        try:
            frames = await chat.say(text, payload)
        finally:
            await chat.socket.close()
        shown = f"{text!r} (payload {payload!r})"
        assert chat.answers(frames, "bot"), f"{shown} got an answer from the bot, as words do"
        assert not chat.answers(frames, "system"), f"{shown} was taken for an outage or a hand-off"
    for chat in chats:
        assert await count(sessions, Handoff, chat.conversation_id) == 0
        assert await count(sessions, Ticket, chat.conversation_id) == 0
    async with sessions() as session:
        stored = await session.scalar(select(Message.text).where(
            Message.conversation_id == chats[0].conversation_id, Message.sender == "customer"))
    assert stored == "/restart", "the transcript keeps what was typed"


async def test_an_unoffered_rating_button_stores_no_rating(stack_gateway) -> None:  # type: ignore[no-untyped-def]
    client, sessions = stack_gateway
    chat = await open_chat(client)
    try:
        for _ in range(3):
            await chat.say("1", payload='/inform{"agent_rating":"1"}')
            await chat.say("1", payload='/inform{"rating":"1"}')
    finally:
        await chat.socket.close()
    assert await count(sessions, Feedback, chat.conversation_id) == 0


async def test_a_typed_order_lookup_with_entities_reveals_nothing(stack_gateway) -> None:  # type: ignore[no-untyped-def]
    client, _ = stack_gateway
    chat = await open_chat(client)
    try:
        typed = f'/track_order{{"order_number": "{ORDER}", "email": "{EMAIL}"}}'
        frames = await chat.say(typed)
        frames += await chat.say("/affirm")
    finally:
        await chat.socket.close()
    said = "\n".join(chat.answers(frames, "bot"))
    assert said, "the bot answered"
    assert not any(detail in said for detail in ORDER_DETAILS), said
