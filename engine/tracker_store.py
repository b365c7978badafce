"""Rasa's SQL tracker store, keeping the conversations this process handles in memory.

Loading a conversation was the largest share of Rasa's own work per message: every event of
the session fetched as an ORM row, decoded and replayed into a tracker object, only to be
thrown away after the reply. The gateway sends each conversation to the same Rasa process,
and Rasa's lock store lets one message per conversation through at a time, so that process
usually still holds the tracker it saved after the previous message. One small query (how
many rows the conversation has, and the newest id) tells whether the database still matches
it; when anything else wrote in between (another Rasa process, the HTTP API), or the last
message failed before its tracker was saved, the tracker is loaded from the database as
before. The database stays the only source of truth: every event is written at once.

A lost database connection (PostgreSQL restarted, a backend terminated, a proxy's idle cut)
costs one retry on a fresh connection: SQLAlchemy invalidates the pool when it sees the
disconnect. A read or write that still fails raises TrackerStoreFailed, and Rasa's
FailSafeTrackerStore is told to let it through: its fallback returned None for a failed load,
which Rasa took as a new conversation (a complaint lost its form half-way), and kept a failed
save in memory only. A failed turn is an error; a forgotten conversation is not an answer.

Configured in endpoints.yml (`type: engine.tracker_store.CachedSQLTrackerStore`); runs in
the Rasa server's process, so it imports only Rasa and its SQLAlchemy 1.4. Rasa creates it
at start-up, before loading the model, which makes it the only way into Rasa's process that
open-source Rasa offers: creating it runs engine/startup.py (the engine speed-ups, switched
by CAREDESK_ENGINE_SPEEDUPS), once per process.
"""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Optional, TypeVar

import sqlalchemy as sa
import sqlalchemy.exc
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker

from engine import startup

logger = logging.getLogger(__name__)

Fingerprint = tuple[int, Optional[int]]  # rows of the conversation, newest row id
T = TypeVar("T")
RETRIES = 2  # after the first attempt; each on a fresh connection
RETRY_PAUSE_SECONDS = 0.2  # before the second retry (the first is at once)


class TrackerStoreFailed(RuntimeError):
    """The tracker store's database did not answer, retries included: the turn fails."""


def lost_connection(error: sqlalchemy.exc.DBAPIError) -> bool:
    """A database error worth a retry on a fresh connection: a disconnect SQLAlchemy saw
    (it then invalidates the pool), or an operational one (server restarting, refusing)."""
    return bool(error.connection_invalidated) or isinstance(
        error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError))


def _no_silent_fallback() -> None:
    """Make Rasa's FailSafeTrackerStore pass this store's errors on instead of answering a
    failed load with None (a new conversation) or keeping a failed save in memory only."""
    if getattr(FailSafeTrackerStore, "_caredesk_passes_errors", False):
        return

    def passing(name: str) -> Any:
        rasas = getattr(FailSafeTrackerStore, name)

        async def method(self: FailSafeTrackerStore, *args: Any) -> Any:
            if isinstance(self._tracker_store, CachedSQLTrackerStore):
                return await getattr(self._tracker_store, name)(*args)
            return await rasas(self, *args)

        method.__name__ = name
        return method

    for name in ("retrieve", "retrieve_full_tracker", "save"):
        setattr(FailSafeTrackerStore, name, passing(name))
    FailSafeTrackerStore._caredesk_passes_errors = True  # type: ignore[attr-defined]


@dataclass
class _Held:
    tracker: DialogueStateTracker
    stored: int  # how many of the tracker's events are in the database
    fingerprint: Fingerprint


