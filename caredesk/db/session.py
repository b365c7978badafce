"""Engines and session factories. Nothing is opened at import time."""
from __future__ import annotations

import logging
import os
from pathlib import Path
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from caredesk.settings import Settings

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints instead of on every commit: the database cannot
    # be corrupted; a power cut can lose the last moments. PostgreSQL is the choice for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _private_file(database: Path) -> None:
    """The SQLite file holds customers' messages and contacts: only its owner may read it.
    It is created 0600 before SQLite opens it (SQLite gives its -wal and -shm files the
    database file's mode), and an older file left readable by others is narrowed."""
    database.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(database, os.O_CREAT | os.O_RDWR, 0o600))
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(0o600)
        except (FileNotFoundError, PermissionError):
            continue


def make_engine(database_url: str, *, ping: bool = True) -> AsyncEngine:
    """An engine for the URL; SQLite files get WAL mode so readers never block the writer.
    Pooled connections to a server are pinged before use (a restarted PostgreSQL must not
    cost a customer's message); a SQLite file cannot go away like that, so it skips the ping.
    `ping=False` is for callers that retry on a lost connection themselves (see
    `retry_if_reconnected`), where a round trip per checkout would cost every message."""
    sqlite = database_url.startswith("sqlite")
    engine = create_async_engine(database_url, pool_pre_ping=ping and not sqlite)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            _private_file(Path(database))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def autocommit(engine: AsyncEngine) -> AsyncEngine:
    """For units of work that are single statements: on PostgreSQL no BEGIN and COMMIT round
    trips. SQLite commits in-process, where switching modes costs more than it saves."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


async def retry_if_reconnected(work: Callable[[bool], Awaitable[T]]) -> T:
    """Run `work(first_attempt)`; if the database dropped the connection under it (a restarted
    server), run it once more on a fresh one. `work` must be safe to repeat."""
    try:
        return await work(True)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
        logger.warning("The database connection was lost; trying once more on a new one")
        return await work(False)


def make_sessions(engine: AsyncEngine) -> async_sessionmaker:  # type: ignore[type-arg]
    return async_sessionmaker(engine, expire_on_commit=False)


_default: dict[str, async_sessionmaker] = {}  # type: ignore[type-arg]


def default_sessions() -> async_sessionmaker:  # type: ignore[type-arg]
    """The action server's session factory, built on first use from the environment."""
    settings = Settings.from_env()
    factory = _default.get(settings.database_url)
    if factory is None:
        logger.info("Opening the database %r", settings)
        factory = make_sessions(make_engine(settings.database_url))
        _default[settings.database_url] = factory
    return factory
