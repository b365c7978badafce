from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import pytest
from aiohttp import CookieJar
from aiohttp.test_utils import TestClient, TestServer

from caredesk.settings import PROJECT_ROOT
from bot.app import create_app
from bot.app_keys import REDRIVER
from bot.console.auth import create_agent
from bot.settings import Settings
from tests.bot.rasa_standin import RasaStandIn

ORIGIN = "http://caredesk.test"
PASSWORD = "correct horse battery"


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    def make(database_url: str, rasa_url: str = "http://127.0.0.1:9", token: str = "t",
             channel_secret: str = "", redrive_seconds: float = 0) -> Settings:
        return Settings(
            host="127.0.0.1", port=0, database_url=database_url, rasa_url=rasa_url, rasa_token=token,
            allowed_origins=frozenset({ORIGIN}), console_origins=frozenset({ORIGIN}),
            secure_cookies=False, session_hours=1,
            domain_file=PROJECT_ROOT / "domain.yml",
            rasa_timeout=30, channel_secret=channel_secret,
            # Only the pass at start, which start_client waits for: a test that wants more
            # runs a pass itself (app[REDRIVER]), so none runs behind its back.
            redrive_seconds=redrive_seconds,
        )

    return make


async def start_client(settings: Settings) -> TestClient:
    client = TestClient(TestServer(await create_app(settings)), cookie_jar=CookieJar(unsafe=True))
    await client.start_server()
    await client.server.app[REDRIVER].first_pass_done.wait()
    return client


@pytest.fixture
async def gateway(sessions, database_url: str, make_settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    """The gateway on the test database; Rasa is unreachable (port 9) unless a test says so."""
    client = await start_client(make_settings(database_url))
    try:
        yield client
    finally:
        await client.close()


async def add_agent(sessions, username: str = "dana", name: str = "Dana",  # type: ignore[no-untyped-def]
                    role: str = "lead") -> None:
    """An account that signs in with PASSWORD. A lead by default: it can do everything the
    tests written before roles expect (work any chat, read the reports), nothing more."""
    async with sessions.begin() as session:
        await create_agent(session, username, name, PASSWORD, role)


async def log_in(client: TestClient, username: str = "dana") -> None:
    response = await client.post("/console/login", data={"username": username, "password": PASSWORD},
                                 allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console"


@pytest.fixture
async def rasa() -> AsyncIterator[RasaStandIn]:
    """A stand-in of Rasa's REST channel (tests/bot/rasa_standin.py), closed after the test."""
    standin = RasaStandIn()
    try:
        yield standin
    finally:
        await standin.close()
