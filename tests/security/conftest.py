"""Helpers for the security tests: several agents signed in to one gateway at once (one
cookie jar each), and chats that are waiting or claimed, with a ticket."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import CookieJar

from actions.db import repository
from actions.db.models import Conversation, utcnow
from bot import store
from tests.bot.conftest import ORIGIN, PASSWORD, gateway, make_settings  # noqa: F401 (fixtures)

SignIn = Callable[..., Awaitable[aiohttp.ClientSession]]


@pytest.fixture
async def sign_in(gateway) -> AsyncIterator[SignIn]:  # type: ignore[no-untyped-def]
    """sign_in("eli") -> a browser of its own, signed in to the test gateway as eli."""
    opened: list[aiohttp.ClientSession] = []

    async def open_as(username: str, password: str = PASSWORD) -> aiohttp.ClientSession:
        client = aiohttp.ClientSession(base_url=str(gateway.make_url("")), cookie_jar=CookieJar(unsafe=True),
                                       headers={"Origin": ORIGIN})
        opened.append(client)
        response = await client.post("/console/login", data={"username": username, "password": password},
                                     allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/console", username
        return client

    yield open_as
    for client in opened:
        await client.close()


async def open_console(client: aiohttp.ClientSession) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """The console socket, after its hello and first queue frames; returns (socket, hello)."""
    socket = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    hello = await socket.receive_json(timeout=5)
    assert hello["type"] == "hello"
    assert (await socket.receive_json(timeout=5))["type"] == "queue"
    return socket, hello


async def answer(socket: aiohttp.ClientWebSocketResponse, frame: dict[str, Any],
                 until: tuple[str, ...] = ("error", "conversation")) -> dict[str, Any]:
    """Send a console frame and return the first answer of a kind in `until`."""
    await socket.send_json(frame)
    while True:
        reply = await socket.receive_json(timeout=5)
        if reply["type"] in until:
            return reply


async def quiet(socket: aiohttp.ClientWebSocketResponse, seconds: float = 0.3) -> list[dict[str, Any]]:
    """Frames that arrive within `seconds` (for actions that answer nothing)."""
    frames = []
    try:
        while True:
            frames.append(await socket.receive_json(timeout=seconds))
    except asyncio.TimeoutError:
        return frames


async def make_chat(sessions, conversation_id: str, owner: tuple[str, str] | None,  # type: ignore[no-untyped-def]
                    ticket: bool = True) -> str | None:
    """A handed-over web chat, claimed by owner (username, name) or waiting; returns the
    ticket's number."""
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="agent" if owner else "queued",
                                 agent_username=owner[0] if owner else None, agent_name=owner[1] if owner else None))
        await session.flush()
        await store.add_message(session, conversation_id, "customer", "I need a person, please")
        number = ticket_id = None
        if ticket:
            made = await repository.create_ticket(session, repository.NewTicket(
                channel="webchat", conversation_id=conversation_id, contact="jo@example.org", contact_kind="email",
                category="late_delivery", description="still waiting", desired_outcome="refund",
                order_number=None, sentiment=-0.2, severity="formal_complaint", priority="normal",
                priority_score=60, promised_response_at=utcnow(),
            ))
            number, ticket_id = made.number, made.id
        handoff = await repository.create_handoff(
            session, conversation_id=conversation_id, channel="webchat", reason="asked", priority="normal",
            priority_score=60, summary={}, promised_response_at=utcnow(), ticket_id=ticket_id,
        )
        if owner:
            handoff.status, handoff.claimed_by, handoff.claimed_at = "claimed", owner[1], utcnow()
            handoff.agent_username = owner[0]
    return number
