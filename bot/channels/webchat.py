"""The web chat widget's WebSocket: replays the transcript on every (re)connect, stores and
routes every message, and answers politely when something goes wrong."""
from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from aiohttp import WSMsgType, web

from bot import inbound, store
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
    hello = await _hello(request, request.query.get("resume"))
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


async def _hello(request: web.Request, token: str | None) -> dict[str, Any]:
    """The conversation this socket carries and its transcript so far: the one the widget's
    resume token opens (a reconnect, a reload) while it has not expired, else a new one, which
    has nothing to look up. The conversation id alone opens nothing: it shows in the console
    and the logs, so it must not be a key to the transcript."""
    resume_for = dt.timedelta(hours=request.app[SETTINGS].chat_resume_hours)
    if token and len(token) <= 128:
        async with request.app[SESSIONS].begin() as session:
            found = await store.resumed(session, token, CHANNEL, resume_for)
            if found is not None:
                history = [store.message_frame(m) for m in await store.history(session, found.id)]
                return {"type": "hello", "conversation_id": found.id, "resume": token, "mode": found.mode,
                        "agent_name": found.agent_name, "history": history}
    chat = await request.app[ROUTER].new_conversation(CHANNEL, resume_for)
    return {"type": "hello", "conversation_id": chat.conversation_id, "resume": chat.resume_token, "mode": "bot",
            "agent_name": None, "history": []}


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
        await request.app[ROUTER].customer_message(
            conversation_id, text, payload=payload, client_id=client_id,
            client=inbound.client_key("address", request.remote or "unknown"),
        )
    except Exception:  # one conversation's failure never stops another, nor this socket
        logger.exception("routing failed in conversation %s", conversation_id)
        await socket.send_json({"type": "error", "text": "Sorry, something went wrong on our side. Please try again in a moment."})


async def _unreadable(request: web.Request, socket: web.WebSocketResponse) -> None:
    """A frame that holds nothing readable (binary data, only control characters)."""
    text = request.app[ROUTER].texts.say("utter_gateway_unreadable_message")
    await socket.send_json({"type": "error", "text": text})
