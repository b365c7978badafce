"""Engines and session factories. Nothing is opened at import time."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine

from actions.settings import Settings

logger = logging.getLogger(__name__)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # With WAL, NORMAL syncs at checkpoints instead of on every commit: the database cannot
    # be corrupted; a power cut can lose the last moments. PostgreSQL is the choice for more.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def make_engine(database_url: str) -> AsyncEngine:
    """An engine for the URL; SQLite files get WAL mode so readers never block the writer.
    Pooled connections to a server are pinged before use (a restarted PostgreSQL must not
    cost a customer's message); a SQLite file cannot go away like that, so it skips the ping."""
    sqlite = database_url.startswith("sqlite")
    engine = create_async_engine(database_url, pool_pre_ping=not sqlite)
    if engine.dialect.name == "sqlite":
        database = engine.url.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


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
