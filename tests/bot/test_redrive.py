"""Every stored customer line is answered once: after a gateway dies between storing a line
and storing its answer, and after a fault that queued the conversation for a person (it goes
back to the bot when the fault clears, unless a person took it). Real gateway, real database,
a real RasaClient against a stand-in of Rasa's REST channel (tests/bot/rasa_standin.py)."""
from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from caredesk.db.models import Conversation, Handoff, Message, Ticket, utcnow
from bot import redrive
from bot.app_keys import HUB, REDRIVER, ROUTER
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.test_webchat import frames_until, system_text


async def store_pending_line(sessions: Any, conversation_id: str, text: str, age: dt.timedelta = dt.timedelta(0)) -> int:
    """A customer line as a gateway killed after storing it leaves it: no outcome."""
    async with sessions.begin() as session:
        line = Message(conversation_id=conversation_id, sender="customer", text=text, buttons=[],
                       created_at=utcnow() - age)
        session.add(line)
        await session.flush()
        return line.id


async def lines(sessions: Any, conversation_id: str) -> list[tuple[str, str, str | None]]:
    async with sessions() as session:
        rows = (await session.scalars(
            select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id))).all()
    return [(m.sender, m.text, m.outcome) for m in rows]


def bot_texts(frames: list[dict[str, Any]]) -> list[str]:
    return [f["message"]["text"] for f in frames if f["type"] == "message" and f["message"]["from"] == "bot"]


async def test_lines_left_unanswered_are_answered_once_by_the_next_gateway(
    sessions, database_url, make_settings, rasa
) -> None:
    await rasa.start()
    settings = make_settings(database_url, rasa_url=rasa.url)
    first = await start_client(settings)
    ws = await first.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await ws.receive_json()
    chat = hello["conversation_id"]
    await ws.close()
    await first.close()
    crashed = await store_pending_line(sessions, chat, "where is my parcel")
    async with sessions.begin() as session:  # and one from days ago: the customer has moved on
        session.add(Conversation(id="c_stale", channel="webchat", mode="bot"))
    await store_pending_line(sessions, "c_stale", "anyone?", age=dt.timedelta(days=2))

    # The next gateway answers it when it starts; the widget finds the answer in its history.
    second = await start_client(settings)
    try:
        assert await lines(sessions, chat) == [
            ("customer", "where is my parcel", "bot"), ("bot", "You said where is my parcel", None)]
        ws = await second.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
        history = (await ws.receive_json())["history"]
        assert [line["text"] for line in history] == ["where is my parcel", "You said where is my parcel"]

        # While it runs, a pass answers lines older than a minute, live to a connected widget,
        # and leaves younger ones alone (their answer may still be on its way).
        older = await store_pending_line(sessions, chat, "and my refund", age=dt.timedelta(minutes=2))
        younger = await store_pending_line(sessions, chat, "hello?")
        await second.server.app[REDRIVER].redrive(dt.timedelta(seconds=60))
        frames = await frames_until(ws, lambda f: f["type"] == "message" and f["message"]["from"] == "bot")
        assert bot_texts(frames) == ["You said and my refund"]
        assert (await lines(sessions, chat))[-2:] == [("customer", "hello?", None), ("bot", "You said and my refund", None)]
        await ws.close()
    finally:
        await second.close()

    third = await start_client(settings)
    await third.close()
    assert [row[1:] for row in await lines(sessions, chat) if row[0] == "customer"] == [
        ("where is my parcel", "bot"), ("and my refund", "bot"), ("hello?", "bot")]
    sent = [body["message_id"] for body in rasa.received]
    assert sent == [f"cd-{crashed}", f"cd-{older}", f"cd-{younger}"], "each line sent once, none twice"
    assert await lines(sessions, "c_stale") == [("customer", "anyone?", None)], "left for people to read"


