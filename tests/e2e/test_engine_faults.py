"""End to end with the real stack: a Rasa process that hangs (SIGSTOP) behind the real
gateway, and the tracker store's database dropping Rasa's connections in the middle of a
complaint. The probes are the shipped defaults (every 2 s, 3 s time-out); the reply deadline
is 8 s instead of 15 to keep the test short."""
from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select, text

from caredesk.db.models import Conversation, Handoff, Message, Ticket
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from bot.app_keys import ROUTER
from tests.bot.conftest import ORIGIN, make_settings, start_client  # noqa: F401 (a fixture)
from tests.bot.test_webchat import frames_until
from tests.e2e.servers import Stack
from tests.e2e.test_rest_conversations import Chat, payloads, rows, texts

pytestmark = pytest.mark.e2e


def said(frame: dict[str, Any], sender: str, contains: str = "") -> bool:
    message = frame.get("message") or {}
    return frame.get("type") == "message" and message.get("from") == sender and contains in message.get("text", "")


async def until(condition: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_a_stopped_rasa_process_fails_over_its_waiting_message_and_the_others_carry_on(
    rasa_stack: Stack, make_settings: Any,
) -> None:
    if len(rasa_stack.rasa_urls) < 2:
        pytest.skip("the embedded default runs one Rasa process (no Redis here)")
    database_url = async_database_url(rasa_stack.database_url)
    settings = make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                             channel_secret=rasa_stack.channel_secret)
    settings = dataclasses.replace(settings, rasa_reply_timeout=8.0, rasa_health_interval=2.0,
                                   rasa_health_timeout=3.0)
    client = await start_client(settings)
    rasa = client.server.app[ROUTER].rasa
    stopped_url = rasa_stack.rasa_urls[0]
    stopped = next(s.process for s in rasa_stack.services if s.name == "rasa")
    chats: dict[str, Any] = {}
    try:
        # Customers until each process has at least two of them, each greeted by the bot.
        while sum(rasa.engines_for(c)[0] == stopped_url for c in chats) < 2 or \
                sum(rasa.engines_for(c)[0] != stopped_url for c in chats) < 2:
            chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
            conversation_id = (await chat.receive_json())["conversation_id"]
            await chat.send_json({"type": "message", "text": "hello", "client_id": "1"})
            await frames_until(chat, lambda f: said(f, "bot", "Northwind"))
            chats[conversation_id] = chat
            assert len(chats) <= 12, "the gateway spreads conversations over both processes"
        on_stopped = [c for c in chats if rasa.engines_for(c)[0] == stopped_url]
        on_other = [c for c in chats if rasa.engines_for(c)[0] != stopped_url]

        os.kill(stopped.pid, signal.SIGSTOP)
        began = time.monotonic()
        waiting = on_stopped[0]  # writes at once, before the probes notice: it waits for the deadline
        await chats[waiting].send_json({"type": "message", "text": "where is my order?", "client_id": "2"})
        for conversation_id in on_other:  # the other process's customers are answered meanwhile
            await chats[conversation_id].send_json({"type": "message", "text": "what are your opening hours?",
                                                    "client_id": "2"})
            asked = time.monotonic()
            await frames_until(chats[conversation_id], lambda f: said(f, "bot"), seconds=10)
            assert time.monotonic() - asked < settings.rasa_reply_timeout, "answered by the healthy process"
        # Its message carries a message id (Rasa answers an id once), so at the deadline it goes
        # to the healthy process: sent right after the stop, it never reached the stopped one's
        # lock, and the customer is answered by the bot, not handed to a person.
        await frames_until(chats[waiting], lambda f: said(f, "bot"), seconds=settings.rasa_reply_timeout + 15)
        heard = time.monotonic() - began
        assert settings.rasa_reply_timeout <= heard < settings.rasa_reply_timeout + 10, f"answered after {heard:.1f} s"
        await until(lambda: not rasa.health.is_up(stopped_url), seconds=10)  # the probes' two misses

        sessions = make_sessions(engine := make_engine(database_url))
        async with sessions() as session:
            conversation = await session.get(Conversation, waiting)
            handoffs = (await session.scalars(select(Handoff).where(Handoff.conversation_id == waiting))).all()
            answered = await session.scalar(select(Message.outcome).where(
                Message.conversation_id == waiting, Message.text == "where is my order?"))
        await engine.dispose()
        assert conversation is not None and conversation.mode == "bot" and handoffs == []
        assert answered == "bot", "the line's outcome is the bot's answer, given once"

        # The stopped process's other customer, and a new one, are answered by the healthy one.
        moved = on_stopped[1]
        await chats[moved].send_json({"type": "message", "text": "what are your opening hours?", "client_id": "2"})
        await frames_until(chats[moved], lambda f: said(f, "bot"), seconds=10)
        newcomer = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chats[(await newcomer.receive_json())["conversation_id"]] = newcomer
        await newcomer.send_json({"type": "message", "text": "hello", "client_id": "1"})
        await frames_until(newcomer, lambda f: said(f, "bot", "Northwind"), seconds=10)
    finally:
        os.kill(stopped.pid, signal.SIGCONT)
        try:
            await until(lambda: rasa.health.is_up(stopped_url), seconds=10)
        finally:
            for chat in chats.values():
                await chat.close()
            await client.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


async def terminate_rasas_connections(stack: Stack) -> int:
    """pg_terminate_backend for every connection to the tracker store's database (Rasa's)."""
    engine = make_engine(async_database_url(stack.tracker_store_url))
    try:
        async with engine.connect() as connection:
            return int((await connection.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))).scalar_one())
    finally:
        await engine.dispose()


async def test_a_complaint_survives_rasas_database_connections_being_cut(rasa_stack: Stack, http) -> None:
    if not rasa_stack.tracker_store_url.startswith("postgres"):
        pytest.skip("the tracker store is SQLite here (TEST_DATABASE_URL unset): no connection to cut")
    chat = Chat(http, rasa_stack)
    assert "Northwind" in texts(await chat.say("hello"))
    replies = await chat.say("I want to make a complaint")
    assert "/deny" in payloads(replies)
    replies = await chat.say("10005533")
    assert '/inform{"complaint_category":"damaged_item"}' in payloads(replies)
    assert await terminate_rasas_connections(rasa_stack) >= 1, "Rasa's pooled connections were cut"
    replies = await chat.say('/inform{"complaint_category":"damaged_item"}')
    assert "what happened" in texts(replies).lower(), "the form goes on: the conversation was not reset"
    replies = await chat.say("The speaker arrived with a cracked grille and it rattles")
    replies = await chat.say('/inform{"desired_outcome":"replacement"}')
    assert "email" in texts(replies).lower()
    replies = await chat.say("you can email me at maria.lopez@example.com")
    assert "cracked grille" in texts(replies)
    assert await terminate_rasas_connections(rasa_stack) >= 1
    replies = await chat.say("/affirm")
    [ticket] = await rows(rasa_stack, Ticket, chat.sender)
    assert ticket.number in texts(replies), "the ticket is made and the customer told its number"
    assert (ticket.category, ticket.order_number) == ("damaged_item", "10005533")
