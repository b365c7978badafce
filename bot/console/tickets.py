"""The Tickets view: every ticket with its status, who handles it, its promised first response
and when it was answered, resolved and closed; and one ticket with its whole history and the
conversations it belongs to. Who handles a ticket is the agent of its
conversation or, once the conversation left them, the agent it was assigned to
(bot/console/assign.py), else the agent who claimed its last hand-off. There is no promised resolution time in the data, only the first response."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db import repository
from caredesk.db.models import Conversation, Customer, Handoff, Note, Ticket, TicketEvent
from bot.console.inbox import MAX_PAGE, PAGE, sla_state, state_of
from bot.console.queue import note_event


@dataclass(frozen=True)
class TicketFilters:
    status: str | None = None
    priority: str | None = None
    category: str | None = None
    channel: str | None = None
    sla: str | None = None
    agent: str | None = None
    customer_id: int | None = None


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _handled_by() -> Any:
    """Who handles each ticket (see the module's docstring), as a correlated column."""
    last_claimer = (select(Handoff.agent_username)
                    .where(or_(Handoff.ticket_id == Ticket.id, Handoff.conversation_id == Ticket.conversation_id),
                           Handoff.agent_username.is_not(None))
                    .order_by(Handoff.id.desc()).limit(1).correlate(Ticket).scalar_subquery())
    return func.coalesce(Conversation.agent_username, Ticket.assignee_username, last_claimer)


async def tickets(session: AsyncSession, *, filters: TicketFilters | None = None, limit: int = PAGE,
                  before: int | None = None, now: dt.datetime | None = None) -> tuple[list[dict[str, Any]], int | None]:
    """Newest first, one statement; the next page starts before the returned ticket id."""
    filters = filters or TicketFilters()
    now = now or dt.datetime.now(dt.timezone.utc)
    sla = sla_state(now).label("sla")
    handled_by = _handled_by().label("handled_by")
    query = (
        select(Ticket, Customer.name.label("customer_name"), Customer.tier, Conversation.mode, handled_by, sla)
        .outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Conversation, Conversation.id == Ticket.conversation_id)
    )
    for column, value in ((Ticket.status, filters.status), (Ticket.priority, filters.priority),
                          (Ticket.category, filters.category), (Ticket.channel, filters.channel),
                          (Ticket.customer_id, filters.customer_id)):
        if value is not None:
            query = query.where(column == value)
    if filters.sla:
        query = query.where(sla == filters.sla)
    if filters.agent:
        query = query.where(handled_by == filters.agent)
    if before is not None:
        query = query.where(Ticket.id < before)
    size = max(1, min(limit, MAX_PAGE))
    rows = (await session.execute(query.order_by(Ticket.id.desc()).limit(size + 1))).all()
    page = [ticket_row(row.Ticket, row.customer_name, row.tier, row.handled_by, row.sla, row.mode)
            for row in rows[:size]]
    return page, (rows[size - 1].Ticket.id if len(rows) > size else None)


def ticket_row(ticket: Ticket, customer_name: str | None, tier: str | None, handled_by: str | None,
               sla: str, mode: str | None) -> dict[str, Any]:
    return {
        "number": ticket.number, "status": ticket.status, "priority": ticket.priority,
        "category": ticket.category, "channel": ticket.channel, "conversation_id": ticket.conversation_id,
        "conversation_state": mode, "handled_by": handled_by, "sla": sla,
        "customer": None if ticket.customer_id is None else {"id": ticket.customer_id, "name": customer_name,
                                                             "tier": tier},
        "created_at": _iso(ticket.created_at), "promised_response_at": _iso(ticket.promised_response_at),
        "first_response_at": _iso(ticket.first_response_at), "resolved_at": _iso(ticket.resolved_at),
        "closed_at": _iso(ticket.closed_at),
        "assignee": ticket.assignee_username, "team_id": ticket.team_id,
    }


def history(events: list[TicketEvent], notes: list[Note]) -> list[dict[str, Any]]:
    """Events and notes in one list, oldest first."""
    merged = [{"kind": e.kind, "actor": e.actor, "from_status": e.from_status, "to_status": e.to_status,
               "note": e.note, "at": _iso(e.created_at)} for e in events] + [note_event(n) for n in notes]
    merged.sort(key=lambda item: item["at"] or "")
    return merged


async def ticket_detail(session: AsyncSession, number: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """One ticket: its fields, SLA state, customer, history and conversations. Raises
    repository.TicketNotFound."""
    now = now or dt.datetime.now(dt.timezone.utc)
    ticket = await repository.ticket_by_number(session, number)
    row = (await session.execute(
        select(Customer.name, Customer.tier, Conversation.mode, _handled_by(), sla_state(now))
        .select_from(Ticket).outerjoin(Customer, Customer.id == Ticket.customer_id)
        .outerjoin(Conversation, Conversation.id == Ticket.conversation_id).where(Ticket.id == ticket.id)
    )).one()
    events = list((await session.scalars(
        select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id))).all())
    notes = list((await session.scalars(select(Note).where(Note.ticket_id == ticket.id).order_by(Note.id))).all())
    handed = select(Handoff.conversation_id).where(Handoff.ticket_id == ticket.id)
    conversations = (await session.execute(
        select(Conversation.id, Conversation.channel, Conversation.mode, Conversation.agent_name,
               Conversation.updated_at)
        .where(or_(Conversation.id == ticket.conversation_id, Conversation.id.in_(handed)))
        .order_by(Conversation.updated_at.desc())
    )).all()
    return {
        **ticket_row(ticket, row[0], row[1], row[3], row[4], row[2]),
        "description": ticket.description, "desired_outcome": ticket.desired_outcome,
        "order_number": ticket.order_number, "contact": ticket.contact, "contact_kind": ticket.contact_kind,
        "severity": ticket.severity,
        "history": history(events, notes),
        "conversations": [{"conversation_id": c.id, "channel": c.channel, "state": state_of(c.mode, None),
                           "agent_name": c.agent_name, "updated_at": _iso(c.updated_at)} for c in conversations],
    }
