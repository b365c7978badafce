"""Presence (bot/presence.py): each console is online or away; only online agents count for
the "nobody is online" promise; the leads see who is which; the status crosses gateways
through the fan-out's presence hash (real Redis, DB 12) and an entry written by a gateway
from before statuses still counts."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import CookieJar
from sqlalchemy import select

from caredesk.db.models import Conversation, Handoff, Ticket
from bot.app_keys import HUB
from bot.hub import AgentConnection, Hub
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent
from tests.bot.test_webchat import frames_until, system_text
from tests.bot.two_hubs import SocketPairs, running_hubs, scratch_prefix, until

REDIS_URL = "redis://127.0.0.1:6379/12"
Console = aiohttp.ClientWebSocketResponse


@pytest.fixture
async def console_for(gateway) -> AsyncIterator[Callable[[str], Awaitable[Console]]]:  # type: ignore[no-untyped-def]
    """console_for("dana") -> dana's console socket (a browser of her own), after its first frames."""
    opened: list[aiohttp.ClientSession] = []

    async def open_as(username: str) -> Console:
        client = aiohttp.ClientSession(base_url=str(gateway.make_url("")), cookie_jar=CookieJar(unsafe=True),
                                       headers={"Origin": ORIGIN})
        opened.append(client)
        response = await client.post("/console/login", data={"username": username, "password": PASSWORD},
                                     allow_redirects=False)
        assert response.status == 303
        socket = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        hello = await socket.receive_json(timeout=5)
        assert hello["type"] == "hello" and hello["status"] == "online"
        return socket

    yield open_as
    for client in opened:
        await client.close()


async def next_of(socket: Console, kind: str, check: Callable[[dict[str, Any]], bool] = lambda f: True
                  ) -> dict[str, Any]:
    while True:
        frame = await socket.receive_json(timeout=5)
        if frame["type"] == kind and check(frame):
            return frame


async def say_away(socket: Console) -> None:
    await socket.send_json({"type": "status", "status": "away"})
    assert (await next_of(socket, "status"))["status"] == "away"


async def customer_waits(gateway) -> tuple[str, list[str]]:  # type: ignore[no-untyped-def]
    """A customer writes while Rasa is down: the chat goes to the queue. Returns its id and
    what the gateway told the customer."""
    chat = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await chat.receive_json())["conversation_id"]
    await chat.send_json({"type": "message", "text": "my parcel never came", "client_id": "m1"})
    frames = await frames_until(chat, lambda f: "follow up" in system_text(f))
    while True:  # and the notice after the technical-problem line, if there is one
        try:
            frames.append(await chat.receive_json(timeout=0.5))
        except asyncio.TimeoutError:
            break
    await chat.close()
    return conversation_id, [system_text(f) for f in frames if system_text(f)]


async def test_all_agents_away_the_customer_gets_the_ticket_and_the_promise(gateway, sessions, console_for) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    dana, lee = await console_for("dana"), await console_for("lee")
    await say_away(dana)
    await say_away(lee)
    assert gateway.server.app[HUB].agents_online() == 0

    conversation_id, said = await customer_waits(gateway)
    async with sessions() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
        ticket = await session.scalar(select(Ticket).where(Ticket.conversation_id == conversation_id))
        conversation = await session.get(Conversation, conversation_id)
    assert conversation.mode == "queued" and ticket is not None and handoff.ticket_id == ticket.id
    assert ticket.promised_response_at == handoff.promised_response_at
    assert any(ticket.number in line and "isn't online" in line for line in said), said


async def test_one_agent_online_no_ticket_is_made(gateway, sessions, console_for) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    dana, eli = await console_for("dana"), await console_for("eli")  # (kept: a dropped socket closes)
    await say_away(dana)  # eli stays online: someone will pick it up
    assert gateway.server.app[HUB].agents_online() == 1

    conversation_id, said = await customer_waits(gateway)
    async with sessions() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
        tickets = (await session.scalars(select(Ticket))).all()
    assert handoff.status == "waiting" and handoff.ticket_id is None and tickets == []
    assert not any("isn't online" in line for line in said), said
    assert not eli.closed and not dana.closed


