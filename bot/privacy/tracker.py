"""Rasa's tracker store, seen from the gateway: the `events` table Rasa's SQLTrackerStore writes
(a separate database, TRACKER_STORE_URL). Only read for an export, only deleted from for an
erasure or retention; Rasa's own processes notice deleted rows (engine/tracker_store.py checks
the row count and newest id before each message) and reload the conversation."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Column, Float, Integer, MetaData, String, Table, Text, delete, func, inspect, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

metadata = MetaData()
# The columns of Rasa 3.6's SQLTrackerStore.SQLEvent; tests create the table from this.
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True),
    Column("sender_id", String(255), nullable=False, index=True),
    Column("type_name", String(255), nullable=False),
    Column("timestamp", Float),
    Column("intent_name", String(255)),
    Column("action_name", String(255)),
    Column("data", Text),
)
# Rows per IN (...) list: well under SQLite's and asyncpg's limits on bound parameters.
CHUNK = 500


def make_tracker_engine(url: str) -> AsyncEngine:
    """An engine on Rasa's database. Unlike caredesk.db.session.make_engine it sets no SQLite
    journal mode: the file is Rasa's, and stays as Rasa made it."""
    if url.startswith("sqlite"):
        return create_async_engine(url, connect_args={"timeout": 5})
    return create_async_engine(url, pool_pre_ping=True)


def _chunks(ids: Iterable[str]) -> Iterable[list[str]]:
    items = sorted(set(ids))
    for start in range(0, len(items), CHUNK):
        yield items[start:start + CHUNK]


async def _has_events(connection: AsyncConnection) -> bool:
    """Rasa creates the table on its first start; before that there is nothing to find."""
    return bool(await connection.run_sync(lambda sync: inspect(sync).has_table("events")))


async def count_events(engine: AsyncEngine | None, sender_ids: Iterable[str]) -> dict[str, int]:
    """How many events each conversation has in Rasa's store."""
    counts: dict[str, int] = {}
    if engine is None:
        return counts
    async with engine.connect() as connection:
        if not await _has_events(connection):
            return counts
        for chunk in _chunks(sender_ids):
            rows = await connection.execute(
                select(events.c.sender_id, func.count()).where(events.c.sender_id.in_(chunk))
                .group_by(events.c.sender_id))
            counts.update({sender: int(count) for sender, count in rows.all()})
    return counts


async def events_mentioning(engine: AsyncEngine | None, needle: str) -> list[tuple[str, str]]:
    """(conversation, event data) of user messages and slots containing `needle` (lower case):
    Rasa's own REST conversations have no transcript in CareDesk's database. A full scan of
    those event types, so only for an admin's search, never per message."""
    if engine is None:
        return []
    pattern = "%" + needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    async with engine.connect() as connection:
        if not await _has_events(connection):
            return []
        rows = await connection.execute(
            select(events.c.sender_id, events.c.data).where(
                events.c.type_name.in_(("user", "slot")), func.lower(events.c.data).like(pattern, escape="\\")))
        return [(sender, data or "") for sender, data in rows.all()]


async def export_events(engine: AsyncEngine | None, sender_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Every event of the conversations, oldest first, as Rasa stored them."""
    found: dict[str, list[dict[str, Any]]] = {}
    if engine is None:
        return found
    async with engine.connect() as connection:
        if not await _has_events(connection):
            return found
        for chunk in _chunks(sender_ids):
            rows = await connection.execute(select(events).where(events.c.sender_id.in_(chunk)).order_by(events.c.id))
            for row in rows.all():
                try:
                    data = json.loads(row.data) if row.data else None
                except ValueError:
                    data = row.data
                found.setdefault(row.sender_id, []).append({
                    "type": row.type_name, "timestamp": row.timestamp, "intent": row.intent_name,
                    "action": row.action_name, "data": data})
    return found


async def delete_events(engine: AsyncEngine | None, sender_ids: Iterable[str]) -> int:
    """Delete the conversations' events in one transaction; how many rows went."""
    if engine is None:
        return 0
    deleted = 0
    async with engine.begin() as connection:
        if not await _has_events(connection):
            return 0
        for chunk in _chunks(sender_ids):
            result = await connection.execute(delete(events).where(events.c.sender_id.in_(chunk)))
            deleted += result.rowcount or 0
    return deleted


async def idle_senders(engine: AsyncEngine | None, before: dt.datetime, limit: int) -> list[str]:
    """Conversations whose newest event is older than `before` (Rasa stores Unix seconds)."""
    if engine is None:
        return []
    async with engine.connect() as connection:
        if not await _has_events(connection):
            return []
        rows = await connection.execute(
            select(events.c.sender_id).group_by(events.c.sender_id)
            .having(func.max(events.c.timestamp) < before.timestamp()).order_by(events.c.sender_id).limit(limit))
        return [sender for (sender,) in rows.all()]


async def newest_events(engine: AsyncEngine | None, sender_ids: Iterable[str]) -> dict[str, float]:
    """The time (Unix seconds) of each conversation's newest event."""
    newest: dict[str, float] = {}
    if engine is None:
        return newest
    async with engine.connect() as connection:
        if not await _has_events(connection):
            return newest
        for chunk in _chunks(sender_ids):
            rows = await connection.execute(
                select(events.c.sender_id, func.max(events.c.timestamp)).where(events.c.sender_id.in_(chunk))
                .group_by(events.c.sender_id))
            newest.update({sender: float(at or 0.0) for sender, at in rows.all()})
    return newest
