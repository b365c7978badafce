"""Checks of the engine's behaviour when its databases fail, run in .venv-rasa like
rasa_side.py: `python faults_side.py DB_URL`; tests/engine/test_engine_faults.py expects
every check's name on stdout. Real PostgreSQL (backends terminated with pg_terminate_backend,
connections refused with ALLOW_CONNECTIONS false), real SQLite, real Redis (database 8)."""
from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from typing import Any, Awaitable, Callable

import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.utils.endpoints import EndpointConfig

from engine import lock_store
from engine.tracker_store import CachedSQLTrackerStore, TrackerStoreFailed
from tests.engine.rasa_side import DOMAIN, cached, dicts, plain, turn

CHECKS: list[Callable[[str], Awaitable[None]]] = []
REDIS_DB = "8"


def check(fn: Callable[[str], Awaitable[None]]) -> Callable[[str], Awaitable[None]]:
    CHECKS.append(fn)
    return fn


def admin(url: str) -> sa.engine.Engine:
    return sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)


def terminate_others(url: str) -> int:
    """pg_terminate_backend for every other connection to this database: the store's."""
    with admin(url).connect() as connection:
        return int(connection.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar())


@check
async def a_dropped_connection_is_retried_and_the_conversation_kept(url: str) -> None:
    if not url.startswith("postgresql"):
        return  # SQLite has no connection to lose; the next check covers its failures
    store = cached(url)
    await turn(store, "lost-1", "order 1234")
    other = cached(url)  # another process wrote: the next load reads the database, not memory
    await turn(other, "lost-1", "still there?")
    assert terminate_others(url) >= 1, "the store's pooled connections were terminated"
    tracker = await store.get_or_create_tracker("lost-1")
    assert tracker.get_slot("order_number") == "still there?", "loaded, not a fresh conversation"
    assert dicts(tracker) == dicts(await plain(url).retrieve("lost-1"))
    tracker = await turn(store, "lost-1", "three")  # the fast save path, after another cut:
    assert terminate_others(url) >= 1
    tracker.update(sa_free_event("four"))
    await store.save(tracker)
    assert dicts(await plain(url).retrieve("lost-1")) == dicts(tracker), "every event once, none twice"
    assert terminate_others(url) >= 1
    assert (await store.retrieve("lost-1")) is tracker, "nothing else wrote: still the held tracker"


def sa_free_event(text: str) -> Any:
    from rasa.shared.core.events import SlotSet

    return SlotSet("order_number", text)


def break_database(url: str) -> Callable[[], None]:
    """Make every query of the tracker store fail; returns the repair."""
    if url.startswith("postgresql"):
        name = sa.engine.make_url(url).database
        maintenance = admin(sa.engine.make_url(url).set(database="postgres").render_as_string(hide_password=False))

        def allow(connections: bool) -> None:
            with maintenance.connect() as connection:
                connection.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(connections).lower()}'))
                connection.execute(sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                           "WHERE datname = :name"), {"name": name})

        allow(False)
        return lambda: allow(True)
    with admin(url).connect() as connection:
        connection.execute(sa.text("ALTER TABLE events RENAME TO events_away"))

    def put_back() -> None:
        with admin(url).connect() as connection:
            connection.execute(sa.text("ALTER TABLE events_away RENAME TO events"))
    return put_back


@check
async def a_load_that_keeps_failing_raises_and_never_starts_afresh(url: str) -> None:
    store = cached(url)
    await turn(store, "down-1", "order 1234")
    await turn(cached(url), "down-1", "order 5678")  # written elsewhere: a load must read it
    safe = FailSafeTrackerStore(store)  # how Rasa's Agent wraps every tracker store
    rasas_own = FailSafeTrackerStore(SQLTrackerStore(domain=DOMAIN, host=url))
    repair = break_database(url)
    try:
        for attempt in (lambda: safe.get_or_create_tracker("down-1"), lambda: safe.retrieve("down-1")):
            try:
                tracker = await attempt()
            except TrackerStoreFailed:
                pass
            else:
                raise AssertionError(f"a failed load gave {tracker!r} instead of an error")
        assert await rasas_own.retrieve("down-1") is None, "Rasa's own store under FailSafe is unchanged"
        assert "down-1" not in store._held, "a failed load leaves nothing held"
    finally:
        repair()
    tracker = await safe.get_or_create_tracker("down-1")
    assert tracker.get_slot("order_number") == "order 5678", "the conversation is intact afterwards"
    assert isinstance(store, CachedSQLTrackerStore)


