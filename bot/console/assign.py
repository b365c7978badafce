"""Giving a chat or a ticket to someone: to a named agent, to a team, or back to the queue.

Leads and admins (`assign`) may give any waiting or claimed chat, and any ticket, to anyone;
an agent may only pass on what is theirs, to a team or back to the queue. Moving a claimed
chat (or a ticket someone already has) needs a note for whoever takes it over: it is kept
as an internal Note, in the state machine's event and (its length only) in the audit log.
Who talks to the customer changes only through bot/lifecycle.py."""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db import repository
from caredesk.db.models import Agent, Handoff, Note, Team
from bot import lifecycle, outcomes, store
from bot.console import audit, teams
from bot.console.agents import AgentError
from bot.console.desk import Desk, DeskError
from bot.console.roles import can

logger = logging.getLogger(__name__)
MAX_NOTE = 1000
LIVE = ("queued", "agent")


class Refused(DeskError):
    """The agent's role, or whose the chat is, does not allow this (403)."""


class Invalid(DeskError):
    """The request names no agent or team that can take it, or its note is wrong (400)."""


class Conflict(DeskError):
    """The chat or ticket is not (any more) in a state this can change (409)."""


class Actor(Protocol):
    username: str
    name: str
    role: str


@dataclass(frozen=True)
class Target:
    """Whom to give it to: an agent (by username), a team (by id), or neither: the queue."""

    agent: str | None = None
    team_id: int | None = None


@dataclass(frozen=True)
class Assigned:
    """What happened, for the consoles: the change and, given to an agent, who they are."""

    change: lifecycle.Change | None
    agent: Agent | None
    team: Team | None


def check_note(note: Any) -> str:
    if note is None:
        return ""
    if not isinstance(note, str):
        raise Invalid("The note must be text.")
    note = note.strip()
    if len(note) > MAX_NOTE:
        raise Invalid(f"A note can be at most {MAX_NOTE} characters.")
    return note


async def assignee(session: AsyncSession, username: str) -> Agent:
    """An active agent who works chats; Invalid for any other name."""
    agent = await session.scalar(select(Agent).where(Agent.username == username, Agent.active.is_(True)))
    if agent is None or not can(agent, "work"):
        raise Invalid("There is no agent by that name who can take chats.")
    return agent


