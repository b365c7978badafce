"""Agent accounts and console sessions. Passwords are hashed with Argon2; the session cookie
holds a random token whose SHA-256 is all the database keeps. Passwords are checked in
bot/console/passwords.py, off the event loop.

A session ends when it expires (AGENT_SESSION_HOURS), or when nothing used it for
AGENT_IDLE_MINUTES: `last_seen_at` is written at most once a minute, not on every request.
Ended rows are deleted at each sign-in and by the gateway's periodic sweep."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from caredesk.db.models import Agent, AgentSession, utcnow
from bot.console import passwords
from bot.console.passwords import PasswordChecker

COOKIE = "caredesk_session"
MIN_PASSWORD, MAX_PASSWORD = 10, 1024
TOUCH_EVERY = dt.timedelta(minutes=1)


class AgentExists(ValueError):
    pass


def session_key(token: str) -> str:
    """What the database keeps of a session token (and what open consoles are known by)."""
    return hashlib.sha256(token.encode()).hexdigest()


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise ValueError(f"the password can have at most {MAX_PASSWORD} characters")
    return passwords.hash_password(password)


async def create_agent(session: AsyncSession, username: str, name: str, password: str,
                       role: str = "agent") -> Agent:
    password_hash = hash_password(password)
    if await session.scalar(select(Agent).where(Agent.username == username)) is not None:
        raise AgentExists(username)
    agent = Agent(username=username, name=name, password_hash=password_hash, role=role)
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
    session.add(AgentSession(token_hash=session_key(token), agent_id=agent.id, created_at=now,
                             last_seen_at=now, expires_at=now + dt.timedelta(hours=hours)))
    await session.flush()
    return token


def _idle_since(row: AgentSession) -> dt.datetime:
    # Sessions from before migration 0004 have no last_seen_at: their sign-in counts.
    return row.last_seen_at or row.created_at


async def agent_for(session: AsyncSession, token: str | None, idle_minutes: int = 60,
                    now: dt.datetime | None = None) -> Agent | None:
    """The active agent signed in with `token`, or None. Marks the session as used (in the
    caller's unit of work) when it was last marked over a minute ago."""
    if not token:
        return None
    row = await session.get(AgentSession, session_key(token))
    now = now or utcnow()
    if row is None or row.expires_at <= now or _idle_since(row) <= now - dt.timedelta(minutes=idle_minutes):
        return None
    agent = await row.awaitable_attrs.agent
    if not agent.active:
        return None
    if _idle_since(row) <= now - TOUCH_EVERY:
        row.last_seen_at = now
    return agent


async def end_session(session: AsyncSession, token: str | None) -> str | None:
    """Sign out; returns the username the session belonged to, if it existed."""
    if not token:
        return None
    row = await session.get(AgentSession, session_key(token))
    if row is None:
        return None
    username = (await row.awaitable_attrs.agent).username
    await session.delete(row)
    return username


async def end_sessions_of(session: AsyncSession, agent_id: int) -> None:
    await session.execute(delete(AgentSession).where(AgentSession.agent_id == agent_id))


async def touch_sessions(session: AsyncSession, keys: Iterable[str], now: dt.datetime | None = None) -> None:
    """Consoles with an open WebSocket are in use even when they send nothing."""
    keys = list(keys)
    if keys:
        await session.execute(update(AgentSession).where(AgentSession.token_hash.in_(keys))
                              .values(last_seen_at=now or utcnow()))


async def purge_sessions(session: AsyncSession, idle_minutes: int, now: dt.datetime | None = None) -> int:
    """Delete expired and idle sessions; returns how many."""
    now = now or utcnow()
    idle = now - dt.timedelta(minutes=idle_minutes)
    result = await session.execute(delete(AgentSession).where(or_(
        AgentSession.expires_at <= now,
        func.coalesce(AgentSession.last_seen_at, AgentSession.created_at) <= idle,
    )).execution_options(synchronize_session=False))
    return result.rowcount or 0


async def live_session_keys(session: AsyncSession, keys: Iterable[str]) -> set[str]:
    keys = list(keys)
    if not keys:
        return set()
    return set((await session.scalars(select(AgentSession.token_hash).where(AgentSession.token_hash.in_(keys)))).all())
