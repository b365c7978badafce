"""Chats, agents and teams for the assignment tests (tests/bot/test_assign.py,
tests/security/test_assign.py, the browser test)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from caredesk.db.models import (Agent, AuditEntry, Conversation, ConversationEvent, Handoff, Note, Team, Ticket,
                                utcnow)
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle
from tests.bot.conftest import add_agent


async def team(sessions: Any, name: str, *members: str) -> int:
    async with sessions.begin() as session:
        row = Team(name=name)
        session.add(row)
        await session.flush()
        for username in members:
            agent = await session.scalar(select(Agent).where(Agent.username == username))
            agent.team_id = row.id
        return row.id


async def desk_people(sessions: Any) -> None:
    """Dana (lead), Bea and Eli (agents), Tom (trainer)."""
    await add_agent(sessions, "dana", "Dana", role="lead")
    await add_agent(sessions, "bea", "Bea", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    await add_agent(sessions, "tom", "Tom", role="trainer")


async def waiting_chat(sessions: Any, conversation_id: str, *, ticket: bool = False,
                       team_id: int | None = None) -> int:
    """A chat waiting in the queue (with a ticket if asked); returns its hand-off's id."""
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="bot"))
    ticket_id = await a_ticket(sessions, conversation_id) if ticket else None
    request = HandoffRequest(reason="asked", priority="normal", priority_score=40, summary={}, ticket_id=ticket_id,
                             promised_response_at=utcnow() + dt.timedelta(hours=1))
    async with sessions.begin() as session:
        _, handoff = await lifecycle.hand_over(session, conversation_id, request)
        handoff.team_id = team_id
        return handoff.id


async def claimed_chat(sessions: Any, conversation_id: str, username: str, name: str,
                       at: dt.datetime | None = None) -> None:
    await waiting_chat(sessions, conversation_id)
    async with sessions.begin() as session:
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id))
        await lifecycle.claim(session, conversation_id, handoff, username=username, name=name,
                              now=at or utcnow(), taken_from=None)


async def a_ticket(sessions: Any, conversation_id: str, number: str | None = None, **values: Any) -> int:
    async with sessions.begin() as session:
        row = Ticket(number=number or f"CD-9{abs(hash(conversation_id)) % 10**5:05d}", channel="webchat",
                     conversation_id=conversation_id, contact="x@example.com", contact_kind="email",
                     category="delivery", description="parcel late", desired_outcome="info", severity="grumble",
                     priority="normal", priority_score=40, promised_response_at=utcnow() + dt.timedelta(hours=4),
                     **values)
        session.add(row)
        await session.flush()
        return row.id


async def rows(sessions: Any, conversation_id: str) -> dict[str, Any]:
    """What the database says of a chat: its state and owner, its hand-off, events, notes, audit."""
    async with sessions() as session:
        conversation = await session.get(Conversation, conversation_id)
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == conversation_id)
                                       .order_by(Handoff.id.desc()))
        events = (await session.scalars(select(ConversationEvent).where(
            ConversationEvent.conversation_id == conversation_id).order_by(ConversationEvent.id))).all()
        notes = (await session.scalars(select(Note).where(Note.conversation_id == conversation_id))).all()
        audits = (await session.scalars(select(AuditEntry).where(AuditEntry.target == conversation_id,
                                                                  AuditEntry.action == "assign"))).all()
    return {"mode": conversation.mode, "agent": conversation.agent_username,
            "handoff": (handoff.status, handoff.agent_username, handoff.team_id),
            "events": [(e.transition, e.actor, e.detail) for e in events],
            "notes": [(n.author, n.text, n.ticket_id) for n in notes],
            "audit": [(a.actor, a.detail) for a in audits]}
