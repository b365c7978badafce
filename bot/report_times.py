"""How long customers wait and who carries the work: the distributions of first-response and
resolution times (median, p90, buckets; a mean hides the long tail a lead must see), and
each agent's workload. One statement per figure; durations are computed in Python from the
timestamps, which keeps the SQL the same on SQLite and PostgreSQL."""
from __future__ import annotations

import bisect
import datetime as dt
import logging
import statistics
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Agent, AuditEntry, ConversationEvent, Handoff, Ticket
from bot.report_figures import distribution, sampled, seconds_between

logger = logging.getLogger(__name__)
AGENT_ACTOR = "agent:"  # how conversation_events name an agent (bot/lifecycle.py)


async def distributions(session: AsyncSession, since: dt.datetime) -> dict[str, Any]:
    """For hand-offs and tickets opened since `since`: how long until a person joined the
    chat, until a ticket's first reply, until it was resolved (or closed). Cases still
    waiting are counted apart (`waiting`), not in the sample."""
    chats = (await session.execute(
        select(Handoff.created_at, Handoff.claimed_at, Handoff.status).where(Handoff.created_at >= since)
    )).all()
    tickets = (await session.execute(
        select(Ticket.created_at, Ticket.first_response_at, func.coalesce(Ticket.resolved_at, Ticket.closed_at))
        .where(Ticket.created_at >= since)
    )).all()
    joined = [seconds_between(created, claimed) for created, claimed, _ in chats]
    answered = [seconds_between(created, first) for created, first, _ in tickets]
    resolved = [seconds_between(created, done) for created, _, done in tickets]
    return {
        "chat_joined": distribution([s for s in joined if s is not None],
                                    waiting=sum(1 for _, claimed, status in chats
                                                if claimed is None and status == "waiting")),
        "ticket_first_response": distribution([s for s in answered if s is not None],
                                              waiting=sum(1 for s in answered if s is None)),
        "ticket_resolved": distribution([s for s in resolved if s is not None],
                                        waiting=sum(1 for s in resolved if s is None)),
    }


def _first_reply(replies: dict[tuple[str, str], list[dt.datetime]], username: str, conversation_id: str,
                 asked: dt.datetime) -> float | None:
    """Seconds from a hand-off to its agent's first reply in that conversation after it."""
    times = replies.get((username, conversation_id), [])
    index = bisect.bisect_left(times, asked)
    return seconds_between(asked, times[index]) if index < len(times) else None


async def workload(session: AsyncSession, since: dt.datetime) -> list[dict[str, Any]]:
    """Per agent since `since`: chats claimed, replies sent, chats resolved (conversation
    events), and the median time from a hand-off to the claiming agent's first reply in it.
    Replies are the audit log's `reply` entries: unlike the transcript, they survive a
    privacy erasure (their target becomes the same pseudonym as the hand-off's), so the
    figures do not change when a customer is erased. Agents with nothing in the period are
    left out."""
    claims = (await session.execute(
        select(Handoff.agent_username, Handoff.conversation_id, Handoff.created_at)
        .where(Handoff.claimed_at >= since, Handoff.agent_username.is_not(None))
    )).all()
    sent: dict[tuple[str, str], list[dt.datetime]] = defaultdict(list)
    replies: dict[str, int] = defaultdict(int)
    for actor, target, at in (await session.execute(
        select(AuditEntry.actor, AuditEntry.target, AuditEntry.at)
        .where(AuditEntry.action == "reply", AuditEntry.at >= since).order_by(AuditEntry.at)
    )).all():
        replies[actor] += 1
        sent[(actor, target or "")].append(at)
    resolved = {actor[len(AGENT_ACTOR):]: count for actor, count in (await session.execute(
        select(ConversationEvent.actor, func.count())
        .where(ConversationEvent.transition == "resolved", ConversationEvent.at >= since,
               ConversationEvent.actor.startswith(AGENT_ACTOR))
        .group_by(ConversationEvent.actor)
    )).all()}
    claimed: dict[str, int] = defaultdict(int)
    waits: dict[str, list[float]] = defaultdict(list)
    for username, conversation_id, asked in claims:
        claimed[username] += 1
        wait = _first_reply(sent, username, conversation_id, asked)
        if wait is not None:
            waits[username].append(max(0.0, wait))
    usernames = set(claimed) | set(replies) | set(resolved)
    if not usernames:
        return []
    names = dict((await session.execute(
        select(Agent.username, Agent.name).where(Agent.username.in_(sorted(usernames)))
    )).all())
    rows = [
        {"username": username, "name": names.get(username) or username, "claimed": claimed.get(username, 0),
         "replies": int(replies.get(username, 0)), "resolved": int(resolved.get(username, 0)),
         "first_reply": sampled(len(waits[username]), median_seconds=round(statistics.median(waits[username]))
                                if waits[username] else None)}
        for username in usernames
    ]
    rows.sort(key=lambda row: (-row["claimed"], -row["replies"], row["username"]))
    return rows
