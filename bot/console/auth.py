"""Agent accounts and console sessions. Passwords are hashed with Argon2; the session cookie
holds a random token whose SHA-256 is all the database keeps."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from actions.db.models import Agent, AgentSession, utcnow

COOKIE = "caredesk_session"
_hasher = PasswordHasher()
# Verifying against this when the user does not exist keeps the timing the same.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AgentExists(ValueError):
    pass


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_agent(session: AsyncSession, username: str, name: str, password: str) -> Agent:
    if len(password) < 10:
        raise ValueError("the password needs at least 10 characters")
    if await session.scalar(select(Agent).where(Agent.username == username)) is not None:
        raise AgentExists(username)
    agent = Agent(username=username, name=name, password_hash=_hasher.hash(password))
    session.add(agent)
    await session.flush()
    return agent


async def authenticate(session: AsyncSession, username: str, password: str) -> Agent | None:
    agent = await session.scalar(select(Agent).where(Agent.username == username, Agent.active.is_(True)))
    try:
        _hasher.verify(agent.password_hash if agent else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return agent


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
