"""End to end: the real Rasa answers a message id once (engine/channel.py), whichever of its
processes gets it and however often, and a gateway that starts after one died between Rasa's
answer and storing it stores that same answer, without a second turn."""
from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from caredesk.db.models import Message
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from tests.bot.conftest import ORIGIN, make_settings, start_client  # noqa: F401 (a fixture)
from tests.e2e.servers import Stack
from tests.e2e.test_rest_conversations import user_lines_in_tracker_store

pytestmark = pytest.mark.e2e


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def send(http: aiohttp.ClientSession, stack: Stack, engine: int, sender: str, text: str,
               message_id: str) -> list[dict[str, Any]]:
    url = stack.rasa_urls[engine % len(stack.rasa_urls)]
    body = {"sender": sender, "message": text, "message_id": message_id}
    async with http.post(f"{url}/webhooks/rest/webhook", json=body, headers=stack.channel_headers) as response:
        assert response.status == 200, stack.tails()
        return await response.json()


async def test_a_message_id_sent_again_makes_one_turn_and_the_same_replies(
    rasa_stack: Stack, http: aiohttp.ClientSession
) -> None:
    sender = f"once-{uuid.uuid4().hex[:8]}"
    first = await send(http, rasa_stack, 0, sender, "hello", "cd-1")
    again = await send(http, rasa_stack, 1, sender, "hello", "cd-1")  # the other process, if two run
    assert first and again == first
    # Side by side, to each process: one waits for the other's turn under the lock.
    both = await asyncio.gather(*(send(http, rasa_stack, n, sender, "I want to track my order", "cd-2")
                                  for n in range(2)))
    assert both[0] and both[0] == both[1]
    assert await user_lines_in_tracker_store(rasa_stack, sender) == ["hello", "I want to track my order"]


async def test_an_answer_lost_with_a_gateway_is_stored_by_the_next_one(rasa_stack: Stack, make_settings,  # noqa: F811
                                                                      http: aiohttp.ClientSession) -> None:
    database_url = async_database_url(rasa_stack.database_url)
    settings = make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                             channel_secret=rasa_stack.channel_secret)
    first = await start_client(settings)
    try:
        ws = await first.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await ws.close()
    finally:
        await first.close()
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    try:
        # What a gateway killed after Rasa answered leaves: the line stored without outcome,
        # Rasa's turn in its tracker, the answer nowhere else.
        async with sessions.begin() as session:
            line = Message(conversation_id=chat, sender="customer", text="hello", buttons=[])
            session.add(line)
            await session.flush()
            line_id = line.id
        answered = await send(http, rasa_stack, 0, chat, "hello", f"cd-{line_id}")

        second = await start_client(settings)  # its first pass sends the line again
        await second.close()
        async with sessions() as session:
            rows = (await session.scalars(select(Message).where(Message.conversation_id == chat)
                                          .order_by(Message.id))).all()
    finally:
        await engine.dispose()
    assert [(m.sender, m.outcome) for m in rows][0] == ("customer", "bot")
    assert [m.text for m in rows if m.sender == "bot"] == [r["text"] for r in answered if r.get("text")]
    assert await user_lines_in_tracker_store(rasa_stack, chat) == ["hello"], "one turn"
