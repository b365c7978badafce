"""The periodic sweep of console sessions: ended sessions (expired, or idle for
AGENT_IDLE_MINUTES) are deleted, and consoles still open on them are closed.

A console with its WebSocket open counts as in use, even when the agent only watches a quiet
queue: the sweep marks those sessions as seen first. The idle timeout therefore ends logins
that nothing uses any more: a closed tab, a copied cookie."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web
from sqlalchemy.ext.asyncio import async_sessionmaker

from bot.app_keys import HUB, SESSIONS, SETTINGS
from bot.console import auth
from bot.hub import Hub

logger = logging.getLogger(__name__)
MAX_INTERVAL = 600.0  # seconds


async def sweep(sessions: async_sessionmaker, hub: Hub, idle_minutes: int) -> int:  # type: ignore[type-arg]
    """One pass; returns how many sessions were deleted."""
    open_keys = hub.console_sessions()
    async with sessions.begin() as session:
        await auth.touch_sessions(session, open_keys)
        purged = await auth.purge_sessions(session, idle_minutes)
        live = await auth.live_session_keys(session, open_keys)
    if gone := open_keys - live:
        await hub.close_agents(session_keys=gone)
    return purged


def interval(idle_minutes: int) -> float:
    """Often enough that an open console's session never looks idle between two passes."""
    return min(MAX_INTERVAL, idle_minutes * 60 / 3)


async def _run(app: web.Application) -> None:
    idle = app[SETTINGS].idle_minutes
    while True:
        await asyncio.sleep(interval(idle))
        try:
            purged = await sweep(app[SESSIONS], app[HUB], idle)
            if purged:
                logger.info("ended %d expired or idle console sessions", purged)
        except Exception:  # a database hiccup must not stop the sweeping for good
            logger.exception("console session sweep failed")


async def session_sweeper(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: runs after the database is open, stops before it closes."""
    task = asyncio.create_task(_run(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