async def test_a_line_answered_twice_at_once_is_stored_and_shown_once(sessions, database_url, make_settings, rasa) -> None:
    """Two gateways re-driving one line: Rasa answers its message id once, and only the first
    answer to reach the database is stored."""
    await rasa.start()
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        router = client.server.app[ROUTER]
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        line = await store_pending_line(sessions, chat, "cancel my order")
        await asyncio.gather(*(router.ask_bot(chat, "cancel my order", "webchat", line_id=line) for _ in range(2)))
        await client.server.app[HUB].to_customer(chat, {"type": "end of test"})  # after every frame of both
        frames = await frames_until(ws, lambda f: f["type"] == "end of test")
        await ws.close()
    finally:
        await client.close()
    assert await lines(sessions, chat) == [("customer", "cancel my order", "bot"), ("bot", "You said cancel my order", None)]
    assert rasa.turns == [(chat, f"cd-{line}")]
    assert bot_texts(frames) == ["You said cancel my order"]


async def queued_by_a_fault(client: Any, sessions: Any) -> tuple[Any, str, Handoff]:
    """A web chat whose first message met a Rasa that refuses connections, then one more
    message while it waits for a person."""
    ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    chat = (await ws.receive_json())["conversation_id"]
    await ws.send_json({"type": "message", "text": "my order is late", "client_id": "a"})
    await frames_until(ws, lambda f: "ticket" in system_text(f))
    await ws.send_json({"type": "message", "text": "hello?", "client_id": "b"})
    await frames_until(ws, lambda f: f["type"] == "message" and f["message"]["client_id"] == "b")
    assert [row[2] for row in await lines(sessions, chat) if row[0] == "customer"] == ["fault", "person"]
    async with sessions() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == chat))
    assert handoff is not None and handoff.reason == "bot_unavailable" and handoff.status == "waiting"
    return ws, chat, handoff


async def test_back_to_the_bot_when_the_fault_clears(sessions, database_url, make_settings, rasa) -> None:
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))  # nothing listens there yet
    try:
        ws, chat, handoff = await queued_by_a_fault(client, sessions)
        redriver = client.server.app[REDRIVER]
        assert await redriver.give_back() == 0, "still refused: the conversation stays with the agents"

        await rasa.start()
        assert await redriver.give_back() == 1
        frames = await frames_until(ws, lambda f: "You said hello?" in bot_texts([f]))
        await ws.close()
    finally:
        await client.close()
    async with sessions() as session:
        ended = await session.get(Handoff, handoff.id)
        conversation = await session.get(Conversation, chat)
        ticket = await session.scalar(select(Ticket).where(Ticket.conversation_id == chat))
    assert (ended.status, ended.end_reason, conversation.mode) == ("ended", "bot_back", "bot")
    assert ticket is not None and ticket.status == "open", "the promise made stays"
    said = [system_text(f) or (bot_texts([f]) or [""])[0] for f in frames if f["type"] == "message"]
    assert said[0].startswith("Thank you for your patience") and ticket.number in said[0]
    assert said[1:] == ["You said my order is late", "You said hello?"]
    customer = [row[1:] for row in await lines(sessions, chat) if row[0] == "customer"]
    assert customer == [("my order is late", "bot"), ("hello?", "bot")]
    assert [turn[1] for turn in rasa.turns] == [f"cd-{m}" for m in await customer_ids(sessions, chat)], \
        "the probe and the re-drive of the first line made one turn"


async def customer_ids(sessions: Any, chat: str) -> list[int]:
    async with sessions() as session:
        return list((await session.scalars(select(Message.id).where(
            Message.conversation_id == chat, Message.sender == "customer").order_by(Message.id))).all())


async def test_a_conversation_a_person_claimed_stays_with_them(sessions, database_url, make_settings, rasa) -> None:
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws, chat, handoff = await queued_by_a_fault(client, sessions)
        await ws.close()
        async with sessions.begin() as session:
            await session.execute(update(Handoff).where(Handoff.id == handoff.id).values(status="claimed"))
            await session.execute(update(Conversation).where(Conversation.id == chat).values(mode="agent"))
        await rasa.start()
        assert await client.server.app[REDRIVER].give_back() == 0
        await client.server.app[REDRIVER].redrive()
    finally:
        await client.close()
    assert rasa.received == []
    assert [row[2] for row in await lines(sessions, chat) if row[0] == "customer"] == ["fault", "person"]


