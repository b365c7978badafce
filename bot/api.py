"""JSON API for agents and integrations, behind the console's login and the roles
(bot/console/roles.py): customer data needs `conversations`; a ticket of a chat another agent
claimed changes only with `work_any`."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select

from caredesk.db import repository
from caredesk.db.models import Conversation, Feedback, Note, Ticket, TicketEvent
from bot import store
from bot.app_keys import DESK, SESSIONS
from bot.console import audit
from bot.console.guard import AGENT, Handler, json_error, requires
from bot.console.queue import conversation_detail, ticket_frame
from bot.console.roles import may_work_on
from bot.text_input import clean

__all__ = ["AGENT", "Handler", "agents_only", "requires"]
LIMIT = 200
agents_only = requires(None)  # any signed-in agent, whatever the role


async def _ticket_data(session: Any, ticket: Ticket) -> dict[str, Any]:
    events = list((await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all())
    notes = list((await session.scalars(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id))).all())
    return {**ticket_frame(ticket, events, notes), "channel": ticket.channel,
            "conversation_id": ticket.conversation_id, "created_at": ticket.created_at.isoformat()}


@requires("conversations")
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


@requires("conversations")
async def get_ticket(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        try:
            ticket = await repository.ticket_by_number(session, request.match_info["number"])
        except repository.TicketNotFound:
            raise web.HTTPNotFound(text='{"error": "no such ticket"}', content_type="application/json") from None
        return web.json_response(await _ticket_data(session, ticket))


@requires("conversations")
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
            conversation = await store.conversation(session, ticket.conversation_id)
            if conversation is not None and not may_work_on(agent, agent.username, conversation):
                raise json_error(web.HTTPForbidden, f"{conversation.agent_name or 'another agent'} is handling "
                                 "this conversation; only they or a team lead can change its ticket")
            before = ticket.status
            await repository.change_ticket_status(session, ticket, status, actor=f"agent:{agent.username}")
            audit.record(session, agent.username, "ticket_status", ticket.number,
                         {"conversation_id": ticket.conversation_id, "from": before, "to": status},
                         audit.client_address(request))
        except repository.TicketNotFound:
            raise web.HTTPNotFound(text='{"error": "no such ticket"}', content_type="application/json") from None
        except repository.InvalidStatusChange as error:
            raise json_error(web.HTTPConflict, f"invalid status change {error}") from None
        data = await _ticket_data(session, ticket)
    await request.app[DESK].publish_queue()
    if status == "resolved":  # after the chat ended, the customer is told where they are
        await request.app[DESK].tell_resolved(ticket.conversation_id, ticket, agent_name=agent.name,
                                              username=agent.username)
        async with request.app[SESSIONS]() as session:
            data = await _ticket_data(session, await repository.ticket_by_number(session, ticket.number or ""))
    return web.json_response(data)


@requires("conversations")
async def list_feedback(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        rows = (await session.scalars(select(Feedback).order_by(Feedback.id.desc()).limit(LIMIT))).all()
        return web.json_response([
            {"rating": f.rating, "subject": f.subject, "agent_username": f.agent_username, "comment": f.comment,
             "channel": f.channel, "conversation_id": f.conversation_id, "ticket_id": f.ticket_id,
             "handoff_id": f.handoff_id, "created_at": f.created_at.isoformat()}
            for f in rows
        ])


@requires("conversations")
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


@requires("conversations")
async def get_conversation(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        detail = await conversation_detail(session, request.match_info["conversation_id"], request.app[DESK].words)
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
