"""Fixtures for the attacks tried here: the gateway fixtures of tests/bot; limits on both
backends, memory (one gateway) and real Redis (DB 5, a random key prefix per test, removed
afterwards); several agents signed in to one gateway at once (one cookie jar each), and chats
that are waiting or claimed, with a ticket."""
from __future__ import annotations

import asyncio
import dataclasses
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient

from caredesk.db import repository
from caredesk.db.models import Conversation, utcnow
from bot import store

from bot.settings import LimitSettings
from bot.limits_redis import connect
from tests.bot.conftest import ORIGIN, PASSWORD, gateway, make_settings, start_client  # noqa: F401 (fixtures)

REDIS_URL = "redis://127.0.0.1:6379/5"


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str
    redis_url: str
    prefix: str


async def _redis_answers() -> bool:
    client = connect(REDIS_URL)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", "", "")
        return
    if not await _redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-limits:{secrets.token_hex(6)}:"
    yield Backend("redis", REDIS_URL, prefix)
    client = connect(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


StartGateway = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def limited_gateway(sessions, database_url: str, make_settings, backend: Backend  # type: ignore[no-untyped-def]
                          ) -> AsyncIterator[StartGateway]:
    """Starts gateways on the test database with the given limits (the rest off), all on the
    same backend: on Redis, two of them share their counts; in memory, each has its own."""
    started: list[TestClient] = []

    async def start(trusted_proxies: int = 0, **limits: int) -> TestClient:
        off = {f.name: 0 for f in dataclasses.fields(LimitSettings) if not f.name.startswith("signin_w")}
        chosen = LimitSettings(**{**off, "signin_workers": 2, "signin_waiting": 8, **limits})
        settings = dataclasses.replace(make_settings(database_url), limits=chosen, redis_url=backend.redis_url,
                                       redis_prefix=backend.prefix or "unused:", trusted_proxies=trusted_proxies)
        client = await start_client(settings)
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            await client.close()


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
