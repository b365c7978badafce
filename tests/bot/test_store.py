"""The per-message database paths: a customer line stored once however often the client
resends it, and a lost database connection costing nobody their message."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from caredesk.db.models import Conversation, Message
from caredesk.db.session import autocommit, make_engine, retry_if_reconnected
from bot import store


async def lines_in(sessions, conversation_id: str) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
        ) or 0)


@pytest.fixture
async def engine(sessions, database_url: str) -> AsyncIterator[AsyncEngine]:  # type: ignore[no-untyped-def]
    """The gateway's per-message engine on the test database, with two web conversations."""
    async with sessions.begin() as session:
        session.add_all([Conversation(id=cid, channel="webchat", mode="bot") for cid in ("c_store", "c_lines")])
    made = autocommit(make_engine(database_url, ping=False))
    yield made
    await made.dispose()


async def test_a_resent_client_id_is_stored_once_and_confirmed_again(sessions, engine: AsyncEngine) -> None:
    async def receive(conversation_id: str, text: str, payload: str | None, client_id: str | None,
                      retrying: bool = False) -> store.Inbound | None:
        async with engine.begin() as connection:
            return await store.store_inbound(connection, conversation_id, text, payload, client_id, retrying=retrying)

    statements: list[str] = []
    event.listen(engine.sync_engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    first = await receive("c_store", "where is my parcel", None, "k1")
    # A new message is stored and routed in one round trip; only a resend needs a second.
    assert len(statements) == 1 and statements[0].lstrip().upper().startswith("INSERT")
    again = await receive("c_store", "where is my parcel", None, "k1")
    assert len(statements) == 3
    # The first attempt lost its connection after the INSERT: the line is its own.
    retried = await receive("c_store", "where is my parcel", None, "k1", retrying=True)
    other = await receive("c_store", "thanks", "/thank", "k2")
    missing = await receive("c_nobody", "hello", None, "k3")
    # Without a client_id (a channel that sends none) nothing counts as a resend.
    plain = [await receive("c_store", "ok", None, None) for _ in range(2)]
    assert first is not None and again is not None and retried is not None and other is not None
    assert (first.repeated, again.repeated, retried.repeated, other.repeated) == (False, True, False, False)
    assert first.mode == "bot" and first.channel == "webchat"
    assert again.line.id == first.line.id == retried.line.id and other.line.id > first.line.id
    assert store.message_frame(first.line)["text"] == "where is my parcel"
    assert store.message_frame(other.line)["client_id"] == "k2"
    assert missing is None
    assert [p is not None and not p.repeated for p in plain] == [True, True]
    assert await lines_in(sessions, "c_store") == 4
    async with sessions() as session:
        kept = await session.get(Message, other.line.id)
    assert kept is not None and (kept.sender, kept.text, kept.payload, kept.buttons) == ("customer", "thanks", "/thank", [])
    assert kept.created_at.tzinfo is not None and kept.created_at == other.line.created_at


async def test_bot_lines_come_back_in_order_with_their_ids(sessions, engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        stored = await store.insert_lines(connection, store.bot_rows(
            "c_lines", [("one", []), ("two", [{"title": "Yes", "payload": "/affirm"}])]
        ))
    frames = [store.message_frame(line) for line in stored]
    assert [f["text"] for f in frames] == ["one", "two"] and frames[0]["id"] < frames[1]["id"]
    assert frames[1]["buttons"] == [{"title": "Yes", "payload": "/affirm"}] and frames[0]["from"] == "bot"
    async with sessions() as session:
        kept = (await session.scalars(select(Message).where(Message.conversation_id == "c_lines").order_by(Message.id))).all()
    assert [(m.id, m.text) for m in kept] == [(f["id"], f["text"]) for f in frames]


async def test_a_restarted_database_connection_is_retried_once(engine: AsyncEngine, database_url: str) -> None:
    """The per-message engine does not ping before each use; a connection the server dropped
    fails once, and the unit of work runs again on a new one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server connection to lose")
    attempts: list[bool] = []

    async def work(first_attempt: bool) -> int:
        attempts.append(first_attempt)
        async with engine.begin() as connection:
            return int((await connection.execute(text("SELECT 41 + 1"))).scalar_one())

    async def drop_connections() -> None:
        async with engine.begin() as connection:  # warm the pool: one idle connection stays in it
            await connection.execute(text("SELECT 1"))
        admin = make_engine(database_url)
        async with admin.begin() as connection:
            await connection.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = ''"
            ))
        await admin.dispose()

    await drop_connections()
    assert await retry_if_reconnected(work) == 42
    assert attempts == [True, False]

    await drop_connections()
    with pytest.raises(DBAPIError):  # without the retry the customer's message would fail
        await work(True)
