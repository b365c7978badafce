"""Who is talking to the customer, and the one place that changes it.

A conversation is with the assistant ("bot"), waiting for a person ("queued"), with a
person ("agent"), or closed ("closed": a person resolved it; the bot asks for the rating and
answers if the customer writes again, which reopens it). Every change is one of the transitions below, made here and nowhere else:
a conditional UPDATE of the conversation's state (so of two gateways or two consoles doing
the same thing at once, one does it and the other learns it was too late), the hand-off row
that goes with it, and a row in conversation_events, all in the caller's unit of work. After
the caller commits, `announce` tells whoever listens: the customer's channel and the
consoles watching, on this gateway and, through the hub, on the others.

The action server never writes any of this: it asks for a person with a HandoffRequest in
the bot's reply (caredesk/handoff_request.py), and `hand_over` carries it out. Rasa's own
pause (ConversationPaused, set by the hand-off action) only stops the engine's turn; the
gateway sends a conversation to Rasa only while it is with the assistant, and resumes the
tracker when it comes back."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from caredesk.db import repository
from caredesk.db.models import Conversation, ConversationEvent, Handoff, Message, Ticket, utcnow
from caredesk.handoff_request import HandoffRequest
from bot.hub import Hub

logger = logging.getLogger(__name__)

ASSISTANT, WAITING, WITH_PERSON, CLOSED = "bot", "queued", "agent", "closed"
WITH_THE_BOT = (ASSISTANT, CLOSED)  # the states in which a customer line goes to the bot
# transition -> (the state it starts from, the state it leads to)
TRANSITIONS: dict[str, tuple[str, str]] = {
    "handed_over": (ASSISTANT, WAITING),  # the bot asked for a person
    "bot_unavailable": (ASSISTANT, WAITING),  # the bot could not answer: a person follows up
    "claimed": (WAITING, WITH_PERSON),
    "transferred": (WITH_PERSON, WITH_PERSON),  # another agent takes over a claimed chat
    "handed_back": (WITH_PERSON, ASSISTANT),  # the agent gives it back unresolved
    "resolved": (WITH_PERSON, CLOSED),  # the agent is done; the bot asks for the rating
    "reopened": (CLOSED, ASSISTANT),  # the customer writes again after it was resolved
    "bot_back": (WAITING, ASSISTANT),  # the fault cleared before anyone claimed it
    "customer_back": (WAITING, ASSISTANT),  # the customer would rather go on with the assistant
    "unanswered": (WITH_PERSON, WAITING),  # claimed, but its agent did not write in time
    "assigned": (WAITING, WITH_PERSON),  # a lead, or automatic assignment, gives it to an agent
    "routed": (WAITING, WAITING),  # a waiting chat is sent to a team's queue (or to everyone's)
    "requeued": (WITH_PERSON, WAITING),  # its agent or a lead puts it back in the queue (for a team)
}
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_handoffs: Table = Handoff.__table__  # type: ignore[assignment]
_events: Table = ConversationEvent.__table__  # type: ignore[assignment]
_messages: Table = Message.__table__  # type: ignore[assignment]
Executor = AsyncSession | AsyncConnection


class TooLate(RuntimeError):
    """The conversation was not in the state the transition starts from (any more)."""


@dataclass(frozen=True)
class Change:
    conversation_id: str
    transition: str
    handoff_id: int | None
    agent_name: str | None = None
    channel: str | None = None
    promised_response_at: dt.datetime | None = None  # while waiting: when a person will answer

    @property
    def state(self) -> str:
        return TRANSITIONS[self.transition][1]


async def _move(executor: Executor, conversation_id: str, transition: str, *, now: dt.datetime,
                agent: tuple[str, str] | None = None) -> str:
    """Change the state if it is still the one `transition` starts from. Returns the
    conversation's channel; TooLate when the state was another."""
    start, end = TRANSITIONS[transition]
    values: dict[str, Any] = {"mode": end, "updated_at": now}
    if end == WITH_PERSON and agent is not None:
        values.update(agent_username=agent[0], agent_name=agent[1])
    elif end != WITH_PERSON:
        values.update(agent_username=None, agent_name=None)
    moved = await executor.execute(
        update(_conversations).where(_conversations.c.id == conversation_id, _conversations.c.mode == start)
        .values(**values).returning(_conversations.c.channel)
    )
    channel = moved.scalar_one_or_none()
    if channel is None:
        raise TooLate(f"conversation {conversation_id} is not {start!r}: no {transition}")
    return str(channel)


async def _log(executor: Executor, conversation_id: str, transition: str, *, actor: str, now: dt.datetime,
               handoff_id: int | None, detail: dict[str, Any] | None = None) -> None:
    start, end = TRANSITIONS[transition]
    await executor.execute(insert(_events).values(
        conversation_id=conversation_id, at=now, transition=transition, from_state=start, to_state=end,
        actor=actor, handoff_id=handoff_id, detail=detail,
    ))


