"""Rows the canned-reply tests share: a chat claimed by an agent, with a ticket whose customer
and order are the demo shop's, and canned replies added straight to the database."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, select

from caredesk.db import repository
from caredesk.db.models import CannedReply, Conversation, Customer, utcnow
from bot import store

# Tuesday 24 November 2026, 10:30 UTC: 11:30 in the demo company's Berlin.
PROMISED = dt.datetime(2026, 11, 24, 10, 30, tzinfo=dt.timezone.utc)


async def claimed_chat(sessions, conversation_id: str, agent: tuple[str, str] = ("dana", "Dana"),  # type: ignore[no-untyped-def]
                       *, ticket: bool = True) -> str | None:
    """A web chat claimed by `agent` (username, name); with a ticket for Tom Becker's order
    10003310 unless `ticket` is false. Returns the ticket number."""
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="agent",
                                 agent_username=agent[0], agent_name=agent[1]))
        await session.flush()
        await store.add_message(session, conversation_id, "customer", "I want to talk to a person")
        number = ticket_id = None
        if ticket:
            tom = await session.scalar(select(Customer).where(Customer.email == "tom.becker@example.com"))
            made = await repository.create_ticket(session, repository.NewTicket(
                channel="webchat", conversation_id=conversation_id, contact="tom.becker@example.com",
                contact_kind="email", category="damaged_item", description="cracked", desired_outcome="refund",
                order_number="10003310", sentiment=-0.4, severity="formal_complaint", priority="high",
                priority_score=80, promised_response_at=PROMISED, customer_id=tom.id if tom else None,
            ))
            number, ticket_id = made.number, made.id
        handoff = await repository.create_handoff(
            session, conversation_id=conversation_id, channel="webchat", reason="asked", priority="high",
            priority_score=80, summary={}, promised_response_at=PROMISED, ticket_id=ticket_id,
        )
        handoff.status, handoff.claimed_by, handoff.claimed_at = "claimed", agent[1], utcnow()
        handoff.agent_username = agent[0]
    return number


async def only_replies(sessions, *replies: tuple[str, str, str]) -> None:  # type: ignore[no-untyped-def]
    """The canned replies are exactly these (shortcut, title, text): a fresh database holds
    the seeded ones, a used one none."""
    async with sessions.begin() as session:
        await session.execute(delete(CannedReply))
        now = utcnow()
        for shortcut, title, text in replies:
            session.add(CannedReply(shortcut=shortcut, title=title, text=text, created_at=now, created_by="test",
                                    updated_at=now, updated_by="test"))


async def shortcuts(sessions) -> list[str]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return list((await session.scalars(select(CannedReply.shortcut).order_by(CannedReply.shortcut))).all())
