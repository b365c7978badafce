"""Sign-in that cannot block everyone (issue item 6): passwords are checked off the event loop
in a bounded pool, a full queue answers "try again" without hashing, failures count per
address as well as per username, and on Redis every gateway sees them."""
from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import threading

from caredesk.settings import PROJECT_ROOT
from bot.app_keys import LIMITER, PASSWORDS
from tests.bot.conftest import PASSWORD, add_agent
from tests.security.conftest import Backend


async def sign_in(client, username: str, password: str, address: str | None = None) -> str:  # type: ignore[no-untyped-def]
    headers = {"X-Forwarded-For": address} if address else {}
    response = await client.post("/console/login", data={"username": username, "password": password},
                                 headers=headers, allow_redirects=False)
    assert response.status == 303
    client.session.cookie_jar.clear()
    return str(response.headers["Location"])


def block_the_pool(client) -> threading.Event:  # type: ignore[no-untyped-def]
    """Occupy every password-check thread until the returned event is set."""
    checker, release = client.server.app[PASSWORDS], threading.Event()
    for _ in range(checker._pool._max_workers):
        checker._pool.submit(release.wait, 30)
    return release


async def test_random_usernames_from_one_address_hit_the_address_limit(limited_gateway, sessions) -> None:
    await add_agent(sessions)
    gateway = await limited_gateway(trusted_proxies=1, signin_failures_per_address=3, signin_failures_per_username=5)
    for _ in range(3):
        assert await sign_in(gateway, f"guess-{secrets.token_hex(4)}", "wrong", "203.0.113.5") == "/console/login?error=1"
    paused = await sign_in(gateway, "dana", PASSWORD, "203.0.113.5")
    assert paused == "/console/login?error=wait&minutes=15", "not even the right password is checked"
    assert await sign_in(gateway, "dana", PASSWORD, "203.0.113.6") == "/console", "another address signs in"
    gateway.server.app[LIMITER].clock = lambda: 10**10  # much later: the failures are old
    assert await sign_in(gateway, "dana", PASSWORD, "203.0.113.5") == "/console"


async def test_a_username_paused_on_one_gateway_is_paused_on_the_other(limited_gateway, sessions,
                                                                       backend: Backend) -> None:
    await add_agent(sessions)
    first = await limited_gateway(signin_failures_per_username=2, signin_failures_per_address=100)
    second = await limited_gateway(signin_failures_per_username=2, signin_failures_per_address=100)
    for _ in range(2):
        assert await sign_in(first, "dana", "wrong") == "/console/login?error=1"
    expected = "/console/login?error=wait&minutes=15" if backend.redis_url else "/console"
    assert await sign_in(second, "dana", PASSWORD) == expected


async def test_password_checks_leave_the_event_loop_free(limited_gateway, sessions) -> None:
    """With the check threads busy, eight sign-ins wait for them while /health still answers:
    nothing hashes on the event loop. When the threads are free, each gets its answer."""
    await add_agent(sessions)
    gateway = await limited_gateway(signin_workers=1, signin_waiting=8)
    release = block_the_pool(gateway)
    try:
        logins = [asyncio.create_task(sign_in(gateway, f"nobody-{n}", "wrong")) for n in range(8)]
        checker = gateway.server.app[PASSWORDS]
        while checker.pending < 8:
            await asyncio.sleep(0.01)
        health = await gateway.get("/health")
        assert health.status == 200 and (await health.json()) == {"status": "ok"}
        assert not any(task.done() for task in logins), "the sign-ins are still waiting for a check"
    finally:
        release.set()
    assert await asyncio.gather(*logins) == ["/console/login?error=1"] * 8


async def test_a_full_queue_says_try_again_without_hashing(limited_gateway, sessions) -> None:
    await add_agent(sessions)
    gateway = await limited_gateway(signin_workers=1, signin_waiting=1)
    release = block_the_pool(gateway)
    try:
        checker = gateway.server.app[PASSWORDS]
        waiting = [asyncio.create_task(sign_in(gateway, "dana", f"guess {n}")) for n in range(2)]
        while checker.pending < 2:
            await asyncio.sleep(0.01)
        assert await sign_in(gateway, "dana", PASSWORD) == "/console/login?error=busy"
        assert checker.pending == 2, "the refused sign-in was not queued"
    finally:
        release.set()
    assert await asyncio.gather(*waiting) == ["/console/login?error=1"] * 2
    assert await sign_in(gateway, "dana", PASSWORD) == "/console"


def test_the_dummy_hash_is_not_made_at_import() -> None:
    code = ("import bot.app, bot.console.auth, bot.console.passwords as p; "
            "print(p.dummy_hash.cache_info().currsize)")
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "0"
