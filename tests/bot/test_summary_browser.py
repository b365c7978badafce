"""The hand-off summary and the queue card in a real browser (Debian's Chromium, driven by
Playwright): the card names the customer, their tier and what they want; the summary reads as
words, folds away to its one line, and the transcript keeps most of the screen. No Rasa needed;
screenshots go to var/screenshots/."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import shutil
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from bench.stack import free_port
from bot import store
from bot.app import create_app
from caredesk.db.models import Conversation, Customer, Handoff, Ticket, utcnow
from caredesk.settings import PROJECT_ROOT
from tests.bot.conftest import PASSWORD, add_agent
from tests.bot.test_summary import RAW, damaged_chair_complaint
from tests.e2e.test_browser import CHROMIUM_ARGS

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")
SHOTS = PROJECT_ROOT / "var" / "screenshots"
CONVERSATION = "wc_summary_browser"


@pytest.fixture
async def site(sessions, database_url: str, make_settings) -> AsyncIterator[str]:  # type: ignore[no-untyped-def]
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(make_settings(database_url), allowed_origins=frozenset({origin}),
                                   console_origins=frozenset({origin}))
    server = TestServer(await create_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield origin
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def seed_complaint(sessions, *, name: str = "Ada Lovelace", summary: dict[str, Any] | None = None,  # type: ignore[no-untyped-def]
                         lines: tuple[str, ...] = ("my new chair arrived broken, I'm furious",
                                                   "the leg snapped the first time I sat on it",
                                                   "can I talk to a human")) -> None:
    """A VIP's confirmed complaint, queued for a person with the summary actions/handoff.py builds."""
    now = utcnow()
    async with sessions.begin() as session:
        customer = Customer(email="ada.browser@example.com", name=name, tier="vip")
        session.add(customer)
        session.add(Conversation(id=CONVERSATION, channel="webchat", mode="queued"))
        await session.flush()
        for line in lines:
            await store.add_message(session, CONVERSATION, "customer", line)
        ticket = Ticket(number="CD-100001", channel="webchat", conversation_id=CONVERSATION, customer_id=customer.id,
                        contact="chat", contact_kind="chat", category="damaged_item", description=lines[1],
                        desired_outcome="refund", severity="formal_complaint", priority="high", priority_score=80,
                        promised_response_at=now + dt.timedelta(hours=3))
        session.add(Handoff(conversation_id=CONVERSATION, channel="webchat", reason="asked", priority="high",
                            priority_score=80, status="waiting", summary=summary or damaged_chair_complaint(),
                            promised_response_at=now + dt.timedelta(hours=3), created_at=now - dt.timedelta(minutes=4),
                            ticket=ticket))


async def sign_in(browser: Browser, site: str) -> tuple[Page, list[str]]:
    context = await browser.new_context(viewport={"width": 1280, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(site + "/console/login")
    await page.get_by_test_id("login-username").fill("dana")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(site + "/console")
    return page, errors


async def test_the_card_and_the_summary_read_like_a_colleagues_note(browser: Browser, site: str, sessions) -> None:
    await seed_complaint(sessions)
    await add_agent(sessions)
    page, errors = await sign_in(browser, site)

    card = page.get_by_test_id("queue-item").first
    await expect(card.get_by_test_id("queue-customer")).to_have_text("Ada Lovelace VIP")
    await expect(card.get_by_test_id("queue-issue")).to_have_text("Wants a refund for a damaged item, order #10005533")
    await expect(card).not_to_contain_text("can I talk to a human")  # the last message is not the card's

    await card.get_by_test_id("queue-open").click()
    summary = page.get_by_test_id("summary")
    await expect(page.get_by_test_id("summary-wants")).to_have_text("Wants a refund for a damaged item, order #10005533")
    await expect(page.get_by_test_id("summary-fact-mood")).to_have_text("Upset now, very upset earlier")
    await expect(page.get_by_test_id("summary-fact-order")).to_have_text("10005533: Oak dining chair (delivered)")
    await expect(page.get_by_test_id("summary-fact-tried")).to_have_text("Took the complaint")
    await expect(page.get_by_test_id("summary-fact-promised")).to_contain_text("due in 2 h")
    text = await summary.inner_text()
    assert not RAW.search(text.replace("\n", " ")), text
    assert not re.search(r"recent intents|complaint fixing|order verified|category label", text, re.IGNORECASE)
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "summary-open.png"))

    # The transcript keeps most of the screen, even with the summary open.
    transcript = await page.locator("#transcript-wrap").bounding_box()
    opened = await summary.bounding_box()
    assert transcript and opened and transcript["height"] > opened["height"]

    # Folded, it keeps its one line; the choice survives a reload.
    await page.locator("#summary-toggle").click()
    await expect(page.locator("#summary-body")).to_be_hidden()
    await expect(page.get_by_test_id("summary-wants")).to_be_visible()
    folded = await summary.bounding_box()
    assert folded and folded["height"] < 60
    await page.reload()
    await page.get_by_test_id("queue-open").first.click()
    await expect(page.get_by_test_id("summary-wants")).to_have_text("Wants a refund for a damaged item, order #10005533")
    await expect(page.locator("#summary-body")).to_be_hidden()
    await page.screenshot(path=str(SHOTS / "summary-folded.png"))

    await page.set_viewport_size({"width": 390, "height": 844})  # a phone: the line still fits
    wants = await page.get_by_test_id("summary-wants").bounding_box()
    assert wants and wants["width"] > 150
    await page.screenshot(path=str(SHOTS / "summary-phone.png"))
    assert errors == []