async def hand_over(session: AsyncSession, conversation_id: str, request: HandoffRequest, *,
                    now: dt.datetime | None = None) -> tuple[Change, Handoff]:
    """The bot (or the gateway, when the bot failed) asks for a person: the conversation
    waits in the queue with the request's hand-off. TooLate when it is not with the bot."""
    transition = "bot_unavailable" if request.reason == "bot_unavailable" else "handed_over"
    now = now or utcnow()
    channel = await _move(session, conversation_id, transition, now=now)
    handoff = await repository.create_handoff(
        session, conversation_id=conversation_id, channel=channel, reason=request.reason,
        priority=request.priority, priority_score=request.priority_score, summary=request.summary,
        promised_response_at=request.promised_response_at,
        ticket_id=await _own_ticket(session, conversation_id, request.ticket_id),
    )
    await _log(session, conversation_id, transition, actor="gateway" if transition == "bot_unavailable" else "bot",
               now=now, handoff_id=handoff.id, detail={"reason": request.reason, "priority": request.priority})
    return Change(conversation_id, transition, handoff.id, channel=channel,
                  promised_response_at=request.promised_response_at), handoff


async def _own_ticket(session: AsyncSession, conversation_id: str, ticket_id: int | None) -> int | None:
    """The request's ticket only if it exists; the action proved it belongs to this customer."""
    if ticket_id is None:
        return None
    found = await session.scalar(select(Ticket.id).where(Ticket.id == ticket_id))
    if found is None:
        logger.warning("a hand-off request in %s named a ticket that does not exist", conversation_id)
    return found


