"""What a customer waiting for a person may do instead of waiting in the chat (issue 19, item 5):
go back to the assistant (Router.customer_back), or leave an email address for the reply, which
goes on the hand-off's ticket (made now if it has none), so the answer reaches them after they
close the chat. The conversation stays in the queue either way until someone answers."""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db import repository
from caredesk.db.models import Handoff, Ticket
from bot import no_agent

MAX_EMAIL = 254
# One address, nothing around it: no spaces or line breaks (it may go into a mail header).
EMAIL = re.compile(r"[^@\s<>\"'(),;:\\]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})+")


def email_address(text: str) -> str | None:
    """The address if `text` is one plausible email address, else None."""
    text = text.strip()
    if len(text) > MAX_EMAIL or not EMAIL.fullmatch(text):
        return None
    return text


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
