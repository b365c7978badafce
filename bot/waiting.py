"""What a customer waiting for a person may do instead of waiting in the chat (issue 19, item 5):
go back to the assistant (Router.customer_back), or leave an email address for the reply, which
goes on the hand-off's ticket (made now if it has none), so the answer reaches them after they
close the chat. The conversation stays in the queue either way until someone answers."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db import repository
from caredesk.db.models import Handoff, Message, Ticket, TicketEvent
from caredesk.mail import InvalidAddress, valid_address
from bot import no_agent


def email_address(text: str) -> str | None:
    """The address if `text` is one plain email address (caredesk/mail.py's rule, as the
    reply will be sent), else None."""
    try:
        return valid_address(text.strip())
    except InvalidAddress:
        return None


async def leave_email(session: AsyncSession, conversation_id: str, email: str) -> Ticket | None:
    """Put `email` (checked by email_address) on the waiting hand-off's ticket as the way to
    reply. None when the conversation is not waiting for a person."""
    handoff = await session.scalar(
        select(Handoff).where(Handoff.conversation_id == conversation_id, Handoff.status == "waiting")
        .order_by(Handoff.id.desc()).limit(1)
    )
    if handoff is None:
        return None
    ticket = await handoff.awaitable_attrs.ticket
    if ticket is None:
        ticket = await no_agent.follow_up_ticket(session, handoff, contact=email, contact_kind="email")
    else:
        ticket.contact, ticket.contact_kind = email, "email"
    await repository.add_ticket_event(session, ticket.id, "contact", actor="customer",
                                      note="The customer asked for the reply by email.")
    return ticket


async def wants_email(session: AsyncSession, ticket_id: int, conversation_id: str) -> bool:
    """The customer left an address while waiting and has not written in the chat since: they
    may have closed it, so a person's replies in the chat go by email too."""
    left = await session.scalar(
        select(TicketEvent.created_at).where(TicketEvent.ticket_id == ticket_id, TicketEvent.kind == "contact",
                                             TicketEvent.actor == "customer")
        .order_by(TicketEvent.id.desc()).limit(1)
    )
    if left is None:
        return False
    wrote_since = await session.scalar(
        select(Message.id).where(Message.conversation_id == conversation_id, Message.sender == "customer",
                                 Message.created_at > left).limit(1)
    )
    return wrote_since is None
