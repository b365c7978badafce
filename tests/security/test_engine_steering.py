"""Customer text never steers the engine (issue 16, item 1), checked at the gateway: what a
recording stand-in for Rasa receives, and the rows left behind. The same attacks against the
real Rasa and action server are in test_engine_steering_e2e.py."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from caredesk.db.models import Conversation, Handoff, Message, Ticket
from bot.app_keys import ROUTER
from tests.bot.conftest import ORIGIN, start_client
from tests.bot.test_webchat import frames_until

OFFERED = [{"title": "Yes, please", "payload": "/affirm"}, {"title": "No", "payload": "/deny"},
           {"title": "Sneaky", "payload": "/handoff_ended"}]


class RecordingRasa:
    """Answers like Rasa's REST channel and keeps every message it was sent. A message
    "offer" gets buttons back; "silence" gets an empty answer (Rasa answered nothing)."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.resumed: list[str] = []

    async def webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body["message"])
        if body["message"] == "silence":
            return web.json_response([])
        if body["message"] == "offer":
            return web.json_response([{"text": "Shall I?", "buttons": OFFERED}])
        return web.json_response([{"text": f"You said {body['message']}"}])

    async def resume(self, request: web.Request) -> web.Response:
        self.resumed.append(request.match_info["sender"])
        return web.json_response({})


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[RecordingRasa, str]]:
    recorder = RecordingRasa()
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", recorder.webhook)
    app.router.add_post("/conversations/{sender}/tracker/events", recorder.resume)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield recorder, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def client(sessions, database_url: str, make_settings, rasa) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    gateway = await start_client(make_settings(database_url, rasa_url=rasa[1]))
    try:
        yield gateway
    finally:
        await gateway.close()


async def chat(client: TestClient) -> tuple[Any, str]:
    ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    return ws, (await ws.receive_json())["conversation_id"]


async def say(ws: Any, text: str, client_id: str, payload: str | None = None) -> list[dict]:
    frame: dict[str, Any] = {"type": "message", "text": text, "client_id": client_id}
    if payload is not None:
        frame["payload"] = payload
    await ws.send_json(frame)
    return await frames_until(ws, lambda f: f["type"] == "message" and f["message"]["from"] in ("bot", "system"))


async def rows(sessions, model, conversation_id: str) -> list[Any]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.scalars(
            select(model).where(model.conversation_id == conversation_id).order_by(model.id))).all())


async def test_typed_commands_reach_rasa_as_words_and_make_no_ticket(client, rasa, sessions) -> None:
    recorder, _ = rasa
    ws, conversation_id = await chat(client)
    for index, typed in enumerate(["/restart", "/session_start", "/handoff_ended",
                                   '/track_order{"order_number": "10004821", "email": "maria.lopez@example.com"}']):
        await say(ws, typed, f"t{index}")
    assert recorder.received[:3] == ["restart", "session_start", "handoff_ended"]
    assert not any(message.startswith("/") for message in recorder.received)
    assert await rows(sessions, Handoff, conversation_id) == []
    assert await rows(sessions, Ticket, conversation_id) == []
    stored = [m.text for m in await rows(sessions, Message, conversation_id) if m.sender == "customer"]
    assert stored[0] == "/restart", "the transcript keeps what the customer typed"


async def test_a_button_counts_only_when_the_latest_bot_turn_offered_it(client, rasa, sessions) -> None:
    recorder, _ = rasa
    ws, conversation_id = await chat(client)
    # Not offered at all: the words on the "button" are routed, not the payload.
    await say(ws, "Track it", "a", payload='/track_order{"order_number": "10004821"}')
    assert recorder.received[-1] == "Track it"
    await say(ws, "offer", "b")
    await say(ws, "Yes, please", "c", payload="/affirm")
    assert recorder.received[-1] == "/affirm", "a button the bot just offered is a payload"
    # The same button again: the bot's latest turn no longer offers it.
    await say(ws, "Yes, please", "d", payload="/affirm")
    assert recorder.received[-1] == "Yes, please"
    # Offered, but an internal intent: never from a customer.
    await say(ws, "offer", "e")
    await say(ws, "Sneaky", "f", payload="/handoff_ended")
    assert recorder.received[-1] == "Sneaky"
    payloads = [m.payload for m in await rows(sessions, Message, conversation_id) if m.sender == "customer"]
    assert payloads == [None, None, "/affirm", None, None, None], "only the accepted payload is stored"


async def test_a_gateway_that_restarted_reads_the_offer_from_the_transcript(
    client, rasa, sessions, database_url: str, make_settings
) -> None:  # type: ignore[no-untyped-def]
    """The latest turn's buttons are remembered by the gateway that stored them; another one
    (a restart, a reconnect elsewhere) reads them from the transcript, with the same answer."""
    recorder, rasa_url = rasa
    ws, conversation_id = await chat(client)
    await say(ws, "offer", "a")
    await ws.close()
    second = await start_client(make_settings(database_url, rasa_url))
    try:
        async with second.ws_connect("/ws/chat", headers={"Origin": ORIGIN}) as other:
            await other.receive_json()
        router = second.app[ROUTER]
        assert conversation_id not in router.offers  # a gateway that never saw this chat
        await router.customer_message(conversation_id, "Yes, please", payload="/affirm", client_id="b")
        assert recorder.received[-1] == "/affirm", "the offer was read from the transcript"
        await router.customer_message(conversation_id, "Yes, please", payload="/affirm", client_id="c")
        assert recorder.received[-1] == "Yes, please", "and is spent once the customer has answered"
    finally:
        await second.close()


async def test_a_button_offered_in_another_conversation_is_words_here(client, rasa) -> None:
    recorder, _ = rasa
    other, _ = await chat(client)
    await say(other, "offer", "o1")
    ws, _ = await chat(client)
    await say(ws, "hello", "m1")
    await say(ws, "Yes, please", "m2", payload="/affirm")
    assert recorder.received[-1] == "Yes, please"


async def test_an_empty_answer_is_not_an_outage(client, rasa, sessions) -> None:
    ws, conversation_id = await chat(client)
    frames = await say(ws, "silence", "s1")
    assert frames[-1]["message"]["from"] == "system" and "other words" in frames[-1]["message"]["text"]
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
    assert conversation.mode == "bot"
    assert await rows(sessions, Handoff, conversation_id) == [] and await rows(sessions, Ticket, conversation_id) == []


async def test_resolving_twice_at_once_ends_the_handoff_once(client, rasa, sessions) -> None:
    recorder, _ = rasa
    ws, conversation_id = await chat(client)
    async with sessions.begin() as session:
        conversation = await session.get(Conversation, conversation_id)
        conversation.mode, conversation.agent_username, conversation.agent_name = "agent", "dana", "Dana"
    router = client.server.app[ROUTER]
    results = await asyncio.gather(router.hand_back(conversation_id), router.hand_back(conversation_id),
                                   return_exceptions=True)
    assert sorted(r is True for r in results) == [False, True]
    assert recorder.received.count("/handoff_ended") == 1, "one hand-off ends in one rating request"
