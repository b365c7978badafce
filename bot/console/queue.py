"""What the console shows: the waiting queue and one conversation with everything the agent
needs so the customer never has to repeat themselves."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, and_, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from caredesk.db.models import Customer, Handoff, Message, Note, Order, Team, Ticket, TicketEvent
from bot import store
from bot.console.summary import SummaryWords, customer_in, human_summary, slots_of, tier_words, wants_line


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


OPEN = ("waiting", "claimed")  # the hand-offs the queue lists
# The parts of a stored summary the queue card reads (bot/console/summary.py).
CARD_PARTS = ("slots", "intent", "recent_intents", "customer_tier")


def _verified_order() -> Any:
    """Joins the order named in a hand-off's summary, only when the bot verified it: a number
    the customer merely typed must not show its owner to the agent. Compared as text, so an
    odd stored value matches nothing instead of failing the cast (and the whole queue)."""
    verified = cast(Handoff.summary[("slots", "order_verified")].as_string(), String)
    number = Handoff.summary[("slots", "order_number")].as_string()
    return and_(Order.number == number, verified.in_(("true", "1")))


async def queue_items(session: AsyncSession, now: dt.datetime,
                      words: SummaryWords | None = None) -> list[dict[str, Any]]:
    """The open hand-offs with their ticket number, the customer (the ticket's, else the
    verified order's, else what the bot learnt) and one line of what they want, in one
    statement however long the queue is: it is rebuilt whenever the queue changes. `preview`
    (the customer's latest line) stays for API clients; the console's card shows the issue."""
    words = words or SummaryWords.default()
    ticket_owner, order_owner = aliased(Customer), aliased(Customer)
    latest_line = (
        select(Message.text)
        .where(Message.conversation_id == Handoff.conversation_id, Message.sender == "customer")
        .order_by(Message.id.desc())
        .limit(1)
        .correlate(Handoff)
        .scalar_subquery()
    )
    # What the customer wrote since the hand-off: each console counts the lines its agent has
    # not seen from it (unread badges, "new message" notifications). One grouped count for the
    # whole queue, joined once (a count per row cost a third more at 500 open conversations).
    since = aliased(Handoff)
    lines_since = (
        select(Message.conversation_id, func.count(Message.id).label("n"))
        .join(since, and_(since.conversation_id == Message.conversation_id, since.status.in_(OPEN),
                          Message.created_at >= since.created_at))
        .where(Message.sender == "customer")
        .group_by(Message.conversation_id)
        .subquery()
    )
    rows = (
        await session.execute(
            select(Handoff.conversation_id, Handoff.channel, Handoff.reason, Handoff.priority,
                   Handoff.priority_score, Handoff.created_at, Handoff.promised_response_at, Handoff.status,
                   Handoff.claimed_by, Ticket.number.label("ticket_number"),
                   Handoff.team_id, Team.name.label("team"),
                   # Only the parts the card reads, not the customer's recent lines.
                   *(Handoff.summary[part].label(f"summary_{part}") for part in CARD_PARTS),
                   latest_line.label("preview"), lines_since.c.n.label("customer_lines"),
                   Handoff.agent_username.label("claimed_username"),
                   func.coalesce(ticket_owner.name, order_owner.name).label("customer_name"),
                   func.coalesce(ticket_owner.tier, order_owner.tier).label("customer_tier"))
            .outerjoin(Ticket, Ticket.id == Handoff.ticket_id)
            .outerjoin(lines_since, lines_since.c.conversation_id == Handoff.conversation_id)
            .outerjoin(Team, Team.id == Handoff.team_id)
            .outerjoin(ticket_owner, ticket_owner.id == Ticket.customer_id)
            .outerjoin(Order, _verified_order())
            .outerjoin(order_owner, order_owner.id == Order.customer_id)
            .where(Handoff.status.in_(OPEN))
            .order_by(Handoff.priority_score.desc(), Handoff.created_at, Handoff.id)
        )
    ).all()
    return [_queue_item(row, now, words) for row in rows]


def _queue_item(row: Any, now: dt.datetime, words: SummaryWords) -> dict[str, Any]:
    summary = {part: getattr(row, f"summary_{part}") for part in CARD_PARTS}
    learnt_name, learnt_tier = customer_in(summary)
    tier = row.customer_tier or learnt_tier
    return {
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
        "claimed_username": row.claimed_username,
        "customer_lines": row.customer_lines or 0,
        "ticket_number": row.ticket_number,
        "team_id": row.team_id,  # waiting for this team: its members see it first
        "team": row.team,
        "preview": row.preview or "",
        "customer_name": row.customer_name or learnt_name,
        "customer_tier": tier if tier_words(tier, words) else None,
        "tier_text": tier_words(tier, words),
        "issue": wants_line(summary, words, row.reason),
    }


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


async def _customer(session: AsyncSession, ticket: Ticket | None, summary: Any,
                    words: SummaryWords) -> dict[str, Any] | None:
    """Who the agent is talking to: the ticket's customer, else the verified order's, else the
    name and tier the bot learnt; None when nobody knows."""
    owner = await ticket.awaitable_attrs.customer if ticket is not None else None
    slots = slots_of(summary)
    number = slots.get("order_number")
    if owner is None and slots.get("order_verified") is True and isinstance(number, str):
        owner = await session.scalar(select(Customer).join(Order, Order.customer_id == Customer.id)
                                     .where(Order.number == number))
    if owner is not None:
        return {"name": owner.name, "tier": owner.tier, "tier_text": tier_words(owner.tier, words),
                "email": owner.email}
    name, tier = customer_in(summary)
    if name is None and tier_words(tier, words) is None:
        return None
    return {"name": name, "tier": tier if tier_words(tier, words) else None,
            "tier_text": tier_words(tier, words), "email": None}


async def conversation_detail(session: AsyncSession, conversation_id: str,
                              words: SummaryWords | None = None) -> dict[str, Any] | None:
    """Everything the console shows about one conversation. The hand-off summary goes out in
    words (bot/console/summary.py); the stored dict, with its intent and slot names, stays in
    the database (an admin reads it in the privacy export)."""
    words = words or SummaryWords.default()
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
    ticket_data = None
    if ticket is not None:
        events = list((await session.scalars(
            select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)
        )).all())
        ticket_data = ticket_frame(ticket, events, notes)
    stored = handoff.summary if handoff is not None else None
    return {
        "conversation_id": conversation.id,
        "channel": conversation.channel,
        "mode": conversation.mode,
        "agent_name": conversation.agent_name,
        "agent_username": conversation.agent_username,
        "handoff": None if handoff is None else {
            "id": handoff.id, "reason": handoff.reason, "priority": handoff.priority,
            "status": handoff.status, "waiting_since": _iso(handoff.created_at), "team_id": handoff.team_id,
            "promised_response_at": _iso(handoff.promised_response_at),
            "summary": human_summary(stored, words, reason=handoff.reason,
                                     ticket_number=ticket.number if ticket else None,
                                     promised_at=_iso(handoff.promised_response_at)),
        },
        "ticket": ticket_data,
        # Notes also stand on their own, for conversations that have no ticket.
        "notes": [note_event(n) for n in notes],
        "customer": await _customer(session, ticket, stored, words),
        "messages": [store.message_frame(m) for m in await store.history(session, conversation_id)],
    }
