"""In a real browser (Debian's Chromium, Playwright): an agent opens a ticket's conversation
whose chat has ended (/console#c=<id>, as the Inbox links it), the composer says where the reply goes, the
reply is sent to the customer's address through a local SMTP server, and the ticket's history
shows the delivery. No Rasa needed."""
from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright, expect

from bench.stack import free_port
from bot import store
from bot.app import create_app
from tests.bot.conftest import PASSWORD, add_agent
from tests.bot.smtp_server import smtp_server
from tests.bot.test_delivery import REPLY, add_ticket, agent_lines, deliveries

pytestmark = pytest.mark.e2e


@pytest.fixture
async def site(sessions, database_url: str, make_settings) -> AsyncIterator[tuple[str, object]]:  # type: ignore[no-untyped-def]
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    with smtp_server() as (inbox, mail):
        settings = dataclasses.replace(make_settings(database_url), mail=mail, allowed_origins=frozenset({origin}),
                                       console_origins=frozenset({origin}))
        server = TestServer(await create_app(settings), host="127.0.0.1", port=port)
        await server.start_server()
        try:
            yield origin, inbox
        finally:
            await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"])
        yield chromium
        await chromium.close()


async def test_an_agent_replies_on_an_ended_chat_from_the_console(browser: Browser, site, sessions) -> None:
    origin, inbox = site
    async with sessions.begin() as session:
        await store.ensure_conversation(session, "web-ended-b1", "webchat")
    number = await add_ticket(sessions, "web-ended-b1", customer_email="maria.lopez@example.com")
    await add_agent(sessions, role="agent")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    await page.goto(origin + "/console/login")
    await page.get_by_test_id("login-username").fill("dana")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(origin + "/console")
    await page.goto(origin + "/console#c=web-ended-b1")
    await page.reload()
    await expect(page.locator("#composer-hint")).to_contain_text("The chat has ended")
    await expect(page.get_by_test_id("reply-send")).to_be_enabled()
    await page.get_by_test_id("reply-input").fill(REPLY)
    await page.get_by_test_id("reply-send").click()
    await expect(page.get_by_test_id("transcript")).to_contain_text(REPLY)
    await expect(page.locator("#ticket-history")).to_contain_text("email: sent (to maria.lopez@example.com)")
    await expect(page.locator("#ticket-history")).to_contain_text("webchat: stored")

    [mail] = inbox.wait()
    assert number in mail.message["Subject"] and mail.recipients == ["maria.lopez@example.com"]
    assert await agent_lines(sessions, "web-ended-b1") == [(REPLY, "Dana")]
    assert [note for _, note in await deliveries(sessions, number)] == [
        "webchat: stored", "email: sent (to maria.lopez@example.com)"]
    assert errors == []
