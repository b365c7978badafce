"""The privacy API and console page, for admins only:
GET  /api/privacy/customer?email=...|phone=...|ticket=...|conversation=...|telegram=...  what was found
GET  /api/privacy/customer/export?...   the JSON export (recorded in the audit log)
POST /api/privacy/customer/erase        {"email": "...", "confirm": "<the same again>"}
GET  /console/privacy                   the page that uses them."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from aiohttp import web

from caredesk.db.models import Agent, utcnow
from bot.api import AGENT, Handler, agents_only
from bot.app_keys import SESSIONS, SETTINGS, TRACKER_ENGINE
from bot.console.guard import current_agent
from bot.console.roles import can
from bot.privacy import retention
from bot.privacy.erase import ErasureBlocked, erase_customer
from bot.privacy.export import export_customer, overview
from bot.privacy.find import KINDS, BadQuery, Query, find_subject
from bot.privacy.tracker import make_tracker_engine
from bot.security import console_origin_allowed

logger = logging.getLogger(__name__)
PAGE = Path(__file__).resolve().parent.parent / "static" / "console" / "privacy.html"


def may_handle_privacy(agent: Agent) -> bool:
    """Who may see, export and erase a customer's data: the roles' matrix decides (admins)."""
    return can(agent, "privacy")


def _error(status: int, message: str, **extra: Any) -> web.Response:
    return web.json_response({"error": message, **extra}, status=status)


def admins_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        if not may_handle_privacy(request[AGENT]):
            return _error(403, "only an admin may do this")
        return await handler(request)

    return agents_only(guarded)


def _query(fields: Mapping[str, Any]) -> Query:
    """Exactly one of email, phone, ticket, conversation, telegram."""
    given = [kind for kind in KINDS if str(fields.get(kind) or "").strip()]
    if len(given) != 1:
        raise BadQuery(f"give exactly one of: {', '.join(KINDS)}")
    return Query.parse(given[0], str(fields[given[0]]))


def _tracker(request: web.Request) -> Any:
    return request.app.get(TRACKER_ENGINE)


@admins_only
async def find_view(request: web.Request) -> web.Response:
    try:
        query = _query(request.query)
    except BadQuery as error:
        return _error(400, str(error))
    async with request.app[SESSIONS]() as session:
        subject = await find_subject(session, query, _tracker(request))
        return web.json_response(await overview(session, subject, _tracker(request)))


@admins_only
async def export_view(request: web.Request) -> web.Response:
    try:
        query = _query(request.query)
    except BadQuery as error:
        return _error(400, str(error))
    agent = request[AGENT]
    document = await export_customer(request.app[SESSIONS], query, _tracker(request),
                                     actor=agent.username, address=request.remote)
    logger.info("privacy export by %s (%s)", agent.username, query.kind)
    name = "caredesk-export-" + utcnow().strftime("%Y%m%dT%H%M%SZ") + ".json"
    return web.json_response(document, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@admins_only
async def erase_view(request: web.Request) -> web.Response:
    if not console_origin_allowed(request, required=False):
        return _error(403, "cross-site request refused")
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ValueError
    except ValueError:
        return _error(400, 'send JSON: {"email": "...", "confirm": "the same again"}')
    try:
        query = _query(body)
    except BadQuery as error:
        return _error(400, str(error))
    if str(body.get("confirm") or "").strip().lower() != query.value.lower():
        return _error(400, f"to confirm, send the {query.kind} again as \"confirm\"")
    agent = request[AGENT]
    try:
        erasure = await erase_customer(request.app[SESSIONS], query, _tracker(request),
                                       actor=agent.username, address=request.remote)
    except ErasureBlocked as blocked:
        return _error(409, "a person is handling these conversations: resolve them in the console first",
                      conversations=blocked.conversation_ids)
    logger.info("privacy erasure %s by %s (%s): %s", erasure.reference, agent.username, query.kind, erasure.counts)
    return web.json_response({"erased": True, "reference": erasure.reference, "counts": erasure.counts})


async def privacy_page(request: web.Request) -> web.StreamResponse:
    agent = await current_agent(request)
    if agent is None:
        raise web.HTTPFound("/console/login")
    if not may_handle_privacy(agent):
        raise web.HTTPForbidden(text="Only an admin may open the privacy page.")
    return web.FileResponse(PAGE)


async def privacy_resources(app: web.Application) -> AsyncIterator[None]:
    """Rasa's tracker store for exports and erasures, and the retention job. Runs after the
    app's own resources (it needs their session factory)."""
    settings = app[SETTINGS]
    engine = make_tracker_engine(settings.tracker_store_url) if settings.tracker_store_url else None
    if engine is not None:
        app[TRACKER_ENGINE] = engine
    try:
        async with retention.running(app[SESSIONS], engine, settings.retention_days):
            yield
    finally:
        if engine is not None:
            await engine.dispose()


def add_routes(app: web.Application) -> None:
    app.cleanup_ctx.append(privacy_resources)
    app.router.add_get("/api/privacy/customer", find_view)
    app.router.add_get("/api/privacy/customer/export", export_view)
    app.router.add_post("/api/privacy/customer/erase", erase_view)
    app.router.add_get("/console/privacy", privacy_page)