class CachedSQLTrackerStore(SQLTrackerStore):
    """`SQLTrackerStore` that keeps up to `cache_size` recent trackers of this process."""

    def __init__(self, *args: Any, cache_size: int | str = 256, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        startup.start()  # the engine speed-ups, or Rasa as shipped: see engine/startup.py
        _no_silent_fallback()
        self.cache_size = int(cache_size)
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._prepared: dict[str, tuple[str, bool]] = {}
        if self.event_broker is not None:
            # Rasa finds the events to stream by retrieving the stored tracker, which must
            # then be a different object from the one being saved.
            logger.info("An event broker is configured: trackers are not kept in memory.")
            self.cache_size = 0

    def _fingerprint(self, connection: sa.engine.Connection, sender_id: str) -> Fingerprint:
        count, newest = self._query("fingerprint", connection, sender_id).one()
        return int(count), newest

    def _query(self, name: str, connection: sa.engine.Connection, sender_id: str) -> Any:
        """One of the per-message queries, compiled once for this database: SQLAlchemy would
        otherwise rebuild each statement's cache key on every call (about 4 % of Rasa's time)."""
        prepared = self._prepared.get(name)
        if prepared is None:
            events = self.SQLEvent.__table__
            newest = sa.func.max(events.c.id)
            columns = {"fingerprint": (sa.func.count(), newest), "newest": (newest,)}
            compiled = (sa.select(*columns[name]).where(events.c.sender_id == sa.bindparam("sender_id"))
                        .compile(dialect=connection.dialect))
            prepared = self._prepared[name] = (compiled.string, bool(compiled.positional))
        sql, positional = prepared
        return connection.exec_driver_sql(sql, (sender_id,) if positional else {"sender_id": sender_id})

    def _hold(self, tracker: DialogueStateTracker, fingerprint: Fingerprint) -> None:
        if self.cache_size <= 0 or tracker.events.maxlen is not None:
            return  # with a capped event history, the tracker's length no longer counts saves
        self._held[tracker.sender_id] = _Held(tracker, len(tracker.events), fingerprint)
        self._held.move_to_end(tracker.sender_id)
        while len(self._held) > self.cache_size:
            self._held.popitem(last=False)

    async def _retrying(self, what: str, operation: Callable[[], Awaitable[T]]) -> T:
        """`operation`, again on a fresh connection after a lost one (RETRIES times)."""
        for attempt in range(RETRIES + 1):
            try:
                return await operation()
            except sqlalchemy.exc.DBAPIError as error:
                if not lost_connection(error):
                    raise
                if attempt == RETRIES:
                    raise TrackerStoreFailed(f"{what}: the tracker store's database did not answer "
                                             f"after {RETRIES} retries ({error.orig})") from error
                logger.warning("Tracker store: %s failed on a lost connection (%s); retrying", what, error.orig)
                await asyncio.sleep(RETRY_PAUSE_SECONDS * attempt)
        raise AssertionError("unreachable")

    async def _fingerprint_now(self, sender_id: str) -> Fingerprint:
        with self.engine.connect() as connection:
            return self._fingerprint(connection, sender_id)

    async def retrieve(self, sender_id: str) -> Optional[DialogueStateTracker]:
        if self.cache_size <= 0:
            return await self._retrying(f"loading {sender_id}", lambda: SQLTrackerStore.retrieve(self, sender_id))
        held = self._held.pop(sender_id, None)
        fingerprint = await self._retrying(f"checking {sender_id}", lambda: self._fingerprint_now(sender_id))
        if held is not None and len(held.tracker.events) == held.stored and fingerprint == held.fingerprint:
            self._held[sender_id] = held  # most recently used again
            return held.tracker
        # Not held, changed elsewhere, or a failed turn left unsaved events on it: load it.
        tracker = await self._retrying(f"loading {sender_id}", lambda: SQLTrackerStore.retrieve(self, sender_id))
        if tracker is not None:
            self._hold(tracker, fingerprint)
        return tracker

    async def retrieve_full_tracker(self, conversation_id: str) -> Optional[DialogueStateTracker]:
        return await self._retrying(f"loading all of {conversation_id}",
                                    lambda: SQLTrackerStore.retrieve_full_tracker(self, conversation_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        held = self._held.get(tracker.sender_id)
        if held is not None and held.tracker is tracker and len(tracker.events) >= held.stored:
            try:
                self._save_new(tracker, held)
                return
            except sqlalchemy.exc.DBAPIError as error:
                if not lost_connection(error):
                    raise
                logger.warning("Tracker store: saving %s failed on a lost connection (%s); retrying",
                               tracker.sender_id, error.orig)
            # Whether the lost INSERT was committed is unknown. Nothing stored since the tracker
            # was handed out: write the new events again. Otherwise Rasa's own save counts what
            # is stored and writes the rest.
            unchanged = held.fingerprint == await self._retrying(
                f"checking {tracker.sender_id}", lambda: self._fingerprint_now(tracker.sender_id))
            if unchanged:
                async def again() -> None:
                    self._save_new(tracker, held)

                await self._retrying(f"saving {tracker.sender_id}", again)
                return
            self._held.pop(tracker.sender_id, None)
        # A tracker this store did not hand out: Rasa's own save works out what is new.
        await self._retrying(f"saving {tracker.sender_id}", lambda: SQLTrackerStore.save(self, tracker))
        if self.cache_size > 0:
            fingerprint = await self._retrying(f"checking {tracker.sender_id}",
                                               lambda: self._fingerprint_now(tracker.sender_id))
            self._hold(tracker, fingerprint)

    def _save_new(self, tracker: DialogueStateTracker, held: _Held) -> None:
        """Write the events added since the tracker was handed out (one transaction)."""
        new = list(itertools.islice(tracker.events, held.stored, None))
        fingerprint = held.fingerprint
        if new:
            with self.engine.begin() as connection:
                fingerprint = (held.fingerprint[0] + len(new), self._insert(connection, tracker.sender_id, new))
        if any(isinstance(event, SessionStarted) for event in new):
            # A new session began on this tracker: loading it from the database gives only the
            # new session's events, as Rasa's own store would, so let the next message do that.
            self._held.pop(tracker.sender_id, None)
        else:
            self._hold(tracker, fingerprint)

    def _insert(self, connection: sa.engine.Connection, sender_id: str, new: list[Event]) -> Optional[int]:
        """Write the events; returns the newest row id of the conversation. The row count is
        not read back but counted (held + new): had another process written in between, the
        next retrieve sees a different count or newest id and loads the conversation again."""
        events = self.SQLEvent.__table__
        # An executemany of one cached statement: a multi-row INSERT ... RETURNING would be
        # compiled anew for every message, which cost more than the extra query below.
        connection.execute(events.insert(), [self._row(sender_id, e) for e in new])
        newest: Optional[int] = self._query("newest", connection, sender_id).scalar()
        return newest

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        """The columns Rasa's SQL tracker store writes for an event."""
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": (data.get("parse_data") or {}).get("intent", {}).get("name"),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }
