"""Presence in the console: each console says whether its agent is online or away (the
`status` frame), and the leads' consoles get the `agents` frame (bot/presence.py) whenever
who is online or away changes, on this gateway or another. Each gateway tells its own
consoles, from its own view of every gateway, so the frame itself is never fanned out."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot import presence
from bot.app_keys import HUB
from bot.console.roles import can
from bot.hub import AgentConnection, Hub

logger = logging.getLogger(__name__)
PRESENCE_INTERVAL = 0.3  # seconds: the leads get the agents frame at most this often


class StatusRefused(Exception):
    """A status frame that is not this console's to send, or not a status at all."""


def set_status(hub: Hub, connection: AgentConnection, data: dict[str, Any]) -> None:
    """The `status` frame: this console's own agent only (the frame names nobody else; one
    that does is refused) and only a status of presence.STATUSES."""
    status, username = data.get("status"), data.get("username", connection.username)
    if username != connection.username:
        raise StatusRefused("You can only set your own status.")
    if not isinstance(status, str) or status not in presence.STATUSES:
        raise StatusRefused("That status is not one of online or away.")
    hub.set_status(connection, status)


def agents_frame(hub: Hub) -> dict[str, Any]:
    return presence.frame(hub.presence())


def sees_presence(connection: AgentConnection) -> bool:
    """Leads and admins, once their console has had its hello (which always comes first)."""
    return connection.greeted and can(connection, "presence")


class PresenceFeed:
    """Sends the agents frame to this gateway's lead consoles after a change, at most every
    `interval` seconds however many changes come in between."""

    def __init__(self, hub: Hub, interval: float = PRESENCE_INTERVAL) -> None:
        self.hub, self.interval = hub, interval
        self._changed = asyncio.Event()
        hub.on_presence(self._changed.set)

    async def run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            try:
                await self.hub.to_local_agents(agents_frame(self.hub), sees_presence)
            except Exception:  # never stop telling: the next change tries again
                logger.exception("could not send who is online to the consoles")
            await asyncio.sleep(self.interval)


async def presence_feed(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: runs for the gateway's life."""
    task = asyncio.create_task(PresenceFeed(app[HUB]).run())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
