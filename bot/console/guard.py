"""Who is asking: the signed-in agent of a request, and the guards the JSON API's handlers
wear (401 without a login, 403 without the permission, both as JSON)."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web

from bot.security import json_error  # noqa: F401  (re-exported for the API modules)

from caredesk.db.models import Agent
from bot.app_keys import SESSIONS, SETTINGS
from bot.console import auth
from bot.console.roles import can
from bot.security import console_origin_allowed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AGENT = web.RequestKey("agent", Agent)


async def current_agent(request: web.Request) -> Agent | None:
    """The agent of the session cookie (the session counts as used)."""
    async with request.app[SESSIONS].begin() as session:
        return await auth.agent_for(session, request.cookies.get(auth.COOKIE), request.app[SETTINGS].idle_minutes)


def requires(permission: str | None) -> Callable[[Handler], Handler]:
    """Wrap an API handler: only a signed-in agent with `permission` (None: any signed-in
    agent) gets through; the agent is in request[AGENT]."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            if request.method not in ("GET", "HEAD") and not console_origin_allowed(request, required=False):
                raise json_error(web.HTTPForbidden, "cross-site request refused")
            agent = await current_agent(request)
            if agent is None:
                raise json_error(web.HTTPUnauthorized, "log in first")
            if permission is not None and not can(agent, permission):
                raise json_error(web.HTTPForbidden, "your role does not allow this")
            request[AGENT] = agent
            return await handler(request)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    return wrap


async def page_for(request: web.Request, permission: str) -> Agent:
    """For console pages: the login page without a session, 403 without the permission."""
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPFound("/console/login")
    if not can(agent, permission):
        raise web.HTTPForbidden(text="Your role does not allow this page. Back to the console: /console")
    return agent


async def json_object(request: web.Request, *, json_only: bool = True) -> dict[str, Any]:
    """The request's body as a JSON object, else 400. `json_only`: sent as JSON (415
    otherwise), which a plain HTML form on another page cannot send."""
    if json_only and request.content_type != "application/json":
        raise json_error(web.HTTPUnsupportedMediaType, "send a JSON object (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise json_error(web.HTTPBadRequest, "send a JSON object")
    return body


def text_field(body: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """`body[key]` if it is a string; None when absent and not `required`; else 400."""
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise json_error(web.HTTPBadRequest, f"{key!r} must be a string")
    return value
