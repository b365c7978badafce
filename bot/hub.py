"""Who is connected: customers' chat sockets per conversation, and agents' console sockets
with the conversations they have open. Sending never raises: a socket that cannot take a
frame any more is dropped from the hub, and its handler carries on with what it received."""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class AgentConnection:
    socket: web.WebSocketResponse
    username: str
    name: str
    watching: set[str] = field(default_factory=set)
    role: str = "agent"
    session_key: str | None = None  # the console login this socket was opened with
    address: str | None = None


Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]
_CONTROL = 0x08  # WebSocket opcodes from here up are control frames: close, ping, pong
SHUTDOWN_WAIT = 10.0  # seconds a stopping gateway waits for sockets' received frames to be handled


class _CoalescedWrites:
    """Stands in for a socket's transport so that the frames written during one pass of the
    event loop leave in one write: one system call and one wake-up of the reader instead of
    one per frame. A customer message causes five or six frames at two moments (the echo
    with "typing", then "typing off" with the replies); writing each one alone was an eighth
    of the gateway's CPU. Nothing waits: the batch goes out on the loop's next pass. Control
    frames (close, ping, pong) flush at once, before aiohttp may close the transport."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._parts:
            self._loop.call_soon(self.flush)
        self._parts.append(bytes(data))
        if data and data[0] & 0x0F >= _CONTROL:
            # A large frame's payload is written on its own and may look like this by
            # chance: that only flushes early, which is always safe.
            self.flush()

    def flush(self) -> None:
        if not self._parts:
            return
        data = b"".join(self._parts)
        self._parts.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def coalesce_writes(socket: web.WebSocketResponse) -> None:
    """Batch a prepared socket's frames per pass of the event loop (see _CoalescedWrites).
    Relies on aiohttp's writer keeping its transport in `transport`; if that changes, frames
    simply go out one write each, as before."""
    writer = getattr(socket, "_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is None or isinstance(transport, _CoalescedWrites):
        return
    writer.transport = _CoalescedWrites(transport, asyncio.get_running_loop())  # type: ignore[union-attr]


class Hub:
    def __init__(self) -> None:
        self._customers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._agents: set[AgentConnection] = set()
        self._channels: dict[str, Deliver] = {}
        self._running: set[asyncio.Task[None]] = set()

    def register_channel(self, prefix: str, deliver: Deliver) -> None:
        """Conversations whose id starts with `prefix` are delivered by that channel too."""
        self._channels[prefix] = deliver

    def add_customer(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        self._customers[conversation_id].add(socket)

    def remove_customer(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        sockets = self._customers.get(conversation_id)
        if sockets is None:
            return
        sockets.discard(socket)
        if not sockets:
            del self._customers[conversation_id]

    def keep(self, task: asyncio.Task[None]) -> None:
        """Hold a socket's handling until it ends, even when aiohttp has cancelled the request
        handler that started it (its peer went away), and wait for it when the gateway stops
        (close_all): what a socket received is handled before the database closes."""
        self._running.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("a socket's handling failed", exc_info=task.exception())

    def add_agent(self, connection: AgentConnection) -> None:
        self._agents.add(connection)

    def remove_agent(self, connection: AgentConnection) -> None:
        self._agents.discard(connection)

    def agents_online(self) -> int:
        return len({a.username for a in self._agents})

    async def to_customer(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for socket in list(self._customers.get(conversation_id, ())):
            if not await self.send(socket, frame):
                self.remove_customer(conversation_id, socket)
        for prefix, deliver in self._channels.items():
            if conversation_id.startswith(prefix):
                await deliver(conversation_id, frame)

    def console_sessions(self) -> set[str]:
        """The logins that have a console open now."""
        return {a.session_key for a in self._agents if a.session_key}

    async def close_agents(self, *, username: str | None = None, session_keys: set[str] | None = None,
                           code: int = 4401, reason: bytes = b"signed out") -> None:
        """Close the consoles of one agent, or of the given logins. 4401 sends the console
        to the login page; other codes make it reconnect (and read its role again)."""
        for agent in list(self._agents):
            if agent.username == username or (session_keys and agent.session_key in session_keys):
                self._agents.discard(agent)
                await agent.socket.close(code=code, message=reason)

    async def to_agents(self, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            if not await self.send(agent.socket, frame):
                self._agents.discard(agent)

    async def to_watchers(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            if conversation_id in agent.watching and not await self.send(agent.socket, frame):
                self._agents.discard(agent)

    async def close_all(self) -> None:
        sockets = [s for group in self._customers.values() for s in group]
        sockets += [a.socket for a in self._agents]
        for socket in sockets:
            await socket.close(code=1001, message=b"server shutdown")
        if late := await self.settle(SHUTDOWN_WAIT):
            logger.warning("%d sockets were still handling received frames at shutdown", late)

    async def settle(self, timeout: float) -> int:
        """Wait until every socket kept with `keep` has handled what it received (or
        `timeout` seconds have passed); returns how many have not."""
        if not self._running:
            return 0
        _done, late = await asyncio.wait(set(self._running), timeout=timeout)
        return len(late)

    @staticmethod
    async def send(socket: web.WebSocketResponse, frame: dict[str, Any]) -> bool:
        """Send one frame; False (never an exception) when the socket is closed or closing,
        so that one dead socket never stops its handler or a broadcast to the others."""
        if socket.closed:
            return False
        try:
            await socket.send_json(frame)
        except (ConnectionError, RuntimeError):
            logger.info("dropped a frame for a closing socket")
            return False
        return True
