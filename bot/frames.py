"""Reading a WebSocket to the last frame the gateway received.

A socket's `async for` can end while frames aiohttp already read from the network (a burst
the client sent just before its connection broke) still wait in the socket's queue: when the
heartbeat's ping finds the connection gone, aiohttp marks the socket closed, and the loop
stops at once. A handler slow enough for a heartbeat to fall in the middle of a burst (a
queued message took 0.75 s with a long queue) then dropped the rest of it. Those are
messages the client saw as sent: `every_frame` hands them over too, so that each one is
stored or refused, never silently dropped."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import WSMsgType, web

logger = logging.getLogger(__name__)
_DATA = (WSMsgType.TEXT, WSMsgType.BINARY)


async def every_frame(socket: web.WebSocketResponse) -> AsyncIterator[Any]:
    """The socket's frames, as `async for frame in socket` gives them, then the data frames
    still queued when the connection ended."""
    async for frame in socket:
        yield frame
    left = 0
    async for frame in _left_behind(socket):
        left += 1
        yield frame
    if left:
        logger.info("handled %d frames received before the connection ended", left)


async def _left_behind(socket: web.WebSocketResponse) -> AsyncIterator[Any]:
    # aiohttp keeps the received frames in `_reader` (a queue with a public read()); if that
    # changes, this finds nothing and only the frames read before the end are handled.
    reader = getattr(socket, "_reader", None)
    is_eof = getattr(reader, "is_eof", None)
    if reader is None or is_eof is None or not is_eof():
        return  # a clean close (nothing may follow a close frame), or the queue is still open
    while True:
        try:
            # At end of stream read() never waits: a queued frame, else it raises.
            frame = await reader.read()
        except Exception:  # the end of the stream, or the error that ended it: all read
            return
        if frame.type in _DATA:
            yield frame
        elif frame.type == WSMsgType.CLOSE:
            return
