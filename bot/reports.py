"""Reports for team leads (SERVICE.md, "measuring satisfaction"): how the bot's part and each
agent's part were rated (apart, so neither hides the other), how many conversations needed a
person and why, whether the promised reply times were kept, and what customers complain about;
week-by-week trends, time distributions, each agent's workload and the latest rating comments
(bot/report_weeks.py, bot/report_times.py), the same tables as CSV (bot/report_csv.py).
Every figure carries its sample size and a small-sample flag (bot/report_figures.py)."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any, Iterable

from aiohttp import web
from sqlalchemy import case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Agent, Feedback, Handoff, Message, Ticket, utcnow
from bot.console.guard import requires
from bot.app_keys import SESSIONS
from bot.report_figures import SMALL_SAMPLE, is_complaint, sampled
from bot.report_times import distributions, workload
from bot.report_weeks import latest_comments, weekly

GOOD = 4  # CSAT counts the 4s and 5s, the usual definition
DEFAULT_DAYS, MAX_DAYS = 30, 366


def _figures(count: int, total: int, good: int) -> dict[str, Any]:
    return sampled(count, ratings=count, average=round(total / count, 2), csat_percent=round(100 * good / count, 1))


def _percent(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 1) if whole else None


async def satisfaction(session: AsyncSession, since: dt.datetime) -> dict[str, Any]:
    """Ratings since `since`: the bot's, each agent's (by username, with their name) and the
    single whole-conversation ratings stored before the parts were rated apart."""
    rows = (await session.execute(
        select(Feedback.subject, Feedback.agent_username, Agent.name, func.count(), func.sum(Feedback.rating),
               func.sum(case((Feedback.rating >= GOOD, 1), else_=0)))
        .outerjoin(Agent, Agent.username == Feedback.agent_username)
        .where(Feedback.created_at >= since)
        .group_by(Feedback.subject, Feedback.agent_username, Agent.name)
    )).all()
    report: dict[str, Any] = {"since": since.isoformat(), "bot": None, "agents": [], "whole": None}
    for subject, username, name, count, total, good in rows:
        figures = _figures(int(count), int(total), int(good))
        if subject == "agent":
            report["agents"].append({"username": username, "name": name or username, **figures})
        elif subject in ("bot", "whole"):
            report[subject] = figures
    report["agents"].sort(key=lambda a: (-a["ratings"], a["username"] or ""))
    return report


async def escalation(session: AsyncSession, since: dt.datetime) -> dict[str, Any]:
    """Conversations in which a customer wrote since `since`, and how many of them the bot
    handed to a person, by reason. Conversations outside the gateway (Rasa's own REST) have
    no transcript here and are not counted."""
    conversations = await session.scalar(
        select(func.count(distinct(Message.conversation_id)))
        .where(Message.sender == "customer", Message.created_at >= since)
    ) or 0
    reasons = dict((await session.execute(
        select(Handoff.reason, func.count()).where(Handoff.created_at >= since).group_by(Handoff.reason)
    )).all())
    handed = await session.scalar(
        select(func.count(distinct(Handoff.conversation_id))).where(Handoff.created_at >= since)
    ) or 0
    return sampled(conversations, conversations=conversations, handed_to_a_person=handed,
                   rate_percent=_percent(handed, conversations),
                   reasons=dict(sorted(reasons.items(), key=lambda item: (-item[1], item[0]))))


def _kept(pairs: Iterable[tuple[dt.datetime, dt.datetime | None]], now: dt.datetime) -> dict[str, Any]:
    """Promises (promised time, when a person answered) counted as kept, late, missed (the
    time has passed and nobody has answered) or open (there is still time)."""
    counts = Counter({"kept": 0, "late": 0, "missed": 0, "open": 0})
    for promised, answered in pairs:
        if answered is not None:
            counts["kept" if answered <= promised else "late"] += 1
        else:
            counts["missed" if promised < now else "open"] += 1
    decided = counts["kept"] + counts["late"] + counts["missed"]
    return sampled(decided, **counts, kept_percent=_percent(counts["kept"], decided))


async def promises(session: AsyncSession, since: dt.datetime, now: dt.datetime) -> dict[str, Any]:
    """The reply times we promised since `since`: a person joining a handed-over chat, and
    a person's first reply on a ticket."""
    handoffs = (await session.execute(
        select(Handoff.promised_response_at, Handoff.claimed_at).where(Handoff.created_at >= since)
    )).all()
    tickets = (await session.execute(
        select(Ticket.promised_response_at, Ticket.first_response_at).where(Ticket.created_at >= since)
    )).all()
    return {"handoffs": _kept(handoffs, now), "tickets": _kept(tickets, now)}


async def complaints(session: AsyncSession, since: dt.datetime) -> dict[str, Any]:
    """Complaint tickets since `since` by category, most frequent first. The follow-up
    ticket of a customer who only asked for a person is not a complaint."""
    rows = (await session.execute(
        select(Ticket.category, func.count()).where(Ticket.created_at >= since, is_complaint())
        .group_by(Ticket.category)
    )).all()
    total = sum(count for _, count in rows)
    categories = [{"category": category, "tickets": count, "share_percent": _percent(count, total)}
                  for category, count in sorted(rows, key=lambda row: (-row[1], row[0]))]
    return sampled(total, tickets=total, categories=categories)


def period_days(request: web.Request) -> int:
    try:
        days = int(request.query.get("days", DEFAULT_DAYS))
        if not 1 <= days <= MAX_DAYS:
            raise ValueError
    except ValueError:
        raise web.HTTPBadRequest(text=f'{{"error": "days must be a whole number from 1 to {MAX_DAYS}"}}',
                                 content_type="application/json")
    return days


@requires("reports")
async def get_satisfaction(request: web.Request) -> web.Response:
    days = period_days(request)
    async with request.app[SESSIONS]() as session:
        report = await satisfaction(session, utcnow() - dt.timedelta(days=days))
    return web.json_response({"days": days, **report})


async def full_report(session: AsyncSession, days: int, now: dt.datetime) -> dict[str, Any]:
    """Everything the Reports page shows, for the last `days` days (the weekly trend always
    covers the last 8 ISO weeks). The CSV downloads are cut from the same dict."""
    since = now - dt.timedelta(days=days)
    return {
        "days": days, "since": since.isoformat(), "small_sample_under": SMALL_SAMPLE,
        "satisfaction": await satisfaction(session, since),
        "escalation": await escalation(session, since),
        "promises": await promises(session, since, now),
        "complaints": await complaints(session, since),
        "weekly": await weekly(session, now),
        "times": await distributions(session, since),
        "workload": await workload(session, since),
        "comments": await latest_comments(session, since),
    }


@requires("reports")
async def get_reports(request: web.Request) -> web.Response:
    days = period_days(request)
    async with request.app[SESSIONS]() as session:
        report = await full_report(session, days, utcnow())
    return web.json_response(report)


def add_routes(app: web.Application) -> None:
    from bot import report_csv  # it builds on this module

    app.router.add_get("/api/satisfaction", get_satisfaction)
    app.router.add_get("/api/reports", get_reports)
    report_csv.add_routes(app)