async def test_a_line_still_waiting_when_an_agent_claims_is_theirs_not_the_bots(
    sessions, database_url, make_settings, rasa
) -> None:
    """A line left without an answer (a gateway died) in a conversation an agent then claims
    is the agent's to answer: after the hand-back the bot does not answer it late."""
    await rasa.start()
    await add_agent(sessions)
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await ws.close()
        async with sessions.begin() as session:
            session.add(Handoff(conversation_id=chat, channel="webchat", reason="asked", priority="normal",
                                priority_score=0, status="waiting", summary={},
                                promised_response_at=utcnow() + dt.timedelta(hours=1)))
            await session.execute(update(Conversation).where(Conversation.id == chat).values(mode="queued"))
        waiting = await store_pending_line(sessions, chat, "my parcel never came", age=dt.timedelta(minutes=5))
        await log_in(client)
        console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        await console.send_json({"type": "claim", "conversation_id": chat})
        await frames_until(console, lambda f: f["type"] == "conversation")
        assert (await lines(sessions, chat))[0] == ("customer", "my parcel never came", "person")
        assert await client.server.app[ROUTER].hand_back(chat)
        await client.server.app[REDRIVER].redrive(dt.timedelta(seconds=60))
        await console.close()
    finally:
        await client.close()
    assert f"cd-{waiting}" not in [body.get("message_id") for body in rasa.received]


async def test_the_running_gateway_notices_the_fault_clearing(
    sessions, database_url, make_settings, rasa, monkeypatch
) -> None:
    """No call from outside: the gateway's own passes (every 0.1 s here) try again, back off
    while Rasa refuses, and give the conversation back once it answers."""
    monkeypatch.setattr(redrive, "FIRST_BACKOFF", 0.3)
    client = await start_client(make_settings(database_url, rasa_url=rasa.url, redrive_seconds=0.1))
    try:
        ws, chat, _ = await queued_by_a_fault(client, sessions)
        await rasa.start()
        frames = await frames_until(ws, lambda f: "You said hello?" in bot_texts([f]))
        await ws.close()
    finally:
        await client.close()
    assert bot_texts(frames) == ["You said my order is late", "You said hello?"]


def test_lines_stored_before_outcomes_were_kept_are_not_sent_again(tmp_path) -> None:
    """Migration 0005: an old transcript is not answered anew (its lines become "migrated");
    and it goes back down and up again."""
    import sqlite3

    from alembic import command

    from caredesk.db.migrate import alembic_config
    from caredesk.settings import async_database_url

    path = tmp_path / "old.db"
    config = alembic_config(async_database_url(f"sqlite:///{path}"), configure_logging=False)
    command.upgrade(config, "0004")
    with sqlite3.connect(path) as db:
        db.execute("INSERT INTO conversations (id, channel, mode, created_at, updated_at) "
                   "VALUES ('c_old', 'webchat', 'bot', '2026-01-01', '2026-01-01')")
        db.executemany("INSERT INTO messages (conversation_id, sender, text, buttons, created_at) "
                       "VALUES ('c_old', ?, ?, '[]', '2026-01-01')", [("customer", "hi"), ("bot", "Hello!")])
    command.upgrade(config, "0005")
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT sender, outcome FROM messages ORDER BY id").fetchall() == [
            ("customer", "migrated"), ("bot", None)]
    command.downgrade(config, "0004")
    command.upgrade(config, "head")


