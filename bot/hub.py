"""Who is connected: customers' chat sockets per conversation, and agents' console sockets
with the conversations they have open. Sending never raises: a socket that cannot take a
frame any more is dropped from the hub, and its handler carries on with what it received.

With several gateways (a Fanout attached, bot/fanout.py) each frame is also published for the
others, which deliver it to their own sockets only (`receive`); a channel such as Telegram is
delivered by the gateway the frame started on, once. `agents_online` counts every gateway's
online agents (bot/presence.py: a console may say its agent is away)."""
from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Awaitable, Callable

from aiohttp import web

from bot import presence
from bot.presence import Seen

if TYPE_CHECKING:
    from bot.fanout import Fanout

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
    status: str = presence.ONLINE  # online or away (bot/presence.py); only Hub.set_status changes it
    greeted: bool = False  # its hello and first frames are sent: feeds may follow


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
        self._fanout: Fanout | None = None
        self._remote_turn: list[Callable[[str], None]] = []
        self._presence_listeners: list[Callable[[], None]] = []

    def attach(self, fanout: Fanout | None) -> None:
        """Share frames and presence with the other gateways through `fanout` (None: stop)."""
        self._fanout = fanout
        if fanout is not None:
            fanout.local_presence = self.local_presence
            fanout.on_presence = self._tell_presence

    def on_presence(self, listener: Callable[[], None]) -> None:
        """`listener()` runs (and must return at once) whenever who is online or away may have
        changed, here or on another gateway."""
        self._presence_listeners.append(listener)

    def _tell_presence(self) -> None:
        for listener in self._presence_listeners:
            listener()

    def _presence_changed(self) -> None:
        if self._fanout is not None:
            self._fanout.presence_changed()
        self._tell_presence()

    def on_remote_turn(self, forget: Callable[[str], None]) -> None:
        """`forget(conversation_id)` runs before a frame another gateway sent to that
        conversation's customer is delivered here: what this gateway remembers of the
        conversation's latest turn (bot/offers.py) may be out of date."""
        self._remote_turn.append(forget)

    def _publish(self, kind: str, **fields: Any) -> None:
        if self._fanout is not None:
            self._fanout.publish(kind, **fields)

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
        self._presence_changed()

    def remove_agent(self, connection: AgentConnection) -> None:
        self._agents.discard(connection)  # (a dead socket may have been dropped already)
        self._presence_changed()

    def set_status(self, connection: AgentConnection, status: str) -> None:
        """This console's agent is online or away (ValueError for anything else)."""
        if status not in presence.STATUSES:
            raise ValueError(status)
        if connection.status != status:
            connection.status = status
            self._presence_changed()

    def has_customer(self, conversation_id: str) -> bool:
        """Whether a widget of this conversation is open on this gateway (others may have one too)."""
        return bool(self._customers.get(conversation_id))

    def local_agents(self) -> set[str]:
        """Usernames with a console open on this gateway."""
        return {a.username for a in self._agents}

    def local_presence(self) -> dict[str, Seen]:
        """The agents with a console open on this gateway, online or away."""
        return presence.of_connections(self._agents)

    def presence(self) -> dict[str, Seen]:
        """The agents with a console open on any gateway, online or away."""
        remote = self._fanout.remote_presence() if self._fanout is not None else {}
        return presence.merged(self.local_presence(), remote)

    def agents_online(self) -> int:
        """Agents with a console open and "online", on any gateway: the ones a waiting
        customer may count on (bot/no_agent.py)."""
        return presence.online_count(self.presence())

    def consoles_open(self) -> bool:
        """Whether any console is open, away or not, on any gateway (they all get the queue)."""
        return bool(self._agents) or (self._fanout is not None and bool(self._fanout.remote_presence()))

    async def to_local_agents(self, frame: dict[str, Any], which: Callable[[AgentConnection], bool]) -> None:
        """The consoles on this gateway that `which` picks (each gateway tells its own)."""
        for agent in list(self._agents):
            if which(agent) and not await self.send(agent.socket, frame):
                self._agents.discard(agent)

    async def to_customer(self, conversation_id: str, frame: dict[str, Any], *, channels: bool = True) -> None:
        """The customer's sockets on every gateway and (unless `channels` is False: the caller
        pushes it itself and wants the result, bot/delivery.py) its channel, such as Telegram."""
        await self._to_customer_here(conversation_id, frame)
        self._publish("customer", conversation_id=conversation_id, frame=frame)
        if not channels:
            return
        for prefix, deliver in self._channels.items():
            if conversation_id.startswith(prefix):
                await deliver(conversation_id, frame)

    async def _to_customer_here(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for socket in list(self._customers.get(conversation_id, ())):
            if not await self.send(socket, frame):
                self.remove_customer(conversation_id, socket)

    def console_sessions(self) -> set[str]:
        """The logins that have a console open now."""
        return {a.session_key for a in self._agents if a.session_key}

    async def close_agents(self, *, username: str | None = None, session_keys: set[str] | None = None,
                           code: int = 4401, reason: bytes = b"signed out") -> None:
        """Close the consoles of one agent, or of the given logins, on every gateway. 4401
        sends the console to the login page; other codes make it reconnect (and read its role
        again)."""
        self._publish("close_agents", username=username, session_keys=sorted(session_keys or ()), code=code,
                      reason=reason.decode("utf-8", "replace"))
        await self._close_agents_here(username, session_keys, code, reason)

    async def _close_agents_here(self, username: str | None, session_keys: set[str] | None, code: int,
                                 reason: bytes) -> None:
        for agent in list(self._agents):
            if agent.username == username or (session_keys and agent.session_key in session_keys):
                self._agents.discard(agent)
                await agent.socket.close(code=code, message=reason)

    async def to_agents(self, frame: dict[str, Any]) -> None:
        """Every open console, on every gateway (the queue: the gateway where it changed
        reads it once for all of them)."""
        self._publish("agents", frame=frame)
        await self._to_agents_here(frame)

    async def _to_agents_here(self, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            if not await self.send(agent.socket, frame):
                self._agents.discard(agent)

    async def to_watchers(self, conversation_id: str, frame: dict[str, Any]) -> None:
        """The consoles that have this conversation open, on every gateway."""
        self._publish("watchers", conversation_id=conversation_id, frame=frame)
        await self._to_watchers_here(conversation_id, frame)

    async def _to_watchers_here(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            if conversation_id in agent.watching and not await self.send(agent.socket, frame):
                self._agents.discard(agent)

    async def receive(self, envelope: dict[str, Any]) -> None:
        """Another gateway's frame (bot/fanout.py), for this gateway's own sockets only."""
        kind, frame, conversation_id = envelope.get("kind"), envelope.get("frame"), envelope.get("conversation_id")
        if kind == "close_agents":
            keys, code = envelope.get("session_keys"), envelope.get("code")
            await self._close_agents_here(envelope.get("username"), set(keys) if isinstance(keys, list) else None,
                                          code if isinstance(code, int) else 4401,
                                          str(envelope.get("reason", "")).encode())
            return
        if not isinstance(frame, dict):
            return
        if kind == "agents":
            await self._to_agents_here(frame)
        elif isinstance(conversation_id, str) and kind == "customer":
            for forget in self._remote_turn:
                forget(conversation_id)
            await self._to_customer_here(conversation_id, frame)
        elif isinstance(conversation_id, str) and kind == "watchers":
            await self._to_watchers_here(conversation_id, frame)

    async def reconnect_customers(self) -> None:
        """Close every chat socket here with "service restart": each widget reconnects and
        reads its transcript again (after a fan-out outage, frames may have been missed)."""
        for conversation_id, sockets in list(self._customers.items()):
            for socket in list(sockets):
                await socket.close(code=1012, message=b"reconnect")

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