def redis_config(**extra: Any) -> EndpointConfig:
    return EndpointConfig(url=os.environ.get("REDIS_HOST") or "127.0.0.1", type="engine.lock_store.CareDeskLockStore",
                          port=os.environ.get("REDIS_PORT") or "6379", db=REDIS_DB,
                          key_prefix=f"faultcheck{uuid.uuid4().hex[:6]}", backend="redis", **extra)


@check
async def every_lock_key_written_has_a_ttl(url: str) -> None:
    store = lock_store.create(redis_config(lifetime=2))
    assert isinstance(store, lock_store.AtomicRedisLockStore)
    key = store.key_prefix + "ttl-1"
    first = store.issue_ticket("ttl-1")
    assert 0 < store.red.pttl(key) <= 2000
    second = store.issue_ticket("ttl-1", lock_lifetime=5)
    assert 2000 < store.red.pttl(key) <= 5000, "the key lives as long as its last ticket"
    store.update_lock("ttl-1")  # Rasa's own read-modify-write path (save_lock)
    assert 2000 < store.red.pttl(key) <= 5000
    store.cleanup("ttl-1", second)
    assert 0 < store.red.pttl(key) <= 2000, "after a return, as long as the tickets left"
    store.cleanup("ttl-1", first)
    assert not store.red.exists(key)
    async with store.lock("ttl-2"):
        assert 0 < store.red.pttl(store.key_prefix + "ttl-2") <= 2000
    keys = list(store.red.scan_iter(f"{store.key_prefix}*"))
    assert all(store.red.pttl(k) > 0 for k in keys), "no key without an expiry"


@check
async def a_lock_held_by_a_killed_process_frees_its_conversation(url: str) -> None:
    killed = lock_store.create(redis_config(lifetime=1))
    # The next message's ticket outlives the dead one's (it came later; here by a second
    # rather than by the seconds the gateway takes to give up on the dead process).
    alive = lock_store.create(redis_config(lifetime=2))
    alive.key_prefix = killed.key_prefix  # the two processes share the keys
    key = killed.key_prefix + "killed-1"
    killed.issue_ticket("killed-1")  # then the process dies: the ticket is never returned
    began = time.monotonic()
    async with alive.lock("killed-1", wait_time_in_seconds=0.05):
        waited = time.monotonic() - began
    assert 0.8 < waited < 2, f"the conversation was free after the ticket's lifetime, not {waited:.2f} s"
    assert not alive.red.exists(key)
    killed.issue_ticket("killed-2")
    await asyncio.sleep(1.1)  # the behaviour under test is the expiry itself
    assert not killed.red.exists(killed.key_prefix + "killed-2"), "an abandoned key goes by itself"


@check
async def the_lock_lifetime_is_shorter_than_rasas_unless_set(url: str) -> None:
    assert lock_store.lock_lifetime({}) == lock_store.DEFAULT_LIFETIME == 20
    assert lock_store.lock_lifetime({"TICKET_LOCK_LIFETIME": "45"}) == 45
    store = lock_store.create(redis_config())
    assert store.lifetime == lock_store.lock_lifetime(os.environ)
    async with store.lock("life-1"):
        assert store.red.pttl(store.key_prefix + "life-1") <= store.lifetime * 1000


async def main(url: str) -> None:
    for fn in CHECKS:
        await fn(url)
        print(f"ok {fn.__name__}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
