"""A socket's handler gets every frame the gateway received, even when the heartbeat finds
the connection gone in the middle of a burst (aiohttp then ends the socket's own loop)."""
import asyncio

import aiohttp
import pytest
from aiohttp import WSMsgType, web

from bot.frames import every_frame


async def handled_before_the_end(read) -> list[str]:  # type: ignore[no-untyped-def]
    """20 frames, then the client's connection is cut while the server handles the first
    one and its heartbeat (0.05 s) notices. The frames the handler got, in order."""
    handled: list[str] = []
    aborted, finished = asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(heartbeat=0.05)
        await socket.prepare(request)
        async for frame in read(socket):
            if frame.type == WSMsgType.TEXT:
                handled.append(frame.data)
                if len(handled) == 1:  # slow work: the peer goes, the heartbeat notices
                    await aborted.wait()
                    for _ in range(100):
                        if socket.closed:
                            break
                        await asyncio.sleep(0.05)
        finished.set()
        return socket

    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app, handler_cancellation=False)  # as the gateway runs
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        async with aiohttp.ClientSession() as client:
            ws = await client.ws_connect(f"http://{host}:{port}/ws", autoping=False)
            for n in range(20):
                await ws.send_str(f"m{n}")
            ws._writer.transport.abort()
            aborted.set()
            await asyncio.wait_for(finished.wait(), 10)
    finally:
        await runner.cleanup()
    return handled


async def test_every_frame_hands_over_what_the_socket_had_queued() -> None:
    assert await handled_before_the_end(every_frame) == [f"m{n}" for n in range(20)]


async def test_the_socket_alone_drops_them() -> None:
    """Why every_frame exists: if aiohttp ever stops dropping them, it can go."""
    handled = await handled_before_the_end(lambda socket: socket)
    if len(handled) == 20:
        pytest.skip("this aiohttp hands over every queued frame by itself")
    assert handled == ["m0"]
