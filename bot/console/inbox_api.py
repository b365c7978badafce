"""The Inbox page and its JSON API, behind the console's login: reading needs the role
`conversations`; changing a ticket follows the desk's rules (bot/console/ticket_work.py).
Every query parameter is checked here (enums, lengths, bounds) before any query runs; an
unknown value is a 400, never an empty result that hides a typo."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web

from caredesk.db import repository
from caredesk.db.models import TICKET_STATUSES
from caredesk.triage import PRIORITIES
from bot.app_keys import DESK, SESSIONS
from bot.console import audit, inbox, ticket_work
from bot.console.customers import customer_profile
from bot.console.desk import CannotChange, DeskError
from bot.console.guard import AGENT, json_error, page_for, requires
from bot.console.tickets import TicketFilters, ticket_detail, tickets
from bot.text_input import clean

PAGES = Path(__file__).resolve().parent.parent / "static" / "console"
MAX_Q = 200
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")  # channels and categories
USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
NUMBER = re.compile(r"[A-Za-z0-9 -]{1,20}")
CONVERSATION_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
MAX_ID = 2**31 - 1  # ids are PostgreSQL integers: a larger one is no row, never a query


def _bad(message: str) -> web.HTTPException:
    return json_error(web.HTTPBadRequest, message)


def _choice(request: web.Request, key: str, allowed: tuple[str, ...]) -> str | None:
    value = request.query.get(key, "")
    if value == "":
        return None
    if value not in allowed:
        raise _bad(f"{key} must be one of: {', '.join(allowed)}")
    return value


def _matching(request: web.Request, key: str, pattern: re.Pattern[str]) -> str | None:
    value = request.query.get(key, "")
    if value == "":
        return None
    if not pattern.fullmatch(value):
        raise _bad(f"{key} is not valid")
    return value


def _limit(request: web.Request) -> int:
    raw = request.query.get("limit", "")
    if raw == "":
        return inbox.PAGE
    if not raw.isdigit() or not 1 <= int(raw) <= inbox.MAX_PAGE:
        raise _bad(f"limit must be a whole number from 1 to {inbox.MAX_PAGE}")
    return int(raw)


def _q(request: web.Request) -> str:
    q = clean(request.query.get("q", "")).strip()
    if len(q) > MAX_Q:
        raise _bad(f"q can have at most {MAX_Q} characters")
    return q


async def inbox_page(request: web.Request) -> web.StreamResponse:
    await page_for(request, "conversations")
    return web.FileResponse(PAGES / "inbox.html")


@requires("conversations")
async def search_inbox(request: web.Request) -> web.Response:
    """GET /api/inbox: one page of a view, searched and filtered; `next` pages on."""
    view = _choice(request, "view", inbox.VIEWS) or "all"
    filters = inbox.Filters(
        channel=_matching(request, "channel", SLUG), priority=_choice(request, "priority", PRIORITIES),
        category=_matching(request, "category", SLUG), sla=_choice(request, "sla", inbox.SLA_STATES),
        agent=_matching(request, "agent", USERNAME))
    before = None
    if raw := request.query.get("before", ""):
        try:
            before = inbox.Cursor.decode(raw)
        except ValueError:
            raise _bad("before is not a cursor from this API") from None
    async with request.app[SESSIONS]() as session:
        rows, cursor = await inbox.search(session, view=view, q=_q(request), filters=filters,
                                          agent=request[AGENT].username, limit=_limit(request), before=before)
    return web.json_response({"items": rows, "next": cursor.encode() if cursor else None})


@requires("conversations")
async def list_tickets(request: web.Request) -> web.Response:
    """GET /api/inbox/tickets: every ticket, newest first; `next` (a ticket id) pages on."""
    filters = TicketFilters(
        status=_choice(request, "status", TICKET_STATUSES), priority=_choice(request, "priority", PRIORITIES),
        category=_matching(request, "category", SLUG), channel=_matching(request, "channel", SLUG),
        sla=_choice(request, "sla", inbox.SLA_STATES), agent=_matching(request, "agent", USERNAME))
    raw = request.query.get("before", "")
    if raw and not (raw.isdigit() and len(raw) <= 12 and int(raw) <= MAX_ID):
        raise _bad("before must be a ticket id")
    async with request.app[SESSIONS]() as session:
        rows, cursor = await tickets(session, filters=filters, limit=_limit(request),
                                     before=int(raw) if raw else None)
    return web.json_response({"tickets": rows, "next": cursor})


def _number(request: web.Request) -> str:
    number = request.match_info["number"]
    if not NUMBER.fullmatch(number):
        raise json_error(web.HTTPNotFound, "no such ticket")
    return number


@requires("conversations")
async def get_ticket(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        try:
            return web.json_response(await ticket_detail(session, _number(request)))
        except repository.TicketNotFound:
            raise json_error(web.HTTPNotFound, "no such ticket") from None


async def _body_text(request: web.Request, key: str) -> str:
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get(key), str):
        raise _bad(f"send a JSON object with a string {key!r}")
    return clean(body[key])


async def _work(request: web.Request, change: Any, value: str) -> web.Response:
    agent = request[AGENT]
    try:
        await change(request.app[DESK], agent, _number(request), value, audit.client_address(request))
    except repository.TicketNotFound:
        raise json_error(web.HTTPNotFound, "no such ticket") from None
    except ticket_work.Invalid as error:
        raise _bad(str(error)) from None
    except CannotChange as error:
        raise json_error(web.HTTPConflict, str(error)) from None
    except DeskError as error:
        raise json_error(web.HTTPForbidden, str(error)) from None
    async with request.app[SESSIONS]() as session:
        return web.json_response(await ticket_detail(session, _number(request)))


@requires("work")
async def change_ticket_status(request: web.Request) -> web.Response:
    """POST /api/inbox/tickets/{number}/status {"status": ...}"""
    return await _work(request, ticket_work.change_status, await _body_text(request, "status"))


@requires("work")
async def add_ticket_note(request: web.Request) -> web.Response:
    """POST /api/inbox/tickets/{number}/notes {"text": ...}"""
    return await _work(request, ticket_work.add_note, await _body_text(request, "text"))


@requires("conversations")
async def get_customer(request: web.Request) -> web.Response:
    """GET /api/inbox/customers/{id}, or /api/inbox/customer?conversation_id=..."""
    customer_id, conversation_id = None, None
    if "id" in request.match_info:
        raw = request.match_info["id"]
        if not (raw.isdigit() and len(raw) <= 12 and int(raw) <= MAX_ID):
            raise json_error(web.HTTPNotFound, "no such customer")
        customer_id = int(raw)
    else:
        conversation_id = _matching(request, "conversation_id", CONVERSATION_ID)
        if conversation_id is None:
            raise _bad("conversation_id is required")
    async with request.app[SESSIONS]() as session:
        profile = await customer_profile(session, customer_id=customer_id, conversation_id=conversation_id,
                                         agent=request[AGENT].username)
    if profile is None:
        raise json_error(web.HTTPNotFound, "no known customer")
    return web.json_response(profile)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/console/inbox", inbox_page)
    app.router.add_get("/api/inbox", search_inbox)
    app.router.add_get("/api/inbox/tickets", list_tickets)
    app.router.add_get("/api/inbox/tickets/{number}", get_ticket)
    app.router.add_post("/api/inbox/tickets/{number}/status", change_ticket_status)
    app.router.add_post("/api/inbox/tickets/{number}/notes", add_ticket_note)
    app.router.add_get("/api/inbox/customers/{id}", get_customer)
    app.router.add_get("/api/inbox/customer", get_customer)