async def _team(session: AsyncSession, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    try:
        return await teams.find_team(session, team_id)
    except AgentError:
        raise Invalid("There is no such team.") from None


def _may(actor: Actor, owner: str | None, target: Target) -> None:
    """Leads and admins anything; an agent only their own, to a team or the queue."""
    if can(actor, "assign"):
        return
    if not can(actor, "work"):
        raise Refused("Your role does not allow this.")
    if owner != actor.username:
        raise Refused("Only a team lead can assign a chat or ticket that is not yours.")
    if target.agent is not None:
        raise Refused("Only a team lead can give a chat or ticket to a named agent; "
                      "you can pass yours to a team or back to the queue.")


async def assign_conversation(desk: Desk, actor: Actor, conversation_id: str, target: Target, note: Any,
                              address: str | None = None) -> Assigned:
    """Give a waiting or claimed chat to `target`, then tell the customer and the consoles."""
    note = check_note(note)
    async with desk.sessions.begin() as session:
        conversation = await store.conversation(session, conversation_id)
        handoff = await repository.open_handoff(session, conversation_id)
        if conversation is None:
            raise Invalid("That conversation does not exist.")
        owner = conversation.agent_username if conversation.mode == "agent" else None
        _may(actor, owner, target)
        if handoff is None or conversation.mode not in LIVE:
            raise Conflict("This conversation is not waiting for a person or with one.")
        if owner is not None and not note:
            raise Invalid("Add a note for whoever takes it over.")
        done = await _move_chat(desk, session, actor, handoff, owner, target, note)
        detail: dict[str, Any] = {"agent": target.agent, "team": done.team.name if done.team else None,
                                  "from": owner, "note_characters": len(note)}
        if note:
            session.add(Note(conversation_id=conversation_id, ticket_id=handoff.ticket_id, author=actor.name,
                             text=note))
        if handoff.ticket_id is not None:
            await repository.add_ticket_event(session, handoff.ticket_id, "assigned", actor=f"agent:{actor.username}",
                                              note=_says(done))
        audit.record(session, actor.username, "assign", conversation_id, detail, address)
    await tell(desk, conversation_id, done, by=actor.name)
    return done


async def _move_chat(desk: Desk, session: AsyncSession, actor: Actor, handoff: Handoff, owner: str | None,
                     target: Target, note: str) -> Assigned:
    now = desk.clock()
    detail = {"by": actor.username, **({"note": note} if note else {})}
    team = await _team(session, target.team_id)
    try:
        if target.agent is None:
            if team is not None:
                detail["team"] = team.name
            change = await lifecycle.route(session, handoff, team_id=team.id if team else None,
                                           actor=f"agent:{actor.username}", now=now, detail=detail)
            return Assigned(change, None, team)
        agent = await assignee(session, target.agent)
        if agent.username == owner:
            raise Conflict(f"{agent.name} already has this conversation.")
        change = await lifecycle.claim(session, handoff.conversation_id, handoff, username=agent.username,
                                       name=agent.name, now=now, taken_from=owner,
                                       actor=f"agent:{actor.username}", detail=detail)
    except lifecycle.TooLate:
        raise Conflict("Someone else has just changed this conversation; look again.") from None
    if owner is None:
        await outcomes.settle_waiting(session, handoff.conversation_id, "person")
    return Assigned(change, agent, team)


def _says(done: Assigned) -> str:
    """The ticket event's line: to whom it went (names only; the note is the Note's)."""
    if done.agent is not None:
        return f"to {done.agent.name}"
    return f"to {done.team.name}" if done.team is not None else "to the queue"


async def tell(desk: Desk, conversation_id: str, done: Assigned, *, by: str | None) -> None:
    """After the commit: the customer (a person joined, in the trainers' words), the consoles
    showing the chat, the queue, and a frame the new owner's console acts on."""
    if done.change is not None:
        await lifecycle.announce(desk.hub, done.change)
    if done.agent is not None:
        await desk.router.say(conversation_id, "system", desk.router.texts.say(
            "utter_gateway_agent_joined", agent_name=done.agent.name))
        await desk.hub.to_agents({"type": "assigned", "conversation_id": conversation_id,
                                  "agent_username": done.agent.username, "agent_name": done.agent.name, "by": by})
    await desk._refresh_watchers(conversation_id)
    await desk.publish_queue()


async def assign_ticket(desk: Desk, actor: Actor, number: str, target: Target, note: Any,
                        address: str | None = None) -> None:
    """Give a ticket whose chat is not live to an agent or a team (both may be given; neither:
    nobody's). Raises repository.TicketNotFound, Refused, Invalid, Conflict."""
    note = check_note(note)
    async with desk.sessions.begin() as session:
        ticket = await repository.ticket_by_number(session, number)
        _may(actor, ticket.assignee_username, target)
        conversation = await store.conversation(session, ticket.conversation_id)
        if conversation is not None and conversation.mode in LIVE:
            raise Conflict("This ticket's chat is live: assign the conversation in the console.")
        if (ticket.assignee_username is not None or ticket.team_id is not None) and not note:
            raise Invalid("Add a note for whoever takes it over.")
        agent = await assignee(session, target.agent) if target.agent is not None else None
        team = await _team(session, target.team_id)
        before = {"agent": ticket.assignee_username, "team_id": ticket.team_id}
        ticket.assignee_username = agent.username if agent else None
        ticket.team_id = team.id if team else None
        await repository.add_ticket_event(session, ticket.id, "assigned", actor=f"agent:{actor.username}",
                                          note=_says(Assigned(None, agent, team)))
        if note:
            session.add(Note(conversation_id=ticket.conversation_id, ticket_id=ticket.id, author=actor.name, text=note))
        audit.record(session, actor.username, "assign_ticket", ticket.number,
                     {"agent": ticket.assignee_username, "team": team.name if team else None, "before": before,
                      "note_characters": len(note)}, address)
        conversation_id, live = ticket.conversation_id, conversation is not None
    if live:
        await desk._refresh_watchers(conversation_id)
    await desk.publish_queue()


async def open_chats(session: AsyncSession) -> dict[str, int]:
    """Claimed chats per agent's username."""
    rows = (await session.execute(select(Handoff.agent_username, func.count()).where(
        Handoff.status == "claimed", Handoff.agent_username.is_not(None)).group_by(Handoff.agent_username))).all()
    return {username: count for username, count in rows}


async def choices(session: AsyncSession, online: set[str]) -> dict[str, Any]:
    """What the Assign control offers: the agents who can take chats, with their team, their
    open (claimed) chats and whether a console of theirs is open; and the teams."""
    team_names = await teams.names(session)
    counts = await open_chats(session)
    agents = (await session.scalars(select(Agent).where(Agent.active.is_(True)).order_by(Agent.name))).all()
    return {
        "agents": [{"username": a.username, "name": a.name, "team_id": a.team_id,
                    "team": team_names.get(a.team_id) if a.team_id else None,
                    "open_chats": counts.get(a.username, 0), "online": a.username in online}
                   for a in agents if can(a, "work")],
        "teams": await teams.list_teams(session),
    }


def since(moment: dt.datetime | None) -> dt.datetime:
    """Never assigned sorts before any time (round robin: longest ago first)."""
    return moment or dt.datetime.min.replace(tzinfo=dt.timezone.utc)
