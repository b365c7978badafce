"""Queries and writes. Functions take `session` and never commit: the caller owns the unit of
work (`async with sessions.begin() as session:`)."""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import (
    Conversation,
    Customer,
    Feedback,
    Handoff,
    Order,
    Ticket,
    TicketEvent,
    utcnow,
)

TICKET_PREFIX = "CD-"
TICKET_OFFSET = 100000

# Which status a ticket may move to from each status (open -> in progress -> resolved -> closed;
# a resolved ticket may be reopened when the customer says the fix did not work).
ALLOWED_STATUS_CHANGES = {
    "open": {"in_progress", "resolved", "closed"},
    "in_progress": {"resolved", "open"},
    "resolved": {"closed", "in_progress"},
    "closed": set(),
}


class TicketNotFound(LookupError):
    pass


class InvalidStatusChange(ValueError):
    pass


@dataclass(frozen=True)
class NewTicket:
    channel: str
    conversation_id: str
    contact: str
    contact_kind: str
    category: str
    description: str
    desired_outcome: str
    order_number: str | None
    sentiment: float | None
    severity: str
    priority: str
    priority_score: int
    promised_response_at: dt.datetime
    customer_id: int | None = None


def normalise_email(email: str) -> str:
    return email.strip().lower()


async def customer_by_email(session: AsyncSession, email: str) -> Customer | None:
    return await session.scalar(
        select(Customer).where(func.lower(Customer.email) == normalise_email(email))
    )


async def verified_order(session: AsyncSession, number: str, email: str) -> Order | None:
    """The order only when number and email belong together; otherwise nothing, and no hint why."""
    return await session.scalar(
        select(Order)
        .join(Customer)
        .where(Order.number == number.strip().lstrip("#"))
        .where(func.lower(Customer.email) == normalise_email(email))
    )


async def cancel_order(session: AsyncSession, order: Order, *, now: dt.datetime) -> None:
    order.status = "cancelled"
    order.cancelled_at = now
    order.refund_status = "requested"
    order.refund_cents = order.total_cents
    order.refund_requested_at = now
    await session.flush()


def ticket_number(ticket_id: int) -> str:
    return f"{TICKET_PREFIX}{TICKET_OFFSET + ticket_id}"


async def create_ticket(session: AsyncSession, data: NewTicket, *, actor: str = "bot") -> Ticket:
    ticket = Ticket(**data.__dict__, status="open")
    session.add(ticket)
    await session.flush()
    ticket.number = ticket_number(ticket.id)
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="created",
            actor=actor,
            to_status="open",
            note=f"priority {data.priority} ({data.severity}), category {data.category}",
        )
    )
    await session.flush()
    return ticket


async def ticket_by_number(session: AsyncSession, number: str) -> Ticket:
    normalised = re.sub(r"^CD-?", TICKET_PREFIX, number.strip().upper())
    ticket = await session.scalar(select(Ticket).where(Ticket.number == normalised))
    if ticket is None:
        raise TicketNotFound(number)
    return ticket


async def change_ticket_status(
    session: AsyncSession, ticket: Ticket, to_status: str, *, actor: str, note: str | None = None
) -> None:
    if to_status not in ALLOWED_STATUS_CHANGES.get(ticket.status, set()):
        raise InvalidStatusChange(f"{ticket.status} -> {to_status}")
    now = utcnow()
    session.add(
        TicketEvent(
            ticket_id=ticket.id,
            kind="status_changed",
            actor=actor,
            from_status=ticket.status,
            to_status=to_status,
            note=note,
        )
    )
    ticket.status = to_status
    if to_status == "resolved":
        ticket.resolved_at = now
    elif to_status == "closed":
        ticket.closed_at = now
    await session.flush()


async def add_ticket_event(
    session: AsyncSession, ticket_id: int, kind: str, *, actor: str, note: str | None = None
) -> None:
    session.add(TicketEvent(ticket_id=ticket_id, kind=kind, actor=actor, note=note))
    await session.flush()


async def create_handoff(
    session: AsyncSession,
    *,
    conversation_id: str,
    channel: str,
    reason: str,
    priority: str,
    priority_score: int,
    summary: dict[str, Any],
    promised_response_at: dt.datetime,
    ticket_id: int | None = None,
) -> Handoff:
    """One open hand-off per conversation: a second request updates the waiting one."""
    handoff = await open_handoff(session, conversation_id)
    if handoff is None:
        handoff = Handoff(conversation_id=conversation_id, channel=channel, status="waiting")
        session.add(handoff)
    elif priority_score <= handoff.priority_score:
        priority, priority_score = handoff.priority, handoff.priority_score
        promised_response_at = min(promised_response_at, handoff.promised_response_at)
    handoff.reason = reason
    handoff.priority = priority
    handoff.priority_score = priority_score
    handoff.summary = summary
    handoff.promised_response_at = promised_response_at
    handoff.ticket_id = ticket_id if ticket_id is not None else handoff.ticket_id
    await session.flush()
    if handoff.ticket_id is not None:
        await add_ticket_event(
            session, handoff.ticket_id, "escalated", actor="bot", note=f"hand-off: {reason}"
        )
    return handoff


async def open_handoff(session: AsyncSession, conversation_id: str) -> Handoff | None:
    return await session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id)
        .where(Handoff.status.in_(("waiting", "claimed")))
        .order_by(Handoff.id.desc())
    )


async def conversation_and_open_handoff(
    session: AsyncSession, conversation_id: str
) -> tuple[Conversation | None, Handoff | None]:
    """Both in one query: the gateway asks after every bot turn whether the bot handed over."""
    row = (
        await session.execute(
            select(Conversation, Handoff)
            .outerjoin(Handoff, and_(Handoff.conversation_id == Conversation.id,
                                     Handoff.status.in_(("waiting", "claimed"))))
            .where(Conversation.id == conversation_id)
            .order_by(Handoff.id.desc())
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def mark_rating_asked(session: AsyncSession, handoff_id: int, now: dt.datetime) -> bool:
    """Note that the customer is being asked to rate this hand-off; False if they were already."""
    result = await session.execute(
        update(Handoff).where(Handoff.id == handoff_id, Handoff.rating_asked_at.is_(None)).values(rating_asked_at=now)
    )
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


async def rated(session: AsyncSession, handoff_id: int, subject: str) -> bool:
    """Whether this part of the hand-off has its rating already (one each, ever)."""
    found = await session.scalar(
        select(Feedback.id).where(Feedback.handoff_id == handoff_id, Feedback.subject == subject).limit(1)
    )
    return found is not None


async def add_feedback(
    session: AsyncSession,
    *,
    conversation_id: str,
    channel: str,
    rating: int,
    comment: str | None,
    ticket_id: int | None,
    handoff_id: int | None,
    subject: str = "bot",
    agent_username: str | None = None,
) -> Feedback:
    if not 1 <= rating <= 5:
        raise ValueError("rating must be 1 to 5")
    if subject not in ("bot", "agent"):
        raise ValueError("a rating is about the bot or an agent")
    feedback = Feedback(
        conversation_id=conversation_id,
        channel=channel,
        rating=rating,
        comment=comment,
        ticket_id=ticket_id,
        handoff_id=handoff_id,
        subject=subject,
        agent_username=agent_username if subject == "agent" else None,
    )
    session.add(feedback)
    await session.flush()
    return feedback


async def latest_handoff(session: AsyncSession, conversation_id: str) -> Handoff | None:
    return await session.scalar(
        select(Handoff)
        .where(Handoff.conversation_id == conversation_id)
        .order_by(Handoff.id.desc())
    )
