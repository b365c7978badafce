"""The admins' JSON API: agent management (/api/agents) and the audit log (/api/audit).
A password reset takes the new password from the admin and returns nothing secret: no
password ever travels back in a response, where caches and screenshots could keep it."""
from __future__ import annotations


from aiohttp import web

from bot.app_keys import HUB, SESSIONS
from bot.console import agents, audit
from bot.console.guard import AGENT, json_error, json_object, requires, text_field

ROLE_CHANGED = 4000  # the console reconnects and reads its new role




def _refused(error: agents.AgentError) -> web.HTTPException:
    status = {404: web.HTTPNotFound, 409: web.HTTPConflict}.get(error.status, web.HTTPBadRequest)
    return json_error(status, str(error))


@requires("agents")
async def list_agents(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        return web.json_response([agents.agent_frame(a) for a in await agents.list_agents(session)])


@requires("agents")
async def add_agent(request: web.Request) -> web.Response:
    body = await json_object(request, json_only=False)
    username, name, password = text_field(body, "username"), text_field(body, "name"), text_field(body, "password")
    role = text_field(body, "role", required=False)
    try:
        async with request.app[SESSIONS].begin() as session:
            agent = await agents.add(session, (username or "").strip(), name or "", password or "", role,
                                     request[AGENT].username, audit.client_address(request))
            frame = agents.agent_frame(agent)
    except agents.AgentError as error:
        raise _refused(error) from None
    return web.json_response(frame, status=201)


@requires("agents")
async def change_agent(request: web.Request) -> web.Response:
    body = await json_object(request, json_only=False)
    active = body.get("active")
    if active is not None and not isinstance(active, bool):
        raise json_error(web.HTTPBadRequest, "'active' must be true or false")
    name, role = text_field(body, "name", required=False), text_field(body, "role", required=False)
    username = request.match_info["username"]
    try:
        async with request.app[SESSIONS].begin() as session:
            before = (await agents.find(session, username)).role
            agent = await agents.change(session, username, request[AGENT].username, audit.client_address(request),
                                        name=name, role=role, active=active)
            frame = agents.agent_frame(agent)
    except agents.AgentError as error:
        raise _refused(error) from None
    hub = request.app[HUB]
    if not frame["active"]:
        await hub.close_agents(username=username)
    elif frame["role"] != before:
        await hub.close_agents(username=username, code=ROLE_CHANGED, reason=b"role changed")
    return web.json_response(frame)


@requires("agents")
async def reset_password(request: web.Request) -> web.Response:
    password = text_field(await json_object(request, json_only=False), "password")
    username = request.match_info["username"]
    try:
        async with request.app[SESSIONS].begin() as session:
            await agents.reset_password(session, username, password or "", request[AGENT].username,
                                        audit.client_address(request))
    except agents.AgentError as error:
        raise _refused(error) from None
    await request.app[HUB].close_agents(username=username)
    return web.json_response({"username": username, "password_reset": True, "sessions_ended": True})


def _int(request: web.Request, key: str, default: int | None) -> int | None:
    raw = request.query.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise json_error(web.HTTPBadRequest, f"{key} must be a whole number") from None
    if value < 1:
        raise json_error(web.HTTPBadRequest, f"{key} must be at least 1")
    return value


@requires("audit")
async def list_audit(request: web.Request) -> web.Response:
    """Newest first; `before` (an id) pages back, `actor` and `action` filter."""
    limit = _int(request, "limit", audit.PAGE) or audit.PAGE
    before = _int(request, "before", None)
    async with request.app[SESSIONS]() as session:
        rows = await audit.entries(session, actor=request.query.get("actor", "").strip() or None,
                                   action=request.query.get("action", "").strip() or None,
                                   before=before, limit=limit)
    entries = [audit.entry_frame(e) for e in rows]
    more = len(rows) == min(limit, audit.MAX_PAGE)
    return web.json_response({"entries": entries, "next_before": entries[-1]["id"] if entries and more else None})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/agents", list_agents)
    app.router.add_post("/api/agents", add_agent)
    app.router.add_patch("/api/agents/{username}", change_agent)
    app.router.add_post("/api/agents/{username}/password", reset_password)
    app.router.add_get("/api/audit", list_audit)
