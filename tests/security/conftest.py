"""Limits on both backends: memory (one gateway) and real Redis (DB 5, a random key prefix
per test, removed afterwards)."""
from __future__ import annotations

import dataclasses
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp.test_utils import TestClient

from bot.settings import LimitSettings
from bot.limits_redis import connect
from tests.bot.conftest import gateway, make_settings, start_client  # noqa: F401 (fixtures shared with tests/bot)

REDIS_URL = "redis://127.0.0.1:6379/5"


@dataclasses.dataclass(frozen=True)
class Backend:
    name: str
    redis_url: str
    prefix: str


async def _redis_answers() -> bool:
    client = connect(REDIS_URL)
    try:
        return bool(await client.ping())
    except Exception:
        return False
    finally:
        await client.aclose()


@pytest.fixture(params=["memory", "redis"])
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    if request.param == "memory":
        yield Backend("memory", "", "")
        return
    if not await _redis_answers():
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"test-limits:{secrets.token_hex(6)}:"
    yield Backend("redis", REDIS_URL, prefix)
    client = connect(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


StartGateway = Callable[..., Awaitable[TestClient]]


@pytest.fixture
async def limited_gateway(sessions, database_url: str, make_settings, backend: Backend  # type: ignore[no-untyped-def]
                          ) -> AsyncIterator[StartGateway]:
    """Starts gateways on the test database with the given limits (the rest off), all on the
    same backend: on Redis, two of them share their counts; in memory, each has its own."""
    started: list[TestClient] = []

    async def start(trusted_proxies: int = 0, **limits: int) -> TestClient:
        off = {f.name: 0 for f in dataclasses.fields(LimitSettings) if not f.name.startswith("signin_w")}
        chosen = LimitSettings(**{**off, "signin_workers": 2, "signin_waiting": 8, **limits})
        settings = dataclasses.replace(make_settings(database_url), limits=chosen, redis_url=backend.redis_url,
                                       redis_prefix=backend.prefix or "unused:", trusted_proxies=trusted_proxies)
        client = await start_client(settings)
        started.append(client)
        return client

    try:
        yield start
    finally:
        for client in started:
            await client.close()