async def test_the_lead_sees_who_is_online_or_away_and_an_agent_does_not(gateway, sessions, console_for) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    lee = await console_for("lee")
    first = await next_of(lee, "agents")
    assert first["agents"] == [{"username": "lee", "name": "Lee", "status": "online"}]
    dana = await console_for("dana")
    await say_away(dana)
    seen = await next_of(lee, "agents", lambda f: len(f["agents"]) == 2 and f["agents"][0]["status"] == "away")
    assert seen["agents"] == [{"username": "dana", "name": "Dana", "status": "away"},
                              {"username": "lee", "name": "Lee", "status": "online"}]
    await dana.send_json({"type": "status", "status": "online"})
    assert (await next_of(dana, "status"))["status"] == "online"
    await next_of(lee, "agents", lambda f: [a["status"] for a in f["agents"]] == ["online", "online"])
    frames = []
    with pytest.raises(asyncio.TimeoutError):
        while True:
            frames.append(await dana.receive_json(timeout=0.5))
    assert all(f["type"] != "agents" for f in frames), "an agent is not shown the team's presence"
    await dana.close()
    await next_of(lee, "agents", lambda f: [a["username"] for a in f["agents"]] == ["lee"])


async def test_two_consoles_of_one_agent_online_wins() -> None:
    hub = Hub()
    async with SocketPairs() as pairs:
        tab_1 = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        tab_2 = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        hub.add_agent(tab_1)
        hub.add_agent(tab_2)
        hub.set_status(tab_1, "away")
        assert hub.agents_online() == 1 and hub.presence()["dana"].status == "online"
        hub.set_status(tab_2, "away")
        assert hub.agents_online() == 0 and hub.presence()["dana"].status == "away"
        assert hub.consoles_open(), "away consoles still get the queue"
        with pytest.raises(ValueError):
            hub.set_status(tab_1, "offline")
        hub.remove_agent(tab_1)
        hub.remove_agent(tab_2)
        assert hub.presence() == {} and not hub.consoles_open()


async def test_status_crosses_gateways_and_an_old_gateways_entry_counts_online() -> None:
    async with scratch_prefix(REDIS_URL) as prefix, running_hubs(2, prefix, REDIS_URL) as (a, b), \
            SocketPairs() as pairs:
        told: list[int] = []
        a.hub.on_presence(lambda: told.append(1))
        dana = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        await asyncio.sleep(0.2)  # past both gateways' first presence write
        b.hub.add_agent(dana)
        await until(lambda: a.hub.agents_online() == 1, timeout=2)
        assert a.hub.presence()["dana"].name == "Dana" and told, "A was told at once"
        b.hub.set_status(dana, "away")
        await until(lambda: a.hub.agents_online() == 0, timeout=2)
        assert a.hub.presence()["dana"].status == "away" and a.hub.consoles_open()

        # A gateway from before statuses writes usernames only: its agents count as online.
        client = a.fanout._client
        await client.hset(f"{prefix}presence", "old-gateway",
                          json.dumps({"until_ms": 99_999_999_999_999, "agents": ["olga"]}))
        a.fanout.presence_changed()
        await until(lambda: a.hub.agents_online() == 1, timeout=2)
        assert a.hub.presence()["olga"].status == "online"
        stored = json.loads(await client.hget(f"{prefix}presence", b.fanout.id))
        assert stored["agents"] == ["dana"] and stored["away"] == ["dana"], "old gateways still read `agents`"


async def test_a_console_flipping_its_status_cannot_flood_redis() -> None:
    async with scratch_prefix(REDIS_URL) as prefix, running_hubs(1, prefix, REDIS_URL) as (a,), \
            SocketPairs() as pairs:
        written = 0
        script = a.fanout._presence

        async def counted(*args: Any, **kwargs: Any) -> Any:
            nonlocal written
            written += 1
            return await script(*args, **kwargs)

        a.fanout._presence = counted  # type: ignore[method-assign]
        dana = AgentConnection(socket=(await pairs.pair())[0], username="dana", name="Dana")
        a.hub.add_agent(dana)
        for flip in range(200):  # 200 changes in about half a second
            a.hub.set_status(dana, "away" if flip % 2 == 0 else "online")
            await asyncio.sleep(0.0025)
        await asyncio.sleep(0.3)
        assert written <= 12, written  # at most one write per PRESENCE_GAP (0.1 s)
        assert a.hub.presence()["dana"].status == "online"
