"""What a customer waiting for a person is told when no agent is online: a ticket number and
a promised time, never silence. Runs inside the caller's unit of work (the one that queues
the conversation), so the ticket and the hand-off's link to it are stored together."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.company import Company
from caredesk.db import repository
from caredesk.db.models import Handoff, Ticket
from caredesk.triage import FOLLOW_UP_SEVERITY, describe_deadline
from bot.texts import Texts


async def notice(session: AsyncSession, handoff: Handoff, *, texts: Texts,
                 company: Company, now: dt.datetime, agents_online: int) -> str | None:
    """The customer's notice when nobody is online (None when someone is), with the ticket
    made for it unless the hand-off has one already."""
    if agents_online > 0:
        return None
    promised_time = describe_deadline(handoff.promised_response_at, now, company)
    ticket = await handoff.awaitable_attrs.ticket
    if ticket is not None:
        # The bot has just given the customer this ticket's number and time (a complaint
        # that also went to a person): say only what is new.
        return texts.say("utter_gateway_no_agent_online_ticketed", promised_time=promised_time)
    ticket = await follow_up_ticket(session, handoff, contact=f"{handoff.channel} conversation {handoff.conversation_id}",
                                    contact_kind="chat")
    return texts.say("utter_gateway_no_agent_online", ticket_number=ticket.number or "", promised_time=promised_time)


async def follow_up_ticket(session: AsyncSession, handoff: Handoff, *, contact: str, contact_kind: str) -> Ticket:
    """A ticket for a hand-off that has none, so the request is not lost when the chat ends:
    what the customer said, the hand-off's priority and promise; linked to the hand-off. Its
    severity says it is a follow-up, so the reports do not count it as a complaint."""
    summary = handoff.summary or {}
    recent = "\n".join(summary.get("recent_messages") or []) or "(no messages)"
    ticket = await repository.create_ticket(
        session,
        repository.NewTicket(
            channel=handoff.channel,
            conversation_id=handoff.conversation_id,
            contact=contact,
            contact_kind=contact_kind,
            category="other",
            description=recent,
            desired_outcome="other",
            order_number=None,
            sentiment=summary.get("sentiment_min"),
            severity=FOLLOW_UP_SEVERITY,  # a request to be answered, not a complaint
            priority=handoff.priority,
            priority_score=handoff.priority_score,
            promised_response_at=handoff.promised_response_at,
        ),
    )
    handoff.ticket_id = ticket.id
    await session.flush()
    return ticket
