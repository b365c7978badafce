"""The web chat widget's WebSocket: replays the transcript on every (re)connect, stores and
routes every message, and answers politely when something goes wrong."""
from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bot import store
from bot.app_keys import HUB, ROUTER, SESSIONS, SETTINGS
from bot.hub import coalesce_writes
from bot.router import MAX_TEXT
from bot.security import origin_allowed
from bot.text_input import clean

logger = logging.getLogger(__name__)
CHANNEL = "webchat"


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    if not origin_allowed(request, request.app[SETTINGS].allowed_origins, required=True):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    socket = web.WebSocketResponse(heartbeat=25, max_msg_size=16 * 1024)
    await socket.prepare(request)
    coalesce_writes(socket)
    hello = await _hello(request, request.query.get("conversation"))
    conversation_id = hello["conversation_id"]
    hub = request.app[HUB]
    hub.add_customer(conversation_id, socket)
    try:
        await socket.send_json(hello)
        async for frame in socket:
            if frame.type == WSMsgType.TEXT:
                await _handle(request, conversation_id, socket, frame.data)
            elif frame.type == WSMsgType.BINARY:
                await _unreadable(request, socket)
    finally:
        hub.remove_customer(conversation_id, socket)
    return socket


async def _hello(request: web.Request, requested: str | None) -> dict[str, Any]:
    """The conversation this socket carries and its transcript so far: the one asked for (a
    reconnect, a reload) when it exists on this channel, else a new one, which has nothing to
    look up (an unknown id is never trusted blindly)."""
    if requested:
        async with request.app[SESSIONS]() as session:
            found = await store.conversation(session, requested)
            if found is not None and found.channel == CHANNEL:
                history = [store.message_frame(m) for m in await store.history(session, found.id)]
                return {"type": "hello", "conversation_id": found.id, "mode": found.mode,
                        "agent_name": found.agent_name, "history": history}
    conversation_id = await request.app[ROUTER].new_conversation(CHANNEL)
    return {"type": "hello", "conversation_id": conversation_id, "mode": "bot", "agent_name": None, "history": []}


async def _handle(request: web.Request, conversation_id: str, socket: web.WebSocketResponse, raw: str) -> None:
    try:
        data: dict[str, Any] = json.loads(raw)
        kind = data.get("type")
        if isinstance(data.get("payload"), str):  # stored with the line: no NUL, no lone surrogate
            data["payload"] = clean(data["payload"])
    except (ValueError, AttributeError):
        await socket.send_json({"type": "error", "text": "Sorry, I couldn't read that message."})
        return
    if kind == "typing":
        await request.app[HUB].to_watchers(
            conversation_id,
            {"type": "typing", "conversation_id": conversation_id, "from": "customer", "on": bool(data.get("on"))},
        )
        return
    if kind != "message":
        return
    raw_text = str(data.get("text") or "")
    text = clean(raw_text).strip()
    payload = data.get("payload")
    payload = str(payload) if isinstance(payload, str) and payload.startswith("/") and len(payload) <= 500 else None
    client_id = clean(str(data.get("client_id") or ""))[:64] or None
    if not text:
        if raw_text.strip():  # nothing but control characters: nothing left to store
            await _unreadable(request, socket)
        return
    if len(text) > MAX_TEXT:
        await socket.send_json({"type": "error", "text": f"That message is too long; please keep it under {MAX_TEXT} characters."})
        return
    try:
        await request.app[ROUTER].customer_message(conversation_id, text, payload=payload, client_id=client_id)
    except Exception:  # one conversation's failure never stops another, nor this socket
        logger.exception("routing failed in conversation %s", conversation_id)
        await socket.send_json({"type": "error", "text": "Sorry, something went wrong on our side. Please try again in a moment."})


async def _unreadable(request: web.Request, socket: web.WebSocketResponse) -> None:
    """A frame that holds nothing readable (binary data, only control characters)."""
    text = request.app[ROUTER].texts.say("utter_gateway_unreadable_message")
    await socket.send_json({"type": "error", "text": text})
