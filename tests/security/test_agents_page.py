"""The admins' Agents page in a real browser (Debian's Chromium driven by Playwright): an
admin adds an agent, changes the role and deactivates them, and each step is in the
database; a plain agent's console shows no Agents, Audit or Reports link."""
from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from caredesk.db.models import Agent
from bench.stack import free_port
from bot.app import create_app
from tests.bot.conftest import PASSWORD, add_agent
from tests.e2e.test_browser import CHROMIUM_ARGS, shot

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")


@pytest.fixture
async def site(sessions, database_url: str, make_settings) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The gateway on a known port, so the browser's own origin is an allowed one."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(make_settings(database_url), port=port, allowed_origins=frozenset({url}), console_origins=frozenset({url}))
    server = TestServer(await create_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield url
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def _signed_in(browser: Browser, site: str, username: str) -> Page:
    page = await (await browser.new_context(viewport={"width": 1280, "height": 800})).new_page()
    await page.goto(site + "/console/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(site + "/console")
    return page


async def _agent(sessions, username: str) -> Agent | None:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        return await session.scalar(select(Agent).where(Agent.username == username))


async def test_an_admin_adds_and_manages_an_agent_in_the_page(browser: Browser, site: str, sessions) -> None:
    await add_agent(sessions, "ada", "Ada", role="admin")
    admin = await _signed_in(browser, site, "ada")
    errors: list[str] = []
    admin.on("pageerror", lambda e: errors.append(str(e)))
    await expect(admin.get_by_test_id("agents-link")).to_be_visible()
    await expect(admin.get_by_test_id("audit-link")).to_be_visible()

    await admin.goto(site + "/console/agents")
    await admin.get_by_test_id("agent-add-username").fill("eli")
    await admin.get_by_test_id("agent-add-name").fill("Eli")
    await admin.get_by_test_id("agent-add-role").select_option("lead")
    await admin.get_by_test_id("agent-add-password").fill(PASSWORD)
    await admin.get_by_test_id("agent-add-submit").click()
    row = admin.locator('[data-testid="agent-row"][data-username="eli"]')
    await expect(row).to_be_visible()
    await expect(admin.get_by_test_id("agents-status")).to_contain_text("eli (lead) can now sign in")
    eli = await _agent(sessions, "eli")
    assert eli is not None and (eli.name, eli.role, eli.active) == ("Eli", "lead", True)
    await shot(admin, "console-agents")

    await row.get_by_test_id("agent-role").select_option("agent")
    await expect(admin.get_by_test_id("agents-status")).to_contain_text("eli is now agent")
    assert (await _agent(sessions, "eli")).role == "agent"

    agent_page = await _signed_in(browser, site, "eli")
    await expect(agent_page.get_by_test_id("agent-name")).to_have_text("Eli")
    for link in ("agents-link", "audit-link", "reports-link"):
        await expect(agent_page.get_by_test_id(link)).to_be_hidden()
    await row.get_by_test_id("agent-role").select_option("lead")  # eli's open console reloads
    await expect(agent_page.get_by_test_id("reports-link")).to_be_visible(timeout=10_000)
    await expect(agent_page.get_by_test_id("agents-link")).to_be_hidden()

    await row.get_by_test_id("agent-toggle").click()
    await expect(admin.get_by_test_id("agents-status")).to_contain_text("deactivated")
    await expect(admin.locator('[data-testid="agent-row"][data-username="eli"]')).to_have_attribute("data-active", "false")
    assert (await _agent(sessions, "eli")).active is False
    await agent_page.wait_for_url(site + "/console/login", timeout=10_000)  # sent to sign in at once

    await admin.goto(site + "/console/audit")
    await expect(admin.locator('[data-testid="audit-row"][data-action="agent_add"]')).to_have_count(1)
    await expect(admin.locator('[data-testid="audit-row"][data-action="agent_change"]')).to_have_count(3)
    assert errors == []
