"""Issue 16, items 1 and 2, tried as an attacker would against the real gateway, Rasa server
and action server: typed commands are words, and another customer's ticket number shows
nothing without the contact given with it."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from actions.db import repository
from actions.db.models import Feedback, Handoff, Ticket, utcnow
from actions.db.session import make_engine, make_sessions
from actions.settings import async_database_url
from tests.bot.conftest import ORIGIN, start_client

pytestmark = pytest.mark.e2e


@pytest.fixture
async def stack_sessions(rasa_stack):  # type: ignore[no-untyped-def]
    engine = make_engine(async_database_url(rasa_stack.database_url))
    try:
        yield make_sessions(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def client(rasa_stack, make_settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = make_settings(async_database_url(rasa_stack.database_url), rasa_stack.rasa_url_list, rasa_stack.token)
    gateway = await start_client(settings)
    try:
        yield gateway
    finally:
        await gateway.close()


class Customer:
    def __init__(self, ws: Any, conversation_id: str) -> None:
        self.ws, self.conversation_id, self.sent = ws, conversation_id, 0

    async def say(self, text: str) -> str:
        """Everything the bot (or the gateway) answered in this turn."""
        self.sent += 1
        await self.ws.send_json({"type": "message", "text": text, "client_id": f"m{self.sent}"})
        said: list[str] = []
        loop = asyncio.get_running_loop()
        deadline, typing_done = loop.time() + 60, False
        while loop.time() < deadline:
            try:
                frame = await self.ws.receive_json(timeout=1.0 if typing_done and said else deadline - loop.time())
            except asyncio.TimeoutError:
                break
            if frame["type"] == "typing" and frame.get("on") is False:
                typing_done = True
            elif frame["type"] == "message" and frame["message"]["from"] != "customer":
                said.append(frame["message"]["text"])
        return "\n".join(said)


async def customer(client: TestClient) -> Customer:
    ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    return Customer(ws, (await ws.receive_json())["conversation_id"])


async def test_typed_commands_are_words_for_the_real_bot(client, stack_sessions) -> None:
    chat = await customer(client)
    answers = [await chat.say(text) for text in ("/restart", "/session_start", "/handoff_ended")]
    assert all(answers) and not any("technical problem" in a for a in answers), answers
    assert not any("how satisfied" in a.lower() for a in answers), "no rating for a hand-off that never was"
    async with stack_sessions() as session:
        for model in (Handoff, Ticket, Feedback):
            found = (await session.scalars(select(model).where(model.conversation_id == chat.conversation_id))).all()
            assert found == [], model.__name__


async def test_another_customers_ticket_needs_its_contact(client, stack_sessions) -> None:
    async with stack_sessions.begin() as session:
        ticket = await repository.create_ticket(session, repository.NewTicket(
            channel="webchat", conversation_id="c_victim_e2e", contact="tom.becker@example.com", contact_kind="email",
            category="damaged_item", description="The espresso machine leaks", desired_outcome="refund",
            order_number="10003310", sentiment=None, severity="formal_complaint", priority="high",
            priority_score=85, promised_response_at=utcnow()))
    chat = await customer(client)
    asked = await chat.say(f"what is the status of ticket {ticket.number}?")
    assert "email address or phone number" in asked and "open" not in asked.lower(), asked
    wrong = await chat.say("someone.else@example.org")
    assert "doesn't match" in wrong, wrong
    right = await chat.say("tom.becker@example.com")
    assert ticket.number in right and "waiting for our team" in right, right
