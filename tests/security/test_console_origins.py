"""Issue 7: the console trusts only its own origins. A script injected into a shop page that
may open the chat widget must not sign in, sign out, open the console socket or change a
ticket with an agent's cookie."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from caredesk.db.models import AgentSession, Ticket
from bot.settings import Settings
from tests.bot.conftest import ORIGIN, PASSWORD, add_agent, log_in
from tests.security.helpers import SHOP, add_ticket, shop_and_console_gateway


@pytest.fixture
async def edge(sessions, database_url, make_settings) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    client = await shop_and_console_gateway(make_settings, database_url)
    try:
        yield client
    finally:
        await client.close()


def test_the_console_origins_default_to_the_gateway_itself_not_the_widget_origins() -> None:
    settings = Settings.from_env({"GATEWAY_PORT": "8000", "GATEWAY_PUBLIC_URL": "https://support.example.com/",
                                  "GATEWAY_ALLOWED_ORIGINS": f"{SHOP},https://support.example.com"})
    assert settings.allowed_origins == {SHOP, "https://support.example.com"}
    assert settings.console_origins == {"http://127.0.0.1:8000", "http://localhost:8000", "https://support.example.com"}
    chosen = Settings.from_env({"GATEWAY_CONSOLE_ORIGINS": "https://desk.example.com/, https://x.example.com"})
    assert chosen.console_origins == {"https://desk.example.com", "https://x.example.com"}


async def test_a_widget_origin_opens_the_chat_but_not_the_console_socket(edge, sessions) -> None:
    await add_agent(sessions)
    await log_in(edge)
    chat = await edge.ws_connect("/ws/chat", headers={"Origin": SHOP})
    assert (await chat.receive_json())["type"] == "hello", "the widget still works on the shop's pages"
    await chat.close()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await edge.ws_connect("/ws/console", headers={"Origin": SHOP})
    assert refused.value.status == 403
    console = await edge.ws_connect("/ws/console", headers={"Origin": ORIGIN})
    assert (await console.receive_json())["type"] == "hello"
    await console.close()


async def test_sign_in_and_sign_out_from_a_widget_origin_are_refused(edge, sessions) -> None:
    await add_agent(sessions)
    login = await edge.post("/console/login", data={"username": "dana", "password": PASSWORD},
                            headers={"Origin": SHOP}, allow_redirects=False)
    assert login.status == 403
    async with sessions() as session:
        assert (await session.scalars(select(AgentSession))).all() == [], "no session was started"

    await log_in(edge)
    logout = await edge.post("/console/logout", headers={"Origin": SHOP}, allow_redirects=False)
    assert logout.status == 403
    assert (await edge.get("/api/tickets")).status == 200, "the agent is still signed in"


async def test_state_changing_api_requests_need_a_console_origin(edge, sessions) -> None:
    await add_agent(sessions)
    await log_in(edge)
    number = await add_ticket(sessions)

    async def status() -> str:
        async with sessions() as session:
            return (await session.scalars(select(Ticket.status).where(Ticket.number == number))).one()

    forged = await edge.patch(f"/api/tickets/{number}", json={"status": "closed"}, headers={"Origin": SHOP})
    assert forged.status == 403 and (await forged.json())["error"] == "cross-site request refused"
    assert await status() == "open"
    # No Origin but the browser says a foreign page sent it (Sec-Fetch-Site): refused too.
    sneaky = await edge.patch(f"/api/tickets/{number}", json={"status": "closed"},
                              headers={"Sec-Fetch-Site": "cross-site"})
    assert sneaky.status == 403 and await status() == "open"
    # Reading is no state change: a GET from the shop is answered (the cookie is SameSite=Strict anyway).
    assert (await edge.get("/api/tickets", headers={"Origin": SHOP})).status == 200

    own = await edge.patch(f"/api/tickets/{number}", json={"status": "in_progress"}, headers={"Origin": ORIGIN})
    assert own.status == 200 and await status() == "in_progress"
    integration = await edge.patch(f"/api/tickets/{number}", json={"status": "resolved"})  # curl: no Origin
    assert integration.status == 200 and await status() == "resolved"
