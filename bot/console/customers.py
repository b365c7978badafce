"""The customer panel: who the customer is (profile, tier, orders) and every conversation and
ticket of theirs, across channels.

A conversation belongs to a customer only through a ticket linked to them (tickets.customer_id,
set when the bot proved the customer with an order look-up). An email or phone number a
customer merely typed links nothing: anyone can type one. So a chat that never produced a
linked ticket is not in the panel; the Inbox's search still finds it by its words."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Customer, Order, Ticket
from bot.console import inbox
from bot.console.tickets import TicketFilters, tickets


async def customer_of(session: AsyncSession, conversation_id: str) -> int | None:
    """The customer a conversation's tickets are linked to (the latest link), if any."""
    return await session.scalar(
        select(Ticket.customer_id).where(Ticket.conversation_id == conversation_id, Ticket.customer_id.is_not(None))
        .order_by(Ticket.id.desc()).limit(1)
    )


async def customer_profile(session: AsyncSession, *, customer_id: int | None = None,
                           conversation_id: str | None = None, agent: str,
                           now: dt.datetime | None = None) -> dict[str, Any] | None:
    """Profile, orders, conversations and tickets; None when no customer is known (no such
    id, or a conversation with no linked ticket)."""
    if customer_id is None and conversation_id is not None:
        customer_id = await customer_of(session, conversation_id)
    if customer_id is None:
        return None
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return None
    orders = (await session.scalars(
        select(Order).where(Order.customer_id == customer.id).order_by(Order.placed_at.desc()).limit(inbox.MAX_PAGE)
    )).all()
    conversations, more_conversations = await inbox.search(
        session, view="all", filters=inbox.Filters(customer_id=customer.id), agent=agent, limit=inbox.MAX_PAGE, now=now)
    their_tickets, more_tickets = await tickets(
        session, filters=TicketFilters(customer_id=customer.id), limit=inbox.MAX_PAGE, now=now)
    first_seen = await session.scalar(select(func.min(Ticket.created_at)).where(Ticket.customer_id == customer.id))
    return {
        "id": customer.id, "name": customer.name, "email": customer.email, "phone": customer.phone,
        "tier": customer.tier, "customer_since": customer.created_at.isoformat(),
        "first_ticket_at": first_seen.isoformat() if first_seen else None,
        "orders": [{"number": o.number, "status": o.status, "placed_at": o.placed_at.isoformat(),
                    "refund_status": o.refund_status} for o in orders],
        "conversations": conversations, "tickets": their_tickets,
        # more than a panel shows: the Inbox and Tickets views page through the rest
        "truncated": more_conversations is not None or more_tickets is not None,
    }
