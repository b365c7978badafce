"""Satisfaction for team leads: how the bot's part and each agent's part of conversations were
rated, apart (a handed-over conversation is rated twice, so neither hides the other)."""
from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from actions.db.models import Agent, Feedback, utcnow
from bot.api import agents_only
from bot.app_keys import SESSIONS

GOOD = 4  # CSAT counts the 4s and 5s, the usual definition
DEFAULT_DAYS, MAX_DAYS = 30, 366


def _figures(count: int, total: int, good: int) -> dict[str, Any]:
    return {"ratings": count, "average": round(total / count, 2), "csat_percent": round(100 * good / count, 1)}


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


@agents_only
async def get_satisfaction(request: web.Request) -> web.Response:
    try:
        days = int(request.query.get("days", DEFAULT_DAYS))
        if not 1 <= days <= MAX_DAYS:
            raise ValueError
    except ValueError:
        raise web.HTTPBadRequest(text=f'{{"error": "days must be a whole number from 1 to {MAX_DAYS}"}}',
                                 content_type="application/json")
    async with request.app[SESSIONS]() as session:
        report = await satisfaction(session, utcnow() - dt.timedelta(days=days))
    return web.json_response({"days": days, **report})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/satisfaction", get_satisfaction)
