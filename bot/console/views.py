"""Console pages, login and the console WebSocket."""
from __future__ import annotations

import json
import logging
from pathlib import Path

from aiohttp import WSMsgType, web

from bot.app_keys import CANNED, DESK, HUB, LOGIN_THROTTLE, SESSIONS, SETTINGS
from bot.console import audit, auth
from bot.console.desk import DeskError
from bot.console.guard import current_agent, page_for
from bot.console.roles import can, permissions_of
from bot.hub import AgentConnection, coalesce_writes
from bot.security import origin_allowed

__all__ = ["current_agent"]  # bot.api and others import it from here
logger = logging.getLogger(__name__)
PAGES = Path(__file__).resolve().parent.parent / "static" / "console"


async def login_page(request: web.Request) -> web.FileResponse:
    return web.FileResponse(PAGES / "login.html")


async def login(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    if not origin_allowed(request, settings.allowed_origins, required=False):
        raise web.HTTPForbidden(text="cross-site login refused")
    form = await request.post()
    username, password = str(form.get("username", "")).strip(), str(form.get("password", ""))
    throttle = request.app[LOGIN_THROTTLE]
    minutes = throttle.wait_minutes(username)
    if minutes:  # not even checked, so waiting out the pause is the only way on
        raise web.HTTPSeeOther(f"/console/login?error=wait&minutes={minutes}")
    address = audit.client_address(request)
    async with request.app[SESSIONS].begin() as session:
        agent = await auth.authenticate(session, username, password)
        token = await auth.start_session(session, agent, settings.session_hours) if agent else None
        if agent is not None:
            await auth.purge_sessions(session, settings.idle_minutes)
            audit.record(session, agent.username, "sign_in", agent.username, {"role": agent.role}, address)
        else:
            audit.record(session, username[:64] or "-", "sign_in_failed", None, None, address)
    if token is None:
        logger.info("failed console login for %r", username[:64])
        throttle.failed(username)
        raise web.HTTPSeeOther("/console/login?error=1")
    throttle.succeeded(username)
    response = web.HTTPSeeOther("/console")
    response.set_cookie(
        auth.COOKIE, token, httponly=True, samesite="Strict", secure=settings.secure_cookies,
        max_age=settings.session_hours * 3600, path="/",
    )
    raise response


async def logout(request: web.Request) -> web.Response:
    if not origin_allowed(request, request.app[SETTINGS].allowed_origins, required=False):
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
    if not origin_allowed(request, request.app[SETTINGS].allowed_origins, required=True):
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
        await socket.send_json({"type": "hello", "agent": {"username": agent.username, "name": agent.name,
                                                           "role": agent.role},
                                "permissions": permissions_of(agent.role), "canned": request.app[CANNED]})
        await socket.send_json({"type": "queue", "items": await desk.queue()})
        async for frame in socket:
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
        if kind == "open":
            await desk.show(connection, conversation_id)
        elif kind == "claim":
            await desk.claim(connection, conversation_id)
        elif kind == "send":
            await desk.send(connection, conversation_id, str(data.get("text", "")))
        elif kind == "typing":
            await desk.typing(connection, conversation_id, bool(data.get("on")))
        elif kind == "note":
            await desk.note(connection, conversation_id, str(data.get("text", "")))
        elif kind == "ticket_status":
            await desk.ticket_status(connection, conversation_id, str(data.get("status", "")))
        elif kind == "resolve":
            await desk.resolve(connection, conversation_id)
    except DeskError as error:
        await connection.socket.send_json({"type": "error", "text": str(error)})
    except (ValueError, AttributeError):
        await connection.socket.send_json({"type": "error", "text": "That request was not understood."})
    except Exception:  # one agent's failure must not end their console session
        logger.exception("console request failed for %s", connection.username)
        await connection.socket.send_json({"type": "error", "text": "Something went wrong; please try again."})
