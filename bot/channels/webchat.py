"""The web chat widget's WebSocket: replays the transcript on every (re)connect, stores and
routes every message, and answers politely when something goes wrong."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import math
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from bot import inbound, store, waiting
from bot.app_keys import DESK, FANOUT, HUB, LIMITER, ROUTER, SESSIONS, SETTINGS
from bot.console.queue import conversation_detail
from bot.frames import every_frame
from bot.hub import coalesce_writes
from bot.limits import Slot
from bot.peers import client_address, limit_key
from bot.router import MAX_TEXT
from bot.security import origin_allowed
from bot.text_input import clean
from bot.texts import widget_texts

logger = logging.getLogger(__name__)
CHANNEL = "webchat"


async def chat_socket(request: web.Request) -> web.StreamResponse:
    if not origin_allowed(request, request.app[SETTINGS].allowed_origins, required=True):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    # Every socket counts (a reload resumes a chat and reads its transcript), then its place
    # among the address's open sockets.
    limiter, address = request.app[LIMITER], limit_key(client_address(request))
    repeat = limiter.known_wait((limiter.connects, address))
    if repeat > 0:  # refused already, with the polite frame: a flood's repeats get a bare 429
        return web.Response(status=429, headers={"Retry-After": str(math.ceil(repeat))})
    slot = None
    if await limiter.allow((limiter.connects, address)) <= 0:
        slot = await limiter.open_slot(limiter.sockets, address)
    socket = web.WebSocketResponse(heartbeat=25, max_msg_size=16 * 1024)
    await socket.prepare(request)
    if slot is None:
        return await _refuse(request, socket)
    # The chat runs in a task of its own: when the peer goes away aiohttp may cancel this
    # handler (its test server does), and the frames already received must still be handled.
    chat = asyncio.create_task(_chat(request, socket, slot))
    request.app[HUB].keep(chat)
    await asyncio.shield(chat)
    return socket


async def _chat(request: web.Request, socket: web.WebSocketResponse, slot: Slot) -> None:
    """The hello, then every frame the socket received, to the last one (bot/frames.py)."""
    limiter, hub = request.app[LIMITER], request.app[HUB]
    try:
        coalesce_writes(socket)
        hello = await _hello(request, request.query.get("resume"))
        if hello is None:
            await _refuse(request, socket)
            return
        conversation_id = hello["conversation_id"]
        hub.add_customer(conversation_id, socket)
        try:
            await hub.send(socket, hello)
            if hello["history"] and hello["mode"] != "bot" and FANOUT in request.app:
                await _catch_up_watchers(request, conversation_id)
            async for frame in every_frame(socket):
                if frame.type == WSMsgType.TEXT:
                    await _handle(request, conversation_id, socket, frame.data)
                elif frame.type == WSMsgType.BINARY:
                    await _error(request, socket, "utter_gateway_unreadable_message")
        finally:
            hub.remove_customer(conversation_id, socket)
    finally:
        await limiter.close_slot(slot)


async def _catch_up_watchers(request: web.Request, conversation_id: str) -> None:
    """With several gateways: a widget that reconnects may come from a gateway that died before
    it told the others about the customer's last lines (bot/fanout.py), so the consoles
    watching a conversation with a person read it again, on every gateway."""
    async with request.app[SESSIONS]() as session:
        detail = await conversation_detail(session, conversation_id, request.app[DESK].words)
    if detail is not None:
        await request.app[HUB].to_watchers(conversation_id, {"type": "conversation", "conversation": detail})


async def _refuse(request: web.Request, socket: web.WebSocketResponse) -> web.WebSocketResponse:
    """Too many chats or sockets from this address: a polite word the widget shows, then "try
    again later" (the widget reconnects with its back-off). Nothing is stored."""
    text = request.app[ROUTER].texts.say("utter_gateway_too_many_chats")
    await request.app[HUB].send(socket, {"type": "error", "code": "too_many_chats", "text": text})
    await socket.close(code=WSCloseCode.TRY_AGAIN_LATER)
    return socket


async def _hello(request: web.Request, token: str | None) -> dict[str, Any] | None:
    """The conversation this socket carries and its transcript so far: the one the widget's
    resume token opens (a reconnect, a reload) while it has not expired, else a new one, which
    has nothing to look up. The conversation id alone opens nothing: it shows in the console
    and the logs, so it must not be a key to the transcript. None: this address may not start
    another conversation now."""
    resume_for = dt.timedelta(hours=request.app[SETTINGS].chat_resume_hours)
    if token and len(token) <= 128:
        async with request.app[SESSIONS].begin() as session:
            found = await store.resumed(session, token, CHANNEL, resume_for)
            if found is not None:
                history = [store.message_frame(m) for m in await store.history(session, found.id)]
                promised = await store.promised_response_at(session, found.id) if found.mode == "queued" else None
                return {"type": "hello", "conversation_id": found.id, "resume": token, "mode": found.mode,
                        "agent_name": found.agent_name, "history": history,
                        "promised_response_at": promised.isoformat() if promised else None,
                        "promised_time": request.app[ROUTER].promised_time(promised),
                        "email_replies": request.app[SETTINGS].mail.enabled,
                        "texts": widget_texts(request.app[ROUTER].texts)}
    limiter = request.app[LIMITER]
    if await limiter.allow((limiter.new_chats, limit_key(client_address(request)))) > 0:
        return None
    chat = await request.app[ROUTER].new_conversation(CHANNEL, resume_for)
    return {"type": "hello", "conversation_id": chat.conversation_id, "resume": chat.resume_token, "mode": "bot",
            "agent_name": None, "history": [], "promised_response_at": None, "promised_time": None,
            "email_replies": request.app[SETTINGS].mail.enabled, "texts": widget_texts(request.app[ROUTER].texts)}