async def test_a_line_the_widget_sends_again_after_its_gateway_died_is_answered_at_once(
    sessions, database_url, make_settings, rasa
) -> None:
    """The gateway stored the line and died before the bot answered; the widget reconnects
    (to another gateway) and sends it again with the same client_id. It is answered now, not
    at the next re-drive pass, once, and shown once."""
    await rasa.start()
    settings = make_settings(database_url, rasa_url=rasa.url)
    client = await start_client(settings)
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        hello = await ws.receive_json()
        chat = hello["conversation_id"]
        await ws.close()
        async with sessions.begin() as session:  # what the dead gateway left: stored, no outcome
            session.add(Message(conversation_id=chat, sender="customer", text="where is my parcel", buttons=[],
                                client_id="w-1"))
        ws = await client.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
        await ws.receive_json()
        await ws.send_json({"type": "message", "text": "where is my parcel", "client_id": "w-1"})
        frames = await frames_until(ws, lambda f: f["type"] == "message" and f["message"]["from"] == "bot")
        assert bot_texts(frames) == ["You said where is my parcel"]
        assert await lines(sessions, chat) == [
            ("customer", "where is my parcel", "bot"), ("bot", "You said where is my parcel", None)]
        await ws.send_json({"type": "message", "text": "where is my parcel", "client_id": "w-1"})  # and again
        await ws.send_json({"type": "message", "text": "thanks", "client_id": "w-2"})
        frames = await frames_until(ws, lambda f: f["type"] == "message" and f["message"]["from"] == "bot")
        assert bot_texts(frames) == ["You said thanks"], "an answered line is only confirmed again"
        assert len(await lines(sessions, chat)) == 4
        await ws.close()
    finally:
        await client.close()


async def resolved_chat(sessions: Any, conversation_id: str) -> None:
    """A conversation an agent resolved, through the state machine: closed."""
    from caredesk.handoff_request import HandoffRequest
    from bot import lifecycle

    request = HandoffRequest(reason="asked", priority="normal", priority_score=0, summary={},
                             promised_response_at=utcnow() + dt.timedelta(hours=1))
    async with sessions.begin() as session:
        _, handoff = await lifecycle.hand_over(session, conversation_id, request)
        await lifecycle.claim(session, conversation_id, handoff, username="dana", name="Dana", now=utcnow(),
                              taken_from=None)
        assert await lifecycle.hand_back(session, conversation_id, actor="agent:dana", resolve=True)


async def transitions(sessions: Any, conversation_id: str) -> list[str]:
    from caredesk.db.models import ConversationEvent

    async with sessions() as session:
        return list((await session.scalars(select(ConversationEvent.transition).where(
            ConversationEvent.conversation_id == conversation_id).order_by(ConversationEvent.id))).all())


async def test_a_customer_writing_after_the_chat_was_resolved_reopens_it_with_the_bot(
    sessions, database_url, make_settings, rasa
) -> None:
    await rasa.start()
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await resolved_chat(sessions, chat)
        await ws.send_json({"type": "message", "text": "one more thing", "client_id": "r1"})
        frames = await frames_until(ws, lambda f: "You said one more thing" in bot_texts([f]))
        assert [(f["state"], f["transition"]) for f in frames if f["type"] == "state"] == [("bot", "reopened")]
        # A line stored for a resolved chat by a gateway that died before routing it is
        # answered by the next pass, and reopens the conversation too.
        await resolved_chat(sessions, chat)
        await store_pending_line(sessions, chat, "still there?", age=dt.timedelta(seconds=30))
        await client.server.app[REDRIVER].redrive(dt.timedelta(seconds=5))
        await frames_until(ws, lambda f: "You said still there?" in bot_texts([f]))
        await ws.close()
    finally:
        await client.close()
    assert (await lines(sessions, chat))[-4:] == [
        ("customer", "one more thing", "bot"), ("bot", "You said one more thing", None),
        ("customer", "still there?", "bot"), ("bot", "You said still there?", None)]
    async with sessions() as session:
        assert (await session.get(Conversation, chat)).mode == "bot"
    assert await transitions(sessions, chat) == ["handed_over", "claimed", "resolved", "reopened"] * 2
