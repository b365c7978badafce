"""Teams (Delivery, Billing, ...): admins add and remove them and put agents in them on the
Agents page; chats and tickets are given to a team (bot/console/assign.py). An agent is in at
most one team. Each change is audited in the caller's unit of work."""
from __future__ import annotations

import logging
import re
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Agent, Handoff, Team, Ticket
from bot.console import audit
from bot.console.agents import AgentError

logger = logging.getLogger(__name__)
MAX_TEAM_NAME = 40
TEAM_NAME = re.compile(r"[^\W_][\w &'./-]{0,39}")


def team_frame(team: Team, members: int = 0) -> dict[str, Any]:
    return {"id": team.id, "name": team.name, "members": members}


def check_team_name(name: str) -> str:
    name = " ".join(name.split())
    if not TEAM_NAME.fullmatch(name):
        raise AgentError(f"a team's name needs 1 to {MAX_TEAM_NAME} letters, digits, spaces or & ' . / -, "
                         "starting with a letter or digit")
    return name


async def list_teams(session: AsyncSession) -> list[dict[str, Any]]:
    """Every team, by name, with how many agents are in it."""
    members = (select(Agent.team_id, func.count().label("n")).where(Agent.team_id.is_not(None))
               .group_by(Agent.team_id).subquery())
    rows = (await session.execute(select(Team, members.c.n).outerjoin(members, members.c.team_id == Team.id)
                                  .order_by(Team.name))).all()
    return [team_frame(team, n or 0) for team, n in rows]


async def find_team(session: AsyncSession, team_id: Any) -> Team:
    """The team of an id a client sent; AgentError (404) for anything else."""
    if not isinstance(team_id, int) or isinstance(team_id, bool):
        raise AgentError("a team is given by its id, a whole number")
    team = await session.get(Team, team_id)
    if team is None:
        raise AgentError("there is no such team", 404)
    return team


async def add_team(session: AsyncSession, name: str, actor: str, address: str | None = None) -> Team:
    name = check_team_name(name)
    if await session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower())) is not None:
        raise AgentError(f"a team called {name!r} exists already", 409)
    team = Team(name=name)
    session.add(team)
    await session.flush()
    audit.record(session, actor, "team_add", name, None, address)
    return team


async def remove_team(session: AsyncSession, team_id: Any, actor: str, address: str | None = None) -> None:
    """Its agents, chats and tickets are nobody's team any more (they stay as they are)."""
    team = await find_team(session, team_id)
    for table in (Agent, Handoff, Ticket):
        await session.execute(update(table).where(table.team_id == team.id).values(team_id=None))
    await session.delete(team)
    audit.record(session, actor, "team_remove", team.name, None, address)


async def set_team(session: AsyncSession, agent: Agent, team_id: Any, actor: str, address: str | None = None) -> None:
    """Put `agent` in a team (`team_id` None: in none)."""
    team = None if team_id is None else await find_team(session, team_id)
    if (team.id if team else None) == agent.team_id:
        return
    agent.team_id = team.id if team else None
    audit.record(session, actor, "agent_team", agent.username, {"team": team.name if team else None}, address)


async def names(session: AsyncSession) -> dict[int, str]:
    return {row.id: row.name for row in (await session.execute(select(Team.id, Team.name))).all()}