async def _handle(request: web.Request, conversation_id: str, socket: web.WebSocketResponse, raw: str) -> None:
    try:
        data: dict[str, Any] = json.loads(raw)
        kind = data.get("type")
        if isinstance(data.get("payload"), str):  # stored with the line: no NUL, no lone surrogate
            data["payload"] = clean(data["payload"])
    except (ValueError, AttributeError):
        await _error(request, socket, "utter_gateway_unreadable_frame")
        return
    if kind == "typing":
        await request.app[HUB].to_watchers(
            conversation_id,
            {"type": "typing", "conversation_id": conversation_id, "from": "customer", "on": bool(data.get("on"))},
        )
        return
    if kind == "back_to_assistant":
        await _back_to_assistant(request, conversation_id, socket)
        return
    if kind == "leave_email":
        await _leave_email(request, conversation_id, socket, data.get("email"))
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
            await _error(request, socket, "utter_gateway_unreadable_message")
        return
    if len(text) > MAX_TEXT:
        await _error(request, socket, "utter_gateway_message_too_long", max_characters=str(MAX_TEXT))
        return
    address = limit_key(client_address(request))
    if await _over_limit(request, address, conversation_id, socket, client_id):
        return
    try:
        await request.app[ROUTER].customer_message(
            conversation_id, text, payload=payload, client_id=client_id,
            client=inbound.client_key("address", address),
        )
    except Exception:  # one conversation's failure never stops another, nor this socket
        logger.exception("routing failed in conversation %s", conversation_id)
        await _error(request, socket, "utter_gateway_error")


async def _back_to_assistant(request: web.Request, conversation_id: str, socket: web.WebSocketResponse) -> None:
    """The waiting customer's way back to the assistant (counted like a message: each one
    is a write). Once a person has the conversation it stays with them, and the customer is told."""
    if await _over_limit(request, limit_key(client_address(request)), conversation_id, socket, None):
        return
    if await request.app[ROUTER].customer_back(conversation_id):
        return
    async with request.app[SESSIONS]() as session:
        found = await store.conversation(session, conversation_id)
    if found is not None and found.mode == "agent":  # else it is with the assistant already
        await _error(request, socket, "utter_gateway_customer_back_too_late")


async def _leave_email(request: web.Request, conversation_id: str, socket: web.WebSocketResponse,
                       given: Any) -> None:
    """The waiting customer leaves an address for the reply (bot/waiting.py); told where and
    by when, in a line kept in the transcript."""
    if await _over_limit(request, limit_key(client_address(request)), conversation_id, socket, None):
        return
    if not request.app[SETTINGS].mail.enabled:  # never offered then: the reply could not be sent
        await _error(request, socket, "utter_gateway_unreadable_frame")
        return
    email = waiting.email_address(clean(given)) if isinstance(given, str) else None
    if email is None:
        await _error(request, socket, "utter_gateway_email_invalid")
        return
    router = request.app[ROUTER]
    async with request.app[SESSIONS].begin() as session:
        ticket = await waiting.leave_email(session, conversation_id, email)
        promised = ticket.promised_response_at if ticket is not None else None
        number = ticket.number if ticket is not None else None
    if ticket is None:
        await _error(request, socket, "utter_gateway_email_not_waiting")
        return
    await router.say(conversation_id, "system", router.texts.say(
        "utter_gateway_email_noted", email=email, ticket_number=number or "",
        promised_time=router.promised_time(promised) or ""))
    await router.queue_changed()


async def _error(request: web.Request, socket: web.WebSocketResponse, response: str, **values: str) -> None:
    """An error frame in the trainers' words (domain.yml)."""
    await request.app[HUB].send(socket, {"type": "error", "text": request.app[ROUTER].texts.say(response, **values)})


async def _over_limit(request: web.Request, address: str, conversation_id: str, socket: web.WebSocketResponse,
                      client_id: str | None) -> bool:
    """Messages per address and per conversation. One over either is refused, not stored; the
    error frame names it (client_id) so the widget marks that message "not sent"."""
    limiter = request.app[LIMITER]
    wait = await limiter.allow((limiter.address_messages, address), (limiter.chat_messages, conversation_id))
    if wait <= 0:
        return False
    await request.app[HUB].send(socket, {"type": "error", "code": "too_many_messages", "client_id": client_id,
                                         "retry_after": math.ceil(wait),
                                         "text": request.app[ROUTER].texts.say("utter_gateway_too_many_messages")})
    return True
