"""Sending to a socket whose connection is gone never raises: the socket is dropped from the
hub, and the others still get their frames."""
import asyncio

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from bot.hub import AgentConnection, Hub


class Sockets:
    """A tiny server whose handler only opens WebSocket connections and holds them open."""

    def __init__(self) -> None:
        self.opened: asyncio.Queue[tuple[web.Request, web.WebSocketResponse]] = asyncio.Queue()
        self.release = asyncio.Event()

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await self.opened.put((request, socket))
        await self.release.wait()
        return socket


async def test_sends_to_dead_sockets_never_raise_and_drop_them() -> None:
    sockets = Sockets()
    app = web.Application()
    app.router.add_get("/ws", sockets.handler)
    client = TestClient(TestServer(app))
    await client.start_server()
    hub = Hub()
    try:
        live = await client.ws_connect("/ws")
        _, live_socket = await sockets.opened.get()
        await client.ws_connect("/ws")
        gone_request, gone_socket = await sockets.opened.get()
        await client.ws_connect("/ws")
        agent_request, agent_socket = await sockets.opened.get()
        hub.add_customer("c_live", live_socket)
        hub.add_customer("c_gone", gone_socket)
        hub.add_customer("c_live", gone_socket)  # a second tab of the live chat, gone too
        agent = AgentConnection(socket=agent_socket, username="dana", name="Dana", watching={"c_live"})
        hub.add_agent(agent)
        # The connections are gone before the sockets are closed: the state a send meets when
        # the peer vanished while the gateway was busy with its messages.
        gone_request.transport.close()
        agent_request.transport.close()

        await hub.to_customer("c_gone", {"type": "message", "n": 1})
        await hub.to_customer("c_live", {"type": "message", "n": 2})
        await hub.to_watchers("c_live", {"type": "message", "n": 3})
        await hub.to_agents({"type": "queue", "items": []})

        assert (await live.receive_json(timeout=5)) == {"type": "message", "n": 2}
        assert hub._customers == {"c_live": {live_socket}}
        assert hub.agents_online() == 0
        assert await hub.send(gone_socket, {"type": "x"}) is False
        assert await hub.send(live_socket, {"type": "x"}) is True
        await gone_socket.close()
        assert gone_socket.closed and await hub.send(gone_socket, {"type": "x"}) is False
    finally:
        sockets.release.set()
        await client.close()
