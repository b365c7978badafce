"""Agent accounts and console sessions. Passwords are hashed with Argon2; the session cookie
holds a random token whose SHA-256 is all the database keeps. Passwords are checked in
bot/console/passwords.py, off the event loop."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from actions.db.models import Agent, AgentSession, utcnow
from bot.console.passwords import PasswordChecker, hash_password

COOKIE = "caredesk_session"


class AgentExists(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_agent(session: AsyncSession, username: str, name: str, password: str) -> Agent:
    if len(password) < 10:
        raise ValueError("the password needs at least 10 characters")
    if await session.scalar(select(Agent).where(Agent.username == username)) is not None:
        raise AgentExists(username)
    agent = Agent(username=username, name=name, password_hash=hash_password(password))
    session.add(agent)
    await session.flush()
    return agent


async def authenticate(sessions: async_sessionmaker, username: str, password: str,  # type: ignore[type-arg]
                       checker: PasswordChecker) -> Agent | None:
    """The active agent whose password this is, else None. Raises passwords.Busy when too many
    sign-ins are waiting for a check. No database connection is held while the check waits."""
    async with sessions() as session:
        agent = await session.scalar(select(Agent).where(Agent.username == username, Agent.active.is_(True)))
    return agent if await checker.check(agent.password_hash if agent else None, password) else None


async def start_session(session: AsyncSession, agent: Agent, hours: int) -> str:
    token = secrets.token_urlsafe(32)
    now = utcnow()
    session.add(AgentSession(token_hash=_digest(token), agent_id=agent.id, created_at=now,
                             expires_at=now + dt.timedelta(hours=hours)))
    await session.flush()
    return token


async def agent_for(session: AsyncSession, token: str | None) -> Agent | None:
    if not token:
        return None
    row = await session.get(AgentSession, _digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    agent = await row.awaitable_attrs.agent
    return agent if agent.active else None


async def end_session(session: AsyncSession, token: str | None) -> None:
    if token:
        await session.execute(delete(AgentSession).where(AgentSession.token_hash == _digest(token)))
