"""Console pages, login and the console WebSocket."""
from __future__ import annotations

import json
import logging
import math
from pathlib import Path

from aiohttp import WSMsgType, web

from bot.app_keys import DESK, HUB, LIMITER, PASSWORDS, SESSIONS, SETTINGS
from bot.console import audit, auth, presence
from bot.console.desk import DeskError
from bot.console.guard import current_agent, page_for
from bot.console.passwords import Busy
from bot.console.roles import can, permissions_of
from bot.frames import every_frame
from bot.hub import AgentConnection, coalesce_writes
from bot.peers import client_address, limit_key
from bot.security import console_origin_allowed
from bot.text_input import clean, has_forbidden

__all__ = ["current_agent"]  # bot.api and others import it from here
logger = logging.getLogger(__name__)
PAGES = Path(__file__).resolve().parent.parent / "static" / "console"


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES / "login.html")


async def login(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not console_origin_allowed(request, required=False):
        raise web.HTTPForbidden(text="cross-site login refused")
    try:
        form = await request.post()
    except ValueError:  # a body that is no form at all
        raise web.HTTPBadRequest(text="send the username and password as a form") from None
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    # Failures count per username (one agent's typos never lock out an office behind one
    # proxy) and per address (guessing across many usernames from one place).
    limiter = request.app[LIMITER]
    by_name = (limiter.signin_username, username.casefold()[:64])
    by_address = (limiter.signin_address, limit_key(client_address(request)))
    wait = await limiter.failure_wait(by_name, by_address)
    if wait > 0:  # not even checked, so waiting out the pause is the only way on
        raise web.HTTPSeeOther(f"/console/login?error=wait&minutes={math.ceil(wait / 60)}")
    agent = None
    if not has_forbidden(username) and not has_forbidden(password):  # no account has a NUL
        try:
            agent = await auth.authenticate(request.app[SESSIONS], username, password, request.app[PASSWORDS])
        except Busy:
            raise web.HTTPSeeOther("/console/login?error=busy") from None
    address = audit.client_address(request)
    if agent is None:
        # No username at INFO: people type their password into the username field.
        logger.info("failed console login")
        async with request.app[SESSIONS].begin() as session:
            audit.record(session, clean(username)[:64] or "-", "sign_in_failed", None, None, address)
        await limiter.failed(by_name, by_address)
        if await limiter.failure_wait(by_name, by_address) > 0:
            logger.warning("console sign-in paused for a username or its address after too many wrong passwords")
        raise web.HTTPSeeOther("/console/login?error=1")
    async with request.app[SESSIONS].begin() as session:
        token = await auth.start_session(session, agent, settings.session_hours)
        await auth.purge_sessions(session, settings.idle_minutes)
        audit.record(session, agent.username, "sign_in", agent.username, {"role": agent.role}, address)
    await limiter.forget(*by_name)
    response = web.HTTPSeeOther("/console")
    response.set_cookie(
        auth.COOKIE, token, httponly=True, samesite="Strict", secure=settings.secure_cookies,
        max_age=settings.session_hours * 3600, path="/",
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    if not console_origin_allowed(request, required=False):
        raise web.HTTPForbidden(text="cross-site logout refused")
    token = request.cookies.get(auth.COOKIE)
    async with request.app[SESSIONS].begin() as session:
        username = await auth.end_session(session, token)
        if username is not None:
            audit.record(session, username, "sign_out", username, None, audit.client_address(request))
    if token:  # other tabs of this login stop too
        await request.app[HUB].close_agents(session_keys={auth.session_key(token)})
    response = web.HTTPSeeOther("/console/login")
    response.del_cookie(auth.COOKIE, path="/")
    raise response


async def console_page(request: web.Request) -> web.StreamResponse:
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPFound("/console/login")
    if not can(agent, "conversations"):  # a trainer: training work only
        return web.FileResponse(PAGES / "trainer.html")
    return web.FileResponse(PAGES / "index.html")


async def reports_page(request: web.Request) -> web.StreamResponse:
    """Team leads' reports (the page reads /api/reports)."""
    await page_for(request, "reports")
    return web.FileResponse(PAGES / "reports.html")


async def agents_page(request: web.Request) -> web.StreamResponse:
    """Admins add agents, change roles, reset passwords (the page uses /api/agents)."""
    await page_for(request, "agents")
    return web.FileResponse(PAGES / "agents.html")


async def audit_page(request: web.Request) -> web.StreamResponse:
    """Admins read the audit log (the page reads /api/audit)."""
    await page_for(request, "audit")
    return web.FileResponse(PAGES / "audit.html")


async def console_socket(request: web.Request) -> web.WebSocketResponse:
    if not console_origin_allowed(request, required=True):
        raise web.HTTPForbidden(text="cross-site WebSocket refused")
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPUnauthorized(text="log in first")
    if not can(agent, "conversations"):
        raise web.HTTPForbidden(text="your role does not include the queue")
    socket = web.WebSocketResponse(heartbeat=25, max_msg_size=64 * 1024)
    await socket.prepare(request)
    coalesce_writes(socket)
    hub, desk = request.app[HUB], request.app[DESK]
    connection = AgentConnection(socket=socket, username=agent.username, name=agent.name, role=agent.role,
                                 session_key=auth.session_key(request.cookies[auth.COOKIE]),
                                 address=audit.client_address(request))
    hub.add_agent(connection)
    try:
        await hub.send(socket, {"type": "hello", "agent": {"username": agent.username, "name": agent.name,
                                                            "role": agent.role},
                                "permissions": permissions_of(agent.role), "status": connection.status})
        await hub.send(socket, {"type": "queue", "items": await desk.queue()})
        connection.greeted = True
        if presence.sees_presence(connection):
            await hub.send(socket, presence.agents_frame(hub))
        async for frame in every_frame(socket):
            if frame.type != WSMsgType.TEXT:
                continue
            await _handle(desk, connection, frame.data)
    finally:
        hub.remove_agent(connection)
    return socket


async def _handle(desk, connection: AgentConnection, raw: str) -> None:  # type: ignore[no-untyped-def]
    try:
        data = json.loads(raw)
        kind, conversation_id = data.get("type"), str(data.get("conversation_id", ""))
        if has_forbidden(conversation_id):  # no conversation id has one; PostgreSQL refuses NUL
            raise DeskError("That conversation does not exist.")
        if kind == "open":
            await desk.show(connection, conversation_id)
        elif kind == "claim":
            await desk.claim(connection, conversation_id)
        elif kind == "send":
            await desk.send(connection, conversation_id, clean(str(data.get("text", ""))))
        elif kind == "typing":
            await desk.typing(connection, conversation_id, bool(data.get("on")))
        elif kind == "note":
            await desk.note(connection, conversation_id, clean(str(data.get("text", ""))))
        elif kind == "ticket_status":
            await desk.ticket_status(connection, conversation_id, clean(str(data.get("status", ""))))
        elif kind == "resolve":
            await desk.resolve(connection, conversation_id)
        elif kind == "hand_back":
            await desk.resolve(connection, conversation_id, resolve=False)
        elif kind == "status":
            presence.set_status(desk.hub, connection, data)
            await desk.hub.send(connection.socket, {"type": "status", "status": connection.status})
    except (DeskError, presence.StatusRefused) as error:
        await desk.hub.send(connection.socket, {"type": "error", "text": str(error)})
    except (ValueError, AttributeError):
        await desk.hub.send(connection.socket, {"type": "error", "text": "That request was not understood."})
    except Exception:  # one agent's failure must not end their console session
        logger.exception("console request failed for %s", connection.username)
        await desk.hub.send(connection.socket, {"type": "error", "text": "Something went wrong; please try again."})
