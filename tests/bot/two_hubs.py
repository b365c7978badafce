"""Several gateways' Hubs on one real Redis (DB 13, a random prefix per test, removed after),
and real WebSocket pairs to hang on them: the socket a Hub sends on, and the client end a
test reads from."""
from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientWebSocketResponse, web
from aiohttp.test_utils import TestClient, TestServer

from bot import fanout
from bot.fanout import Fanout
from bot.hub import Hub

REDIS_URL = "redis://127.0.0.1:6379/13"


async def redis_answers(url: str = REDIS_URL) -> bool:
    client, subscriber = fanout.connect(url)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()
        await subscriber.aclose()


@contextlib.asynccontextmanager
async def scratch_prefix(url: str = REDIS_URL) -> AsyncIterator[str]:
    """A key prefix no other test uses; its keys are deleted afterwards. Skips without Redis."""
    if not await redis_answers(url):
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-gateways:{secrets.token_hex(6)}:"
    try:
        yield prefix
    finally:
        client, subscriber = fanout.connect(url)
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
        await subscriber.aclose()


@dataclass
class Gateway:
    hub: Hub
    fanout: Fanout
    task: asyncio.Task[None]


@contextlib.asynccontextmanager
async def running_hubs(count: int, prefix: str, url: str = REDIS_URL,
                       presence_seconds: float = fanout.PRESENCE_SECONDS) -> AsyncIterator[list[Gateway]]:
    """`count` Hubs, each with its own Fanout running (as bot/app.py wires them), subscribed."""
    gateways, clients = [], []
    for _ in range(count):
        client, subscriber = fanout.connect(url)
        clients += [client, subscriber]
        hub, shared = Hub(), Fanout(client, subscriber, prefix, presence_seconds=presence_seconds)
        hub.attach(shared)
        task = asyncio.create_task(shared.run(hub.receive, hub.local_agents))
        gateways.append(Gateway(hub, shared, task))
    try:
        for gateway in gateways:
            await asyncio.wait_for(gateway.fanout.subscribed.wait(), 5)
        yield gateways
    finally:
        for gateway in gateways:
            gateway.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await gateway.task
        for client in clients:
            await client.aclose()


class SocketPairs:
    """A tiny server whose handler only holds WebSocket connections open: `pair()` gives the
    server's socket (for a Hub) and the client's end (what a widget or console reads)."""

    def __init__(self) -> None:
        self._opened: asyncio.Queue[web.WebSocketResponse] = asyncio.Queue()
        self._release = asyncio.Event()
        app = web.Application()
        app.router.add_get("/ws", self._handler)
        self._client = TestClient(TestServer(app))

    async def _handler(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await self._opened.put(socket)
        await self._release.wait()
        return socket

    async def __aenter__(self) -> "SocketPairs":
        await self._client.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        self._release.set()
        await self._client.close()

    async def pair(self) -> tuple[web.WebSocketResponse, ClientWebSocketResponse]:
        end = await self._client.ws_connect("/ws")
        return await self._opened.get(), end


async def frames_until(end: ClientWebSocketResponse, marker: dict[str, Any], timeout: float = 5) -> list[dict[str, Any]]:
    """Every frame `end` receives up to and including `marker`."""
    seen = []
    while True:
        frame = await end.receive_json(timeout=timeout)
        seen.append(frame)
        if frame == marker:
            return seen


async def until(check: Any, timeout: float = 5) -> None:
    """Wait until `check()` is true (every 20 ms), else fail."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("not within the time allowed")
        await asyncio.sleep(0.02)
