"""Agent management, shared by the admin API and `python -m bot`: list, add, change name,
role or active, reset a password. Each change is audited in the caller's unit of work. The
last active admin can be neither deactivated nor demoted, so somebody can always manage."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Agent
from bot.console import audit, auth
from bot.console.roles import ROLES

USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_NAME = 120


class AgentError(ValueError):
    """A refused change, in words an admin can act on; `status` is the HTTP status."""

    def __init__(self, text: str, status: int = 400) -> None:
        super().__init__(text)
        self.status = status


def agent_frame(agent: Agent) -> dict[str, Any]:
    return {"username": agent.username, "name": agent.name, "role": agent.role, "active": agent.active,
            "created_at": agent.created_at.isoformat(), "team_id": agent.team_id}


def check_role(role: str) -> str:
    if role not in ROLES:
        raise AgentError(f"the role must be one of {', '.join(ROLES)}")
    return role


def check_name(name: str) -> str:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME:
        raise AgentError(f"the name needs 1 to {MAX_NAME} characters")
    return name


async def list_agents(session: AsyncSession) -> list[Agent]:
    return list((await session.scalars(select(Agent).order_by(Agent.username))).all())


async def active_admins(session: AsyncSession) -> int:
    # Locks the admins' rows on PostgreSQL, so two admins cannot demote each other at once.
    rows = (await session.scalars(
        select(Agent.id).where(Agent.role == "admin", Agent.active.is_(True)).with_for_update())).all()
    return len(rows)


async def default_role(session: AsyncSession) -> str:
    """The first account (no active admin yet) becomes the admin; later ones are agents."""
    admins = await session.scalar(select(func.count()).select_from(Agent)
                                  .where(Agent.role == "admin", Agent.active.is_(True)))
    return "agent" if admins else "admin"


async def find(session: AsyncSession, username: str) -> Agent:
    agent = await session.scalar(select(Agent).where(Agent.username == username))
    if agent is None:
        raise AgentError(f"there is no agent called {username!r}", 404)
    return agent


async def add(session: AsyncSession, username: str, name: str, password: str, role: str | None,
              actor: str, address: str | None = None) -> Agent:
    if not USERNAME.fullmatch(username):
        raise AgentError("the username needs 1 to 64 letters, digits, dots, dashes or underscores, "
                         "starting with a letter or digit")
    role = check_role(role) if role else await default_role(session)
    try:
        agent = await auth.create_agent(session, username, check_name(name), password, role)
    except auth.AgentExists:
        raise AgentError(f"an agent called {username!r} exists already", 409) from None
    except ValueError as error:
        raise AgentError(str(error)) from None
    audit.record(session, actor, "agent_add", username, {"role": role}, address)
    return agent


async def change(session: AsyncSession, username: str, actor: str, address: str | None = None, *,
                 name: str | None = None, role: str | None = None, active: bool | None = None) -> Agent:
    """Change what is given. Deactivating ends the agent's sessions at once (the caller
    closes their open consoles)."""
    agent = await find(session, username)
    detail: dict[str, Any] = {}
    if role is not None and role != agent.role:
        check_role(role)
        if agent.role == "admin" and agent.active and await active_admins(session) <= 1:
            raise AgentError("this is the last active admin; make another agent admin first", 409)
        detail["role"] = {"from": agent.role, "to": role}
        agent.role = role
    if active is not None and active != agent.active:
        if not active and agent.role == "admin" and await active_admins(session) <= 1:
            raise AgentError("this is the last active admin; make another agent admin first", 409)
        detail["active"] = active
        agent.active = active
        if not active:
            await auth.end_sessions_of(session, agent.id)
    if name is not None and check_name(name) != agent.name:
        detail["name"] = check_name(name)
        agent.name = detail["name"]
    if "role" in detail or "active" in detail:
        # Counted again after the write, inside it: on SQLite the count above was read before
        # this transaction took the write lock, so two admins demoting each other would both pass.
        await session.flush()
        if await active_admins(session) == 0:
            raise AgentError("this is the last active admin; make another agent admin first", 409)
    if detail:
        audit.record(session, actor, "agent_change", username, detail, address)
    return agent


async def reset_password(session: AsyncSession, username: str, password: str, actor: str,
                         address: str | None = None) -> Agent:
    """Set a new password (typed by the admin); the agent's sessions end."""
    agent = await find(session, username)
    try:
        agent.password_hash = auth.hash_password(password)
    except ValueError as error:
        raise AgentError(str(error)) from None
    await auth.end_sessions_of(session, agent.id)
    audit.record(session, actor, "agent_password_reset", username, None, address)
    return agent
