"""The customer's WebSocket: stored before routed, history replayed, failures answered."""
import asyncio
import contextlib
import dataclasses

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import event, select

from caredesk.db.models import Conversation, Handoff, Message, Ticket
from bot.app import create_app
from bot.app_keys import HUB, ROUTER, SESSIONS
from tests.bot.conftest import ORIGIN, start_client


async def frames_until(ws, predicate, seconds: float = 10.0) -> list[dict]:
    seen = []
    async def collect():
        while True:
            frame = await ws.receive_json()
            seen.append(frame)
            if predicate(frame):
                return
    await asyncio.wait_for(collect(), seconds)
    return seen


def line(sender: str, text: str = ""):  # type: ignore[no-untyped-def]
    """A `frames_until` predicate: a transcript line from `sender` containing `text`."""
    def check(frame: dict) -> bool:
        message = frame.get("message") or {}
        return frame.get("type") == "message" and message.get("from") == sender and text in message.get("text", "")
    return check


def system_text(frame: dict) -> str:
    message = frame.get("message") or {}
    return message.get("text", "") if message.get("from") == "system" else ""


async def test_bot_down_customer_gets_a_polite_answer_a_ticket_and_a_queue_entry(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await ws.receive_json()
    assert hello["type"] == "hello" and hello["mode"] == "bot" and hello["history"] == []
    conversation_id = hello["conversation_id"]

    await ws.send_json({"type": "message", "text": "my parcel never came <b>help</b>", "client_id": "m1"})
    frames = await frames_until(ws, lambda f: "ticket" in system_text(f))
    echo = next(f for f in frames if f["type"] == "message" and f["message"]["from"] == "customer")
    assert echo["message"]["client_id"] == "m1" and echo["message"]["text"] == "my parcel never came <b>help</b>"
    polite = [system_text(f) for f in frames if system_text(f)]
    assert "technical problem" in polite[0]
    await ws.close()

    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        [handoff] = (await session.scalars(select(Handoff))).all()
        [ticket] = (await session.scalars(select(Ticket))).all()
        lines = (await session.scalars(select(Message).order_by(Message.id))).all()
    assert conversation.mode == "queued"
    assert handoff.reason == "bot_unavailable" and handoff.ticket_id == ticket.id
    assert ticket.number in polite[1] and ticket.description == "my parcel never came <b>help</b>"
    assert [m.sender for m in lines] == ["customer", "system", "system"]


async def test_a_new_chat_costs_one_statement_and_a_reconnect_finds_it(gateway, sessions) -> None:
    """Every page that opens the widget starts a conversation: one INSERT, no ORM session,
    no ping and no history query for a conversation that cannot have any."""
    app = gateway.server.app
    statements: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engines = {app[ROUTER].engine.sync_engine, app[SESSIONS].kw["bind"].sync_engine}
    for engine in engines:
        event.listen(engine, "before_cursor_execute", count)
    try:
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
    finally:
        for engine in engines:
            event.remove(engine, "before_cursor_execute", count)
    assert hello == {"type": "hello", "conversation_id": hello["conversation_id"], "resume": hello["resume"],
                     "mode": "bot", "agent_name": None, "history": [], "promised_response_at": None,
                     "promised_time": None, "email_replies": False, "texts": hello["texts"]}
    assert hello["texts"]["state_assistant"]  # the widget's words, from domain.yml (no statement)
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT INTO CONVERSATIONS")
    async with sessions() as session:
        stored = await session.get(Conversation, hello["conversation_id"])
    assert stored is not None and (stored.channel, stored.mode) == ("webchat", "bot") and stored.created_at

    await ws.send_json({"type": "message", "text": "is anyone there", "client_id": "n1"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.close()
    again = await gateway.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
    resumed = await again.receive_json()
    await again.close()
    assert resumed["conversation_id"] == hello["conversation_id"] and resumed["mode"] == "queued"
    assert resumed["promised_time"], "waiting: the header says by when"
    assert [line["text"] for line in resumed["history"]][0] == "is anyone there"


async def test_history_survives_a_reconnect_and_queued_messages_skip_the_bot(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    first = await ws.receive_json()
    conversation_id = first["conversation_id"]
    await ws.send_json({"type": "message", "text": "first", "client_id": "a"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.close()

    again = await gateway.ws_connect(f"/ws/chat?resume={first['resume']}", headers={"Origin": ORIGIN})
    hello = await again.receive_json()
    assert hello["conversation_id"] == conversation_id and hello["mode"] == "queued"
    assert [m["from"] for m in hello["history"]] == ["customer", "system", "system"]
    assert hello["history"][0]["text"] == "first"
    # Queued: the message is stored and echoed, and nothing else happens (no bot, no error).
    await again.send_json({"type": "message", "text": "hello?", "client_id": "b"})
    echo = await again.receive_json()
    assert echo["message"]["text"] == "hello?"
    await asyncio.sleep(0.3)
    async with sessions() as session:
        senders = (await session.scalars(select(Message.sender).order_by(Message.id))).all()
    assert senders == ["customer", "system", "system", "customer"]
    await again.close()

    stranger = await gateway.ws_connect("/ws/chat?resume=made-up", headers={"Origin": ORIGIN})
    fresh = await stranger.receive_json()
    assert fresh["conversation_id"] != conversation_id and fresh["history"] == []
    await stranger.close()


async def test_bad_frames_get_a_polite_error_and_the_socket_keeps_working(gateway) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    await ws.receive_json()
    await ws.send_str("this is not json")
    assert (await ws.receive_json())["type"] == "error"
    await ws.send_json({"type": "message", "text": "x" * 2001})
    too_long = await ws.receive_json()
    assert too_long["type"] == "error" and "too long" in too_long["text"]
    await ws.send_json({"type": "message", "text": "still there?"})
    assert (await ws.receive_json())["message"]["text"] == "still there?"
    await ws.close()


async def test_a_resent_message_is_stored_and_routed_once(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    conversation_id = (await ws.receive_json())["conversation_id"]
    await ws.send_json({"type": "message", "text": "hello", "client_id": "same"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.send_json({"type": "message", "text": "hello", "client_id": "same"})
    again = await ws.receive_json()
    assert again["message"]["client_id"] == "same"
    await ws.close()
    async with sessions() as session:
        customer_lines = (await session.scalars(select(Message).where(
            Message.conversation_id == conversation_id, Message.sender == "customer"))).all()
    assert len(customer_lines) == 1


class CountedWrites:
    """Wraps a transport and keeps what each write carried."""

    def __init__(self, transport) -> None:
        self.transport, self.writes = transport, []

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name: str):
        return getattr(self.transport, name)


async def test_a_turns_frames_leave_in_two_writes_in_order(sessions, database_url: str, make_settings) -> None:
    """The echo with "typing", then "typing off" with the replies: each batch in one write
    (one system call, one wake-up of the reader) instead of one write per frame."""
    async def webhook(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)
        return web.json_response([{"text": "Sorry to hear that."}, {"text": "Which order?", "buttons": [
            {"title": "Order 1", "payload": "/inform"}]}])

    rasa_app = web.Application()
    rasa_app.router.add_post("/webhooks/rest/webhook", webhook)
    rasa = TestServer(rasa_app, host="127.0.0.1")
    await rasa.start_server()
    gateway = await start_client(make_settings(database_url, rasa_url=str(rasa.make_url("")).rstrip("/")))
    try:
        ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await ws.receive_json())["conversation_id"]
        [socket] = gateway.server.app[HUB]._customers[conversation_id]
        # Count the writes that reach the real transport (under the batching stand-in, if any).
        writer = socket._writer
        batching = hasattr(writer.transport, "_transport")
        target, attribute = (writer.transport, "_transport") if batching else (writer, "transport")
        counted = CountedWrites(getattr(target, attribute))
        setattr(target, attribute, counted)
        await ws.send_json({"type": "message", "text": "my lamp is broken", "client_id": "w1"})
        frames = await frames_until(ws, lambda f: f.get("message", {}).get("text") == "Which order?")
        assert [(f["type"], f.get("on"), f.get("message", {}).get("from")) for f in frames] == [
            ("message", None, "customer"), ("typing", True, None), ("typing", False, None),
            ("message", None, "bot"), ("message", None, "bot"),
        ]
        assert len(counted.writes) == 2
        assert b"my lamp is broken" in counted.writes[0] and b"Which order?" in counted.writes[1]
        # Closing still completes its handshake both ways: the close frame is not held back.
        await ws.close()
        assert ws.close_code == 1000
        again = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        await again.receive_json()
        await gateway.server.app[HUB].close_all()
        closing = await again.receive()
        assert closing.type.name in ("CLOSE", "CLOSED", "CLOSING") and again.close_code == 1001
    finally:
        await gateway.close()
        await rasa.close()


def unlimited(settings):  # type: ignore[no-untyped-def]
    """No per-address or per-conversation message limit: a burst is all stored, none refused."""
    return dataclasses.replace(settings, limits=dataclasses.replace(
        settings.limits, address_messages_per_minute=0, chat_messages_per_minute=0))


@contextlib.asynccontextmanager
async def production_server(settings):  # type: ignore[no-untyped-def]
    """The gateway served as `python -m bot` serves it: a handler is not cancelled when its
    peer goes away (aiohttp's test server cancels it)."""
    runner = web.AppRunner(await create_app(settings), handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession(f"http://{host}:{port}") as client:
            yield runner.app, client
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("server", ["test server", "production server"])
async def test_every_frame_received_before_a_cut_connection_is_stored(
        server: str, sessions, database_url: str, make_settings) -> None:
    """80 frames into a queued conversation, then the connection is cut (no close frame):
    every message the gateway received is stored, the over-long ones are refused (with an
    error frame the dead socket cannot take), and none is dropped with the socket."""
    settings = unlimited(make_settings(database_url))
    if server == "test server":
        test_client = await start_client(settings)
        serving = contextlib.AsyncExitStack()
        serving.push_async_callback(test_client.close)
        app, client = test_client.server.app, test_client
    else:
        serving = contextlib.AsyncExitStack()
        app, client = await serving.enter_async_context(production_server(settings))
    async with serving:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await ws.receive_json())["conversation_id"]
        await ws.send_json({"type": "message", "text": "first", "client_id": "first"})
        await frames_until(ws, lambda f: "ticket" in system_text(f))  # Rasa is down: queued
        for n in range(80):
            text = "x" * 2001 if n % 10 == 5 else f"line {n}"
            await ws.send_json({"type": "message", "text": text, "client_id": f"m{n}"})
        ws._writer.transport.abort()
        assert await app[HUB].settle(30) == 0
    async with sessions() as session:
        lines = (await session.scalars(select(Message.text).where(
            Message.conversation_id == conversation_id, Message.sender == "customer").order_by(Message.id))).all()
    assert lines == ["first"] + [f"line {n}" for n in range(80) if n % 10 != 5]
