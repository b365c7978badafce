"""Week-by-week trends for the last 8 ISO weeks (Monday 00:00 UTC to Monday), and the latest
rating comments: what a lead reads to see whether things get better or worse, and why.

One statement per figure, on SQLite and PostgreSQL: each row is given the index of its week
in a subquery (bot/report_figures.py week_index) and the outer query counts per index."""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Sequence

from sqlalchemy import func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Agent, Conversation, Feedback, Handoff, Ticket
from bot.report_figures import is_complaint, sampled, week_index, week_label, week_starts

logger = logging.getLogger(__name__)
COMMENTS = 20  # the latest rating comments shown; the CSV has the same
SUBJECTS = ("bot", "agent", "whole")


async def _per_week(session: AsyncSession, starts: Sequence[dt.datetime], moment: Any, *, key: Any = None,
                    value: Any = None, where: Sequence[Any] = ()) -> dict[tuple[int, Any], tuple[int, int]]:
    """{(week index, key): (rows, sum of value)} for rows whose `moment` is in the weeks."""
    inner = (select(week_index(moment, starts).label("week"),
                    (key if key is not None else literal("all")).label("key"),
                    (value if value is not None else literal(0)).label("value"))
             .where(moment >= starts[0], *where).subquery("per_week"))
    rows = (await session.execute(
        select(inner.c.week, inner.c.key, func.count(), func.coalesce(func.sum(inner.c.value), 0))
        .group_by(inner.c.week, inner.c.key)
    )).all()
    return {(int(week), key_value): (int(count), int(total)) for week, key_value, count, total in rows}


def _series(counts: dict[tuple[int, Any], tuple[int, int]], key: Any, weeks: int) -> list[int]:
    return [counts.get((index, key), (0, 0))[0] for index in range(weeks)]


def _averages(counts: dict[tuple[int, Any], tuple[int, int]], key: Any, weeks: int) -> list[dict[str, Any]]:
    figures = []
    for index in range(weeks):
        count, total = counts.get((index, key), (0, 0))
        figures.append(sampled(count, average=round(total / count, 2) if count else None))
    return figures


async def weekly(session: AsyncSession, now: dt.datetime) -> dict[str, Any]:
    """Conversations started, hand-offs (by reason), complaints and the average rating of
    each subject, for each of the last 8 ISO weeks, oldest first. A hand-off the customer
    asked for is not a complaint; only a complaint ticket is (report_figures.is_complaint)."""
    starts = week_starts(now)
    weeks = len(starts)
    conversations = await _per_week(session, starts, Conversation.created_at)
    handoffs = await _per_week(session, starts, Handoff.created_at, key=Handoff.reason)
    complaints = await _per_week(session, starts, Ticket.created_at, where=[is_complaint()])
    ratings = await _per_week(session, starts, Feedback.created_at, key=Feedback.subject, value=Feedback.rating)
    reasons = sorted({key for _, key in handoffs}, key=lambda reason: (-sum(
        count for (_, k), (count, _) in handoffs.items() if k == reason), reason))
    handoff_totals = [sum(count for (week, _), (count, _) in handoffs.items() if week == index)
                      for index in range(weeks)]
    subjects = [subject for subject in SUBJECTS if any(key == subject for _, key in ratings)]
    return {
        "weeks": [{"week": week_label(start), "starts": start.date().isoformat()} for start in starts],
        "conversations": _series(conversations, "all", weeks),
        "handoffs": handoff_totals,
        "handoff_reasons": {reason: _series(handoffs, reason, weeks) for reason in reasons},
        "complaints": _series(complaints, "all", weeks),
        "ratings": {subject: _averages(ratings, subject, weeks) for subject in subjects},
    }


async def latest_comments(session: AsyncSession, since: dt.datetime, limit: int = COMMENTS) -> list[dict[str, Any]]:
    """The latest ratings that came with a comment, newest first: the words behind the
    averages. The comment is the customer's own text; the page shows it as text only."""
    rows = (await session.execute(
        select(Feedback.rating, Feedback.subject, Feedback.agent_username, Agent.name, Feedback.channel,
               Feedback.created_at, Feedback.comment)
        .outerjoin(Agent, Agent.username == Feedback.agent_username)
        .where(Feedback.created_at >= since, Feedback.comment.is_not(None), Feedback.comment != "")
        .order_by(Feedback.created_at.desc(), Feedback.id.desc())
        .limit(limit)
    )).all()
    return [{"rating": rating, "subject": subject, "agent_username": username,
             "agent_name": name or username, "channel": channel, "at": at.isoformat(), "comment": comment}
            for rating, subject, username, name, channel, at, comment in rows]
