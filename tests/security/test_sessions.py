"""Console session hygiene: a login nobody used for AGENT_IDLE_MINUTES stops working, the
last-seen time is written at most once a minute, and ended sessions are deleted at sign-in
and by the gateway's periodic sweep, which also closes consoles still open on them."""
from __future__ import annotations

import datetime as dt

import aiohttp
from sqlalchemy import select, update

from caredesk.db.models import Agent, AgentSession, utcnow
from bot.app_keys import HUB, SESSIONS
from bot.console import auth
from bot.console.hygiene import interval, sweep
from bot.settings import Settings
from tests.bot.conftest import add_agent
from tests.security.conftest import open_console

MINUTE = dt.timedelta(minutes=1)


async def _session_of(sessions, username: str) -> AgentSession:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return await session.scalar(select(AgentSession).join(Agent).where(Agent.username == username))


async def _set(sessions, username: str, **values) -> None:  # type: ignore[no-untyped-def]
    async with sessions.begin() as session:
        agent_id = await session.scalar(select(Agent.id).where(Agent.username == username))
        await session.execute(update(AgentSession).where(AgentSession.agent_id == agent_id).values(**values))


async def test_an_idle_session_stops_working(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana = await sign_in("dana")
    await _set(sessions, "dana", last_seen_at=utcnow() - 59 * MINUTE)
    assert (await dana.get("/api/tickets")).status == 200
    assert (await _session_of(sessions, "dana")).last_seen_at > utcnow() - MINUTE, "the use was noted"
    await _set(sessions, "dana", last_seen_at=utcnow() - 61 * MINUTE)
    assert (await dana.get("/api/tickets")).status == 401
    assert (await dana.get("/console", allow_redirects=False)).status == 302


async def test_sessions_from_before_the_migration_count_from_their_sign_in(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana = await sign_in("dana")
    await _set(sessions, "dana", last_seen_at=None, created_at=utcnow() - 30 * MINUTE)
    assert (await dana.get("/api/tickets")).status == 200, "existing sessions keep working"
    await _set(sessions, "dana", last_seen_at=None, created_at=utcnow() - 90 * MINUTE)
    assert (await dana.get("/api/tickets")).status == 401


async def test_last_seen_is_written_at_most_once_a_minute(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana = await sign_in("dana")
    recent = utcnow() - dt.timedelta(seconds=30)
    await _set(sessions, "dana", last_seen_at=recent)
    for _ in range(3):
        assert (await dana.get("/api/tickets")).status == 200
    assert (await _session_of(sessions, "dana")).last_seen_at == recent, "no write per request"
    await _set(sessions, "dana", last_seen_at=utcnow() - 2 * MINUTE)
    assert (await dana.get("/api/tickets")).status == 200
    assert (await _session_of(sessions, "dana")).last_seen_at > utcnow() - MINUTE


async def test_ended_sessions_are_deleted_at_sign_in(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    now = utcnow()
    async with sessions.begin() as session:
        dana_id = await session.scalar(select(Agent.id).where(Agent.username == "dana"))
        session.add_all([
            AgentSession(token_hash="expired".ljust(64, "0"), agent_id=dana_id, created_at=now - 13 * 60 * MINUTE,
                         expires_at=now - MINUTE, last_seen_at=now - 2 * MINUTE),
            AgentSession(token_hash="idle".ljust(64, "0"), agent_id=dana_id, created_at=now - 90 * MINUTE,
                         expires_at=now + 60 * MINUTE, last_seen_at=now - 61 * MINUTE),
            AgentSession(token_hash="old-idle".ljust(64, "0"), agent_id=dana_id, created_at=now - 90 * MINUTE,
                         expires_at=now + 60 * MINUTE, last_seen_at=None),
            AgentSession(token_hash="live".ljust(64, "0"), agent_id=dana_id, created_at=now - 10 * MINUTE,
                         expires_at=now + 60 * MINUTE, last_seen_at=now - 5 * MINUTE),
        ])
    await sign_in("eli")
    async with sessions() as session:
        left = set((await session.scalars(select(AgentSession.token_hash))).all())
    assert "live".ljust(64, "0") in left and len(left) == 2, "the live one and eli's new one"


async def test_the_sweep_keeps_open_consoles_and_closes_ended_ones(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    app = gateway.server.app
    dana = await sign_in("dana")
    console, _ = await open_console(dana)
    await sign_in("eli")  # no console open
    await _set(sessions, "dana", last_seen_at=utcnow() - 50 * MINUTE)
    await _set(sessions, "eli", last_seen_at=utcnow() - 61 * MINUTE)
    assert await sweep(app[SESSIONS], app[HUB], 60) == 1, "eli's idle login"
    assert await _session_of(sessions, "eli") is None
    assert (await _session_of(sessions, "dana")).last_seen_at > utcnow() - MINUTE, "an open console is in use"
    assert not console.closed

    await _set(sessions, "dana", expires_at=utcnow() - MINUTE)
    assert await sweep(app[SESSIONS], app[HUB], 60) == 1
    closed = await console.receive(timeout=5)
    assert closed.type == aiohttp.WSMsgType.CLOSE and console.close_code == 4401, "sent to the login page"
    assert await _session_of(sessions, "dana") is None


async def test_signing_out_closes_that_logins_open_console(gateway, sessions, sign_in) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    dana = await sign_in("dana")
    other_tab, _ = await open_console(dana)
    elsewhere = await sign_in("dana")  # another browser: another login, left alone
    other_browser, _ = await open_console(elsewhere)
    await dana.post("/console/logout", allow_redirects=False)
    closed = await other_tab.receive(timeout=5)
    assert closed.type == aiohttp.WSMsgType.CLOSE and other_tab.close_code == 4401
    assert not other_browser.closed and (await elsewhere.get("/api/tickets")).status == 200


def test_idle_minutes_setting_and_sweep_interval() -> None:
    assert Settings.from_env({}).idle_minutes == 60
    assert Settings.from_env({"AGENT_IDLE_MINUTES": "15"}).idle_minutes == 15
    assert interval(60) == 600 and interval(15) == 300 and interval(1) == 20
    assert auth.TOUCH_EVERY == MINUTE
