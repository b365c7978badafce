"""The consoles' queue feed: one background task per gateway sends the queue to the open
consoles after it changes (Desk.feed_queue), off every customer's message path."""
from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from aiohttp import web

from bot.app_keys import DESK


async def queue_feed(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: starts after the Desk exists, stops before the database closes."""
    task = asyncio.create_task(app[DESK].feed_queue())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
