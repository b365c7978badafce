"""What the console shows: the waiting queue and one conversation with everything the agent
needs so the customer never has to repeat themselves."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Handoff, Message, Note, Ticket, TicketEvent
from bot import store


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


async def queue_items(session: AsyncSession, now: dt.datetime) -> list[dict[str, Any]]:
    """The open hand-offs with their ticket number and the customer's latest line, in one
    statement however long the queue is: it is rebuilt whenever the queue changes."""
    latest_line = (
        select(Message.text)
        .where(Message.conversation_id == Handoff.conversation_id, Message.sender == "customer")
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Handoff)
        .scalar_subquery()
    )
    rows = (
        await session.execute(
            select(Handoff.conversation_id, Handoff.channel, Handoff.reason, Handoff.priority,
                   Handoff.priority_score, Handoff.created_at, Handoff.promised_response_at, Handoff.status,
                   Handoff.claimed_by, Ticket.number.label("ticket_number"), latest_line.label("preview"))
            .outerjoin(Ticket, Ticket.id == Handoff.ticket_id)
            .where(Handoff.status.in_(("waiting", "claimed")))
            .order_by(Handoff.priority_score.desc(), Handoff.created_at, Handoff.id)
        )
    ).all()
    return [
        {
            "conversation_id": row.conversation_id,
            "channel": row.channel,
            "reason": row.reason,
            "priority": row.priority,
            "priority_score": row.priority_score,
            "waiting_since": _iso(row.created_at),
            "promised_response_at": _iso(row.promised_response_at),
            "overdue": row.status == "waiting" and row.promised_response_at < now,
            "status": row.status,
            "claimed_by": row.claimed_by,
            "ticket_number": row.ticket_number,
            "preview": row.preview or "",
        }
        for row in rows
    ]


def note_event(note: Note) -> dict[str, Any]:
    """An internal note, shaped like a ticket event so it sits in the same history."""
    return {"kind": "note", "actor": note.author, "from_status": None, "to_status": None,
            "note": note.text, "at": _iso(note.created_at)}


def ticket_frame(ticket: Ticket, events: list[TicketEvent], notes: list[Note]) -> dict[str, Any]:
    history = [
        {"kind": e.kind, "actor": e.actor, "from_status": e.from_status, "to_status": e.to_status,
         "note": e.note, "at": _iso(e.created_at)}
        for e in events
    ] + [note_event(n) for n in notes]
    history.sort(key=lambda e: e["at"] or "")
    return {
        "number": ticket.number, "status": ticket.status, "priority": ticket.priority,
        "category": ticket.category, "description": ticket.description,
        "desired_outcome": ticket.desired_outcome, "contact": ticket.contact,
        "order_number": ticket.order_number, "promised_response_at": _iso(ticket.promised_response_at),
        "events": history,
    }


async def conversation_ticket(session: AsyncSession, conversation_id: str) -> Ticket | None:
    handoff = await session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc())
    )
    if handoff is not None and handoff.ticket_id is not None:
        return await session.get(Ticket, handoff.ticket_id)
    return await session.scalar(
        select(Ticket).where(Ticket.conversation_id == conversation_id).order_by(Ticket.id.desc())
    )


async def conversation_detail(session: AsyncSession, conversation_id: str) -> dict[str, Any] | None:
    conversation = await store.conversation(session, conversation_id)
    if conversation is None:
        return None
    handoff = await session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id).order_by(Handoff.id.desc())
    )
    ticket = await conversation_ticket(session, conversation_id)
    notes = list((await session.scalars(
        select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
    )).all())
    ticket_data = customer = None
    if ticket is not None:
        events = list((await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )).all())
        ticket_data = ticket_frame(ticket, events, notes)
        owner = await ticket.awaitable_attrs.customer
        if owner is not None:
            customer = {"name": owner.name, "tier": owner.tier, "email": owner.email}
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "mode": conversation.mode,
        "agent_name": conversation.agent_name,
        "agent_username": conversation.agent_username,
        "handoff": None if handoff is None else {
            "id": handoff.id, "reason": handoff.reason, "priority": handoff.priority,
            "status": handoff.status, "waiting_since": _iso(handoff.created_at),
            "promised_response_at": _iso(handoff.promised_response_at), "summary": handoff.summary,
        },
        "ticket": ticket_data,
        # Notes also stand on their own, for conversations that have no ticket.
        "notes": [note_event(n) for n in notes],
        "customer": customer,
        "messages": [store.message_frame(m) for m in await store.history(session, conversation_id)],
    }
