"""A small stand-in for Rasa's REST channel (engine/channel.py) where the real stack is
overkill: it answers "You said <message>" (with a button to "offer"), once per message id (the same id again gets the
same replies, as engine/channel.py does), and can hold messages unanswered, as a Rasa busy
when the gateway dies. It listens on a chosen port, so a gateway can be pointed at it before
it runs (a refused connection) and find it there later."""
from __future__ import annotations

import asyncio
import socket
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RasaStandIn:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.received: list[dict[str, Any]] = []
        self.turns: list[tuple[str, str | None]] = []  # (sender, message id) of each turn run
        self.resumed: list[str] = []  # senders whose paused tracker was resumed
        self._answers: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.hold = False  # messages wait (unanswered) until `release`
        self.holding = asyncio.Event()  # a message is being held
        self._release = asyncio.Event()
        self._server: TestServer | None = None

    async def start(self) -> "RasaStandIn":
        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self._resume)
        self._server = TestServer(app, host="127.0.0.1", port=self.port)
        await self._server.start_server()
        return self

    async def close(self) -> None:
        self._release.set()
        if self._server is not None:
            await self._server.close()

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if self.hold:
            self.holding.set()
            await self._release.wait()
            return web.json_response({"error": "gone"}, status=500)
        sender, message_id = body["sender"], body.get("message_id")
        if message_id is not None and (sender, message_id) in self._answers:
            return web.json_response(self._answers[(sender, message_id)])
        self.turns.append((sender, message_id))
        replies: list[dict[str, Any]] = [{"recipient_id": sender, "text": f"You said {body['message']}"}]
        if body["message"] == "offer":
            replies[0]["buttons"] = [{"title": "Yes, please", "payload": "/affirm"}]
        if message_id is not None:
            self._answers[(sender, message_id)] = replies
        return web.json_response(replies)

    async def _resume(self, request: web.Request) -> web.Response:
        self.resumed.append(request.match_info["sender"])
        return web.json_response({})
