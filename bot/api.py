"""JSON API for agents and integrations, behind the console's login."""
from __future__ import annotations

from typing import Any, Awaitable, Callable

from aiohttp import web
from sqlalchemy import select

from actions.db import repository
from actions.db.models import Agent, Conversation, Feedback, Note, Ticket, TicketEvent
from bot.app_keys import DESK, SESSIONS
from bot.console.queue import conversation_detail, ticket_frame
from bot.console.views import current_agent
from bot.security import json_error
from bot.text_input import clean

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
LIMIT = 200
AGENT = web.RequestKey("agent", Agent)


def agents_only(handler: Handler) -> Handler:
    async def guarded(request: web.Request) -> web.StreamResponse:
        agent = await current_agent(request)
        if agent is None:
            raise web.HTTPUnauthorized(text='{"error": "log in first"}', content_type="application/json")
        request[AGENT] = agent
        return await handler(request)

    return guarded


async def _ticket_data(session: Any, ticket: Ticket) -> dict[str, Any]:
    events = list((await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all())
    notes = list((await session.scalars(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id))).all())
    return {**ticket_frame(ticket, events, notes), "channel": ticket.channel,
            "conversation_id": ticket.conversation_id, "created_at": ticket.created_at.isoformat()}


@agents_only
async def list_tickets(request: web.Request) -> web.Response:
    query = select(Ticket).order_by(Ticket.id.desc()).limit(LIMIT)
    if status := request.query.get("status"):
        query = query.where(Ticket.status == status)
    async with request.app[SESSIONS]() as session:
        tickets = (await session.scalars(query)).all()
        return web.json_response([
            {"number": t.number, "status": t.status, "priority": t.priority, "category": t.category,
             "channel": t.channel, "contact": t.contact, "created_at": t.created_at.isoformat(),
             "promised_response_at": t.promised_response_at.isoformat()}
            for t in tickets
        ])


@agents_only
async def get_ticket(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        try:
            ticket = await repository.ticket_by_number(session, request.match_info["number"])
        except repository.TicketNotFound:
            raise web.HTTPNotFound(text='{"error": "no such ticket"}', content_type="application/json") from None
        return web.json_response(await _ticket_data(session, ticket))


@agents_only
async def update_ticket(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        status = clean(str(body["status"]))
    except (ValueError, KeyError, TypeError):
        raise web.HTTPBadRequest(text='{"error": "send {\\"status\\": ...}"}', content_type="application/json") from None
    agent = request[AGENT]
    async with request.app[SESSIONS].begin() as session:
        try:
            ticket = await repository.ticket_by_number(session, request.match_info["number"])
            await repository.change_ticket_status(session, ticket, status, actor=f"agent:{agent.username}")
        except repository.TicketNotFound:
            raise web.HTTPNotFound(text='{"error": "no such ticket"}', content_type="application/json") from None
        except repository.InvalidStatusChange as error:
            raise json_error(web.HTTPConflict, f"invalid status change {error}") from None
        data = await _ticket_data(session, ticket)
    await request.app[DESK].publish_queue()
    return web.json_response(data)


@agents_only
async def list_feedback(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        rows = (await session.scalars(select(Feedback).order_by(Feedback.id.desc()).limit(LIMIT))).all()
        return web.json_response([
            {"rating": f.rating, "subject": f.subject, "agent_username": f.agent_username, "comment": f.comment,
             "channel": f.channel, "conversation_id": f.conversation_id, "ticket_id": f.ticket_id,
             "handoff_id": f.handoff_id, "created_at": f.created_at.isoformat()}
            for f in rows
        ])


@agents_only
async def list_conversations(request: web.Request) -> web.Response:
    query = select(Conversation).order_by(Conversation.updated_at.desc()).limit(LIMIT)
    if mode := request.query.get("mode"):
        query = query.where(Conversation.mode == mode)
    async with request.app[SESSIONS]() as session:
        rows = (await session.scalars(query)).all()
        return web.json_response([
            {"conversation_id": c.id, "channel": c.channel, "mode": c.mode, "agent_name": c.agent_name,
             "updated_at": c.updated_at.isoformat()}
            for c in rows
        ])


@agents_only
async def get_conversation(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        detail = await conversation_detail(session, request.match_info["conversation_id"])
    if detail is None:
        raise web.HTTPNotFound(text='{"error": "no such conversation"}', content_type="application/json")
    return web.json_response(detail)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/tickets", list_tickets)
    app.router.add_get("/api/tickets/{number}", get_ticket)
    app.router.add_patch("/api/tickets/{number}", update_ticket)
    app.router.add_get("/api/feedback", list_feedback)
    app.router.add_get("/api/conversations", list_conversations)
    app.router.add_get("/api/conversations/{conversation_id}", get_conversation)
