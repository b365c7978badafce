"""The per-message database paths: a customer line stored once however often the client
resends it, and a lost database connection costing nobody their message."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from actions.db.models import Conversation, Message
from actions.db.session import autocommit, make_engine, retry_if_reconnected
from bot import store


async def lines_in(sessions, conversation_id: str) -> int:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return int(await session.scalar(
            select(func.count()).select_from(Message).where(Message.conversation_id == conversation_id)
        ) or 0)


async def test_a_resent_client_id_is_stored_once_and_confirmed_again(sessions, database_url: str) -> None:
    async with sessions.begin() as session:
        session.add(Conversation(id="c_store", channel="webchat", mode="bot"))
    engine = autocommit(make_engine(database_url, ping=False))
    try:
        async with engine.begin() as connection:
            first = await store.store_inbound(connection, "c_store", "where is my parcel", None, "k1")
        async with engine.begin() as connection:
            again = await store.store_inbound(connection, "c_store", "where is my parcel", None, "k1")
        async with engine.begin() as connection:
            # The first attempt lost its connection after the INSERT: the line is its own.
            retried = await store.store_inbound(connection, "c_store", "where is my parcel", None, "k1", retrying=True)
        async with engine.begin() as connection:
            other = await store.store_inbound(connection, "c_store", "thanks", "/thank", "k2")
        async with engine.begin() as connection:
            missing = await store.store_inbound(connection, "c_nobody", "hello", None, "k3")
    finally:
        await engine.dispose()
    assert first is not None and again is not None and retried is not None and other is not None
    assert (first.repeated, again.repeated, retried.repeated, other.repeated) == (False, True, False, False)
    assert first.mode == "bot" and first.channel == "webchat"
    assert again.line.id == first.line.id == retried.line.id and other.line.id > first.line.id
    assert store.message_frame(first.line)["text"] == "where is my parcel"
    assert store.message_frame(other.line)["client_id"] == "k2"
    assert missing is None
    assert await lines_in(sessions, "c_store") == 2


async def test_bot_lines_come_back_in_order_with_their_ids(sessions, database_url: str) -> None:
    async with sessions.begin() as session:
        session.add(Conversation(id="c_lines", channel="webchat", mode="bot"))
    engine = autocommit(make_engine(database_url, ping=False))
    try:
        async with engine.begin() as connection:
            stored = await store.insert_lines(connection, store.bot_rows(
                "c_lines", [("one", []), ("two", [{"title": "Yes", "payload": "/affirm"}])]
            ))
    finally:
        await engine.dispose()
    frames = [store.message_frame(line) for line in stored]
    assert [f["text"] for f in frames] == ["one", "two"] and frames[0]["id"] < frames[1]["id"]
    assert frames[1]["buttons"] == [{"title": "Yes", "payload": "/affirm"}] and frames[0]["from"] == "bot"
    async with sessions() as session:
        kept = (await session.scalars(select(Message).where(Message.conversation_id == "c_lines").order_by(Message.id))).all()
    assert [(m.id, m.text) for m in kept] == [(f["id"], f["text"]) for f in frames]


async def test_a_restarted_database_connection_is_retried_once(sessions, database_url: str) -> None:
    """The per-message engine does not ping before each use; a connection the server dropped
    fails once, and the unit of work runs again on a new one."""
    if not database_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server connection to lose")
    engine = autocommit(make_engine(database_url, ping=False))
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

    try:
        await drop_connections()
        assert await retry_if_reconnected(work) == 42
        assert attempts == [True, False]

        await drop_connections()
        with pytest.raises(DBAPIError):  # without the retry the customer's message would fail
            await work(True)
    finally:
        await engine.dispose()
