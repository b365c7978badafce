"""Canned replies in a real browser (Debian's Chromium driven by Playwright): a lead adds one
on the Canned replies page; an agent types "/ref" in the reply box, picks it with the
keyboard, and the reply box holds it with the placeholders filled for the open chat."""
from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from caredesk.db.models import CannedReply, Message
from bench.stack import free_port
from bot.app import create_app
from tests.bot.canned_data import claimed_chat, only_replies
from tests.bot.conftest import PASSWORD, add_agent
from tests.e2e.test_browser import CHROMIUM_ARGS, shot

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")
REFUND = "Hi {first_name}, this is {agent_name}: the refund for order {order_number} is on its way (ticket {ticket_number})."
XSS = '<img src=x onerror="window.hacked=1">'


@pytest.fixture
async def site(sessions, database_url: str, make_settings) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    """The gateway on a known port, so the browser's own origin is an allowed one."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(make_settings(database_url), port=port, allowed_origins=frozenset({url}),
                                   console_origins=frozenset({url}))
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


async def test_a_lead_adds_a_reply_and_an_agent_picks_it_with_slash(browser: Browser, site: str, sessions) -> None:
    await only_replies(sessions)
    await add_agent(sessions, "lee", "Lee", role="lead")
    await add_agent(sessions, "dana", "Dana", role="agent")
    number = await claimed_chat(sessions, "c_tom", ("dana", "Dana"))

    lead = await _signed_in(browser, site, "lee")
    errors: list[str] = []
    lead.on("pageerror", lambda e: errors.append(str(e)))
    await expect(lead.get_by_test_id("canned-link")).to_be_visible()
    await lead.goto(site + "/console/canned")
    for shortcut, title, text in (("refund", "Refund on its way", REFUND), ("markup", XSS[:80], XSS)):
        await lead.get_by_test_id("canned-shortcut").fill(shortcut)
        await lead.get_by_test_id("canned-title-input").fill(title)
        await lead.get_by_test_id("canned-text").fill(text)
        await lead.get_by_test_id("canned-save").click()
        await expect(lead.get_by_test_id("canned-status")).to_have_text(f"/{shortcut} is added.")
    row = lead.locator('[data-testid="canned-row"][data-shortcut="markup"]')
    await expect(row.locator(".canned-text")).to_have_text(XSS)
    assert await row.locator("img").count() == 0, "markup from the server stays text"
    async with sessions() as session:
        rows = (await session.execute(select(CannedReply.shortcut, CannedReply.text, CannedReply.created_by)
                                      .order_by(CannedReply.shortcut))).all()
    assert [tuple(r) for r in rows] == [("markup", XSS, "lee"), ("refund", REFUND, "lee")]
    await shot(lead, "console-canned")

    agent = await _signed_in(browser, site, "dana")
    agent.on("pageerror", lambda e: errors.append(str(e)))
    await expect(agent.get_by_test_id("canned-link")).to_be_hidden()
    await agent.locator('[data-testid="queue-item"][data-conversation-id="c_tom"] [data-testid="queue-open"]').click()
    box = agent.get_by_test_id("reply-input")
    await expect(box).to_be_enabled()
    await box.click()
    await agent.keyboard.type("/ref")
    options = agent.get_by_test_id("canned-option")
    await expect(options).to_have_count(1)
    await expect(options.first).to_have_attribute("data-shortcut", "refund")
    await agent.keyboard.press("Enter")
    filled = f"Hi Tom, this is Dana: the refund for order 10003310 is on its way (ticket {number})."
    await expect(box).to_have_value(filled)
    await expect(agent.get_by_test_id("canned-picker")).to_be_hidden()
    await shot(agent, "console-canned-picked")

    await box.fill("")
    await agent.keyboard.type("/")
    await expect(options).to_have_count(2)
    await shot(agent, "console-canned-picker")
    await agent.keyboard.press("ArrowDown")
    await expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    await expect(options.nth(0).locator(".canned-option-text")).to_have_text(XSS)
    await agent.keyboard.press("Escape")
    await expect(agent.get_by_test_id("canned-picker")).to_be_hidden()
    await expect(box).to_have_value("/")
    assert await agent.evaluate("window.hacked") is None

    await box.fill(filled)
    await agent.keyboard.press("Enter")
    await expect(box).to_have_value("")
    await expect(agent.get_by_test_id("transcript")).to_contain_text(filled)  # stored, then shown
    async with sessions() as session:
        sent = (await session.scalars(select(Message.text).where(Message.conversation_id == "c_tom",
                                                                 Message.sender == "agent"))).all()
    assert sent == [filled], "Enter in the picker inserted; only the last Enter sent"
    assert errors == []


async def test_a_gap_is_selected_after_inserting_and_blocks_sending(browser: Browser, site: str, sessions) -> None:
    await only_replies(sessions, ("refund", "Refund", REFUND))
    await add_agent(sessions, "dana", "Dana", role="agent")
    await claimed_chat(sessions, "c_anon", ("dana", "Dana"), ticket=False)
    agent = await _signed_in(browser, site, "dana")
    await agent.locator('[data-testid="queue-item"][data-conversation-id="c_anon"] [data-testid="queue-open"]').click()
    box = agent.get_by_test_id("reply-input")
    await expect(box).to_be_enabled()
    await agent.get_by_test_id("canned-open").click()
    await expect(agent.get_by_test_id("canned-option")).to_have_count(1)
    await agent.keyboard.press("Tab")
    gapped = "Hi \u27e6first_name\u27e7, this is Dana: the refund for order \u27e6order_number\u27e7 is on its way " \
             "(ticket \u27e6ticket_number\u27e7)."
    await expect(box).to_have_value(gapped)
    assert await box.evaluate("b => b.value.slice(b.selectionStart, b.selectionEnd)") == "\u27e6first_name\u27e7"
    await agent.keyboard.type("Jo")
    await agent.keyboard.press("Enter")  # two gaps are left: refused, and the next one selected
    await expect(agent.locator("#notices")).to_contain_text("Fill in the gaps")
    assert await box.evaluate("b => b.value.slice(b.selectionStart, b.selectionEnd)") == "\u27e6order_number\u27e7"

    await box.fill("")
    await agent.keyboard.type("/nothing-like-it")
    await agent.keyboard.press("Enter")  # at once, before the list: it waits, and nothing matches
    await expect(agent.locator(".canned-empty")).to_be_visible()
    await agent.keyboard.press("Enter")
    await expect(box).to_have_value("/nothing-like-it")
    await box.fill("")
    await agent.keyboard.type("/ref")
    await agent.keyboard.press("Enter")  # before the list arrives: the first match is inserted
    await expect(box).to_have_value(gapped)
    async with sessions() as session:
        assert (await session.scalars(select(Message.id).where(Message.sender == "agent"))).all() == []
