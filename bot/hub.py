"""Who is connected: customers' chat sockets per conversation, and agents' console sockets
with the conversations they have open. Sending never raises: a dead socket is dropped."""
from __future__ import annotations

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


Deliver = Callable[[str, dict[str, Any]], Awaitable[None]]


class Hub:
    def __init__(self) -> None:
        self._customers: dict[str, set[web.WebSocketResponse]] = defaultdict(set)
        self._agents: set[AgentConnection] = set()
        self._channels: dict[str, Deliver] = {}

    def register_channel(self, prefix: str, deliver: Deliver) -> None:
        """Conversations whose id starts with `prefix` are delivered by that channel too."""
        self._channels[prefix] = deliver

    def add_customer(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        self._customers[conversation_id].add(socket)

    def remove_customer(self, conversation_id: str, socket: web.WebSocketResponse) -> None:
        self._customers[conversation_id].discard(socket)
        if not self._customers[conversation_id]:
            del self._customers[conversation_id]

    def add_agent(self, connection: AgentConnection) -> None:
        self._agents.add(connection)

    def remove_agent(self, connection: AgentConnection) -> None:
        self._agents.discard(connection)

    def agents_online(self) -> int:
        return len({a.username for a in self._agents})

    async def to_customer(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for socket in list(self._customers.get(conversation_id, ())):
            await self.send(socket, frame)
        for prefix, deliver in self._channels.items():
            if conversation_id.startswith(prefix):
                await deliver(conversation_id, frame)

    async def to_agents(self, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            await self.send(agent.socket, frame)

    async def to_watchers(self, conversation_id: str, frame: dict[str, Any]) -> None:
        for agent in list(self._agents):
            if conversation_id in agent.watching:
                await self.send(agent.socket, frame)

    async def close_all(self) -> None:
        sockets = [s for group in self._customers.values() for s in group]
        sockets += [a.socket for a in self._agents]
        for socket in sockets:
            await socket.close(code=1001, message=b"server shutdown")

    @staticmethod
    async def send(socket: web.WebSocketResponse, frame: dict[str, Any]) -> None:
        if socket.closed:
            return
        try:
            await socket.send_json(frame)
        except (ConnectionError, RuntimeError):
            logger.info("dropped a frame for a closing socket")