async def claim(session: AsyncSession, conversation_id: str, handoff: Handoff, *, username: str, name: str,
                now: dt.datetime, taken_from: str | None, actor: str | None = None,
                detail: dict[str, Any] | None = None) -> Change:
    """A person takes the conversation: from the queue ("claimed"), or from the agent who had
    it ("transferred", a lead's or admin's take-over). `actor`: someone else gave it to them
    (a lead "agent:<username>", automatic assignment "gateway"); from the queue that is
    "assigned". `detail` (a note, who assigned it) joins the event. TooLate when someone was quicker."""
    transition = "transferred" if taken_from is not None else "assigned" if actor is not None else "claimed"
    start = TRANSITIONS[transition][0]
    claimed = await session.execute(
        update(_handoffs).where(_handoffs.c.id == handoff.id,
                                _handoffs.c.status == ("claimed" if taken_from is not None else "waiting"))
        .values(status="claimed", claimed_by=name, claimed_at=now, agent_username=username)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise TooLate(f"hand-off {handoff.id} is no longer {start}")
    channel = await _move(session, conversation_id, transition, now=now, agent=(username, name))
    logged = {**({"from": taken_from} if taken_from is not None else {}), **(detail or {})}
    if actor is not None:
        logged["to"] = username
    await _log(session, conversation_id, transition, actor=actor or f"agent:{username}", now=now,
               handoff_id=handoff.id, detail=logged or None)
    return Change(conversation_id, transition, handoff.id, agent_name=name, channel=channel)


async def route(session: AsyncSession, handoff: Handoff, *, team_id: int | None, actor: str, now: dt.datetime,
                detail: dict[str, Any] | None = None) -> Change:
    """Send a chat to a team's queue (`team_id` None: to everyone's). From a claimed chat its
    agent lets go ("requeued"); a waiting one stays waiting ("routed"). Either way the hand-off
    keeps its age, so it keeps its place among its priority. TooLate when it was not in the
    state it was read in (claimed meanwhile, resolved, taken over)."""
    claimed = handoff.status == "claimed"
    transition = "requeued" if claimed else "routed"
    condition = [_handoffs.c.id == handoff.id, _handoffs.c.status == handoff.status]
    if claimed:
        condition.append(_handoffs.c.agent_username == handoff.agent_username)
    moved = await session.execute(
        update(_handoffs).where(*condition)
        .values(status="waiting", claimed_by=None, claimed_at=None, agent_username=None, team_id=team_id)
    )
    if moved.rowcount != 1:  # type: ignore[attr-defined]
        raise TooLate(f"hand-off {handoff.id} is no longer {handoff.status}")
    channel = await _move(session, handoff.conversation_id, transition, now=now)
    logged = {**({"from": handoff.agent_username} if claimed else {}), **(detail or {})}
    await _log(session, handoff.conversation_id, transition, actor=actor, now=now, handoff_id=handoff.id,
               detail=logged or None)
    return Change(handoff.conversation_id, transition, handoff.id, channel=channel,
                  promised_response_at=handoff.promised_response_at)


async def hand_back(session: AsyncSession, conversation_id: str, *, actor: str, resolve: bool = False,
                    now: dt.datetime | None = None) -> Change | None:
    """The person is done: the conversation is closed ("resolved") or, unresolved, back with
    the bot ("handed_back"); either way the bot answers next. None when the conversation was
    not with a person (a second click, another console, another gateway)."""
    now = now or utcnow()
    transition = "resolved" if resolve else "handed_back"
    handoff_id = await session.scalar(
        select(_handoffs.c.id).where(_handoffs.c.conversation_id == conversation_id,
                                     _handoffs.c.status.in_(("waiting", "claimed"))).order_by(_handoffs.c.id.desc())
    )
    try:
        channel = await _move(session, conversation_id, transition, now=now)
    except TooLate:
        return None
    await _log(session, conversation_id, transition, actor=actor, now=now, handoff_id=handoff_id)
    if handoff_id is not None:
        await session.execute(update(_handoffs).where(_handoffs.c.id == handoff_id)
                              .values(status="ended", ended_at=now))
    return Change(conversation_id, transition, handoff_id, channel=channel)


async def reopen(connection: Executor, conversation_id: str, *, actor: str = "customer") -> Change | None:
    """A closed conversation is with the bot again (the customer wrote, or a line of theirs
    is answered late). None when it was not closed: nothing to do."""
    now = utcnow()
    try:
        channel = await _move(connection, conversation_id, "reopened", now=now)
    except TooLate:
        return None
    await _log(connection, conversation_id, "reopened", actor=actor, now=now, handoff_id=None)
    return Change(conversation_id, "reopened", None, channel=channel)


async def bot_back(connection: AsyncConnection, conversation_id: str, handoff_id: int) -> Change | None:
    """The fault that queued the conversation cleared before anyone claimed it: the bot
    answers again. None when a person claimed it, when the bot itself asked for a person
    meanwhile (the hand-off is then the bot's, not the fault's), or another gateway did this."""
    now = utcnow()
    ended = await connection.execute(
        update(_handoffs)
        .where(_handoffs.c.id == handoff_id, _handoffs.c.status == "waiting", _handoffs.c.reason == "bot_unavailable")
        .values(status="ended", end_reason="bot_back", ended_at=now)
    )
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        return None
    channel = await _move(connection, conversation_id, "bot_back", now=now)
    await _log(connection, conversation_id, "bot_back", actor="gateway", now=now, handoff_id=handoff_id)
    return Change(conversation_id, "bot_back", handoff_id, channel=channel)


async def customer_back(session: AsyncSession, conversation_id: str) -> Change | None:
    """The customer, waiting, would rather go on with the assistant: the hand-off ends unclaimed
    (its ticket, if it has one, stays open for the team). None when a person has claimed it
    meanwhile, or it was not waiting: the customer stays with whoever has it."""
    now = utcnow()
    try:
        channel = await _move(session, conversation_id, "customer_back", now=now)
    except TooLate:
        return None
    ended = await session.execute(
        update(_handoffs).where(_handoffs.c.conversation_id == conversation_id, _handoffs.c.status == "waiting")
        .values(status="ended", end_reason="customer_back", ended_at=now).returning(_handoffs.c.id)
    )
    handoff_id = ended.scalars().first()
    await _log(session, conversation_id, "customer_back", actor="customer", now=now, handoff_id=handoff_id)
    return Change(conversation_id, "customer_back", handoff_id, channel=channel)


async def unanswered(session: AsyncSession, handoff: Handoff, *, before: dt.datetime, now: dt.datetime) -> Change | None:
    """A chat claimed before `before` whose agent has not written to the customer since goes
    back to the queue, first among its priority (the hand-off keeps its age). None when its
    agent wrote meanwhile, someone else took it, or another gateway did this first."""
    agent_wrote = (select(_messages.c.id).where(
        _messages.c.conversation_id == _handoffs.c.conversation_id, _messages.c.sender == "agent",
        _messages.c.created_at >= _handoffs.c.claimed_at).exists())
    returned = await session.execute(
        update(_handoffs).where(_handoffs.c.id == handoff.id, _handoffs.c.status == "claimed",
                                _handoffs.c.claimed_at < before, ~agent_wrote)
        .values(status="waiting", claimed_by=None, claimed_at=None, agent_username=None)
    )
    if returned.rowcount != 1:  # type: ignore[attr-defined]
        return None
    channel = await _move(session, handoff.conversation_id, "unanswered", now=now)
    await _log(session, handoff.conversation_id, "unanswered", actor="gateway", now=now, handoff_id=handoff.id,
               detail={"agent": handoff.agent_username})
    return Change(handoff.conversation_id, "unanswered", handoff.id, channel=channel,
                  promised_response_at=handoff.promised_response_at)


async def announce(hub: Hub, change: Change, *, promised_time: str | None = None) -> None:
    """Tell the customer's channel and the watching consoles (never raises: Hub.send).
    `promised_time`: while waiting, when a person will answer, in the company's words."""
    state: dict[str, Any] = {"type": "state", "state": change.state, "transition": change.transition}
    if change.agent_name:
        state["agent_name"] = change.agent_name
    if change.promised_response_at is not None:
        state["promised_response_at"] = change.promised_response_at.isoformat()
    if promised_time:
        state["promised_time"] = promised_time
    if change.transition in ("claimed", "transferred", "assigned"):
        await hub.to_customer(change.conversation_id, {"type": "agent_joined", "agent_name": change.agent_name})
    elif change.transition in ("handed_back", "resolved"):
        await hub.to_customer(change.conversation_id, {"type": "agent_left"})
    await hub.to_customer(change.conversation_id, state)
    await hub.to_watchers(change.conversation_id, {**state, "conversation_id": change.conversation_id})

