"""The web chat widget's WebSocket: replays the transcript on every (re)connect, stores and
routes every message, and answers politely when something goes wrong."""
from __future__ import annotations

import json
import logging
import math
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot import store
from bot.app_keys import HUB, LIMITER, ROUTER, SESSIONS, SETTINGS
from bot.hub import coalesce_writes
from bot.peers import client_address, limit_key
from bot.router import MAX_TEXT
from bot.security import origin_allowed

logger = logging.getLogger(__name__)
CHANNEL = "webchat"


async def chat_socket(request: web.Request) -> web.WebSocketResponse:
    if not origin_allowed(request, request.app[SETTINGS].allowed_origins, required=True):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    # Every socket counts (a reload resumes a chat and reads its transcript), then its place
    # among the address's open sockets.
    limiter, address = request.app[LIMITER], limit_key(client_address(request))
    slot = None
    if await limiter.allow((limiter.connects, address)) <= 0:
        slot = await limiter.open_slot(limiter.sockets, address)
    socket = web.WebSocketResponse(heartbeat=25, max_msg_size=16 * 1024)
    await socket.prepare(request)
    if slot is None:
        return await _refuse(request, socket)
    try:
        coalesce_writes(socket)
        hello = await _hello(request, request.query.get("conversation"))
        if hello is None:
            return await _refuse(request, socket)
        conversation_id = hello["conversation_id"]
        hub = request.app[HUB]
        hub.add_customer(conversation_id, socket)
        try:
            await socket.send_json(hello)
            async for frame in socket:
                if frame.type == WSMsgType.TEXT:
                    await _handle(request, conversation_id, socket, frame.data)
        finally:
            hub.remove_customer(conversation_id, socket)
    finally:
        await limiter.close_slot(slot)
    return socket


async def _refuse(request: web.Request, socket: web.WebSocketResponse) -> web.WebSocketResponse:
    """Too many chats or sockets from this address: a polite word the widget shows, then "try
    again later" (the widget reconnects with its back-off). Nothing is stored."""
    text = request.app[ROUTER].texts.say("utter_gateway_too_many_chats")
    await socket.send_json({"type": "error", "code": "too_many_chats", "text": text})
    await socket.close(code=WSCloseCode.TRY_AGAIN_LATER)
    return socket


async def _hello(request: web.Request, requested: str | None) -> dict[str, Any] | None:
    """The conversation this socket carries and its transcript so far: the one asked for (a
    reconnect, a reload) when it exists on this channel, else a new one, which has nothing to
    look up (an unknown id is never trusted blindly). None: this address may not start
    another conversation now."""
    if requested:
        async with request.app[SESSIONS]() as session:
            found = await store.conversation(session, requested)
            if found is not None and found.channel == CHANNEL:
                history = [store.message_frame(m) for m in await store.history(session, found.id)]
                return {"type": "hello", "conversation_id": found.id, "mode": found.mode,
                        "agent_name": found.agent_name, "history": history}
    limiter = request.app[LIMITER]
    if await limiter.allow((limiter.new_chats, limit_key(client_address(request)))) > 0:
        return None
    conversation_id = await request.app[ROUTER].new_conversation(CHANNEL)
    return {"type": "hello", "conversation_id": conversation_id, "mode": "bot", "agent_name": None, "history": []}


async def _handle(request: web.Request, conversation_id: str, socket: web.WebSocketResponse, raw: str) -> None:
    try:
        data: dict[str, Any] = json.loads(raw)
        kind = data.get("type")
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
    text = str(data.get("text") or "").strip()
    payload = data.get("payload")
    payload = str(payload) if isinstance(payload, str) and payload.startswith("/") and len(payload) <= 500 else None
    client_id = str(data.get("client_id") or "")[:64] or None
    if not text:
        return
    if len(text) > MAX_TEXT:
        await socket.send_json({"type": "error", "text": f"That message is too long; please keep it under {MAX_TEXT} characters."})
        return
    if await _over_limit(request, conversation_id, socket, client_id):
        return
    try:
        await request.app[ROUTER].customer_message(conversation_id, text, payload=payload, client_id=client_id)
    except Exception:  # one conversation's failure never stops another, nor this socket
        logger.exception("routing failed in conversation %s", conversation_id)
        await socket.send_json({"type": "error", "text": "Sorry, something went wrong on our side. Please try again in a moment."})


async def _over_limit(request: web.Request, conversation_id: str, socket: web.WebSocketResponse,
                      client_id: str | None) -> bool:
    """Messages per address and per conversation. One over either is refused, not stored; the
    error frame names it (client_id) so the widget marks that message "not sent"."""
    limiter = request.app[LIMITER]
    wait = await limiter.allow((limiter.address_messages, limit_key(client_address(request))),
                               (limiter.chat_messages, conversation_id))
    if wait <= 0:
        return False
    await socket.send_json({"type": "error", "code": "too_many_messages", "client_id": client_id,
                            "retry_after": math.ceil(wait),
                            "text": request.app[ROUTER].texts.say("utter_gateway_too_many_messages")})
    return True
