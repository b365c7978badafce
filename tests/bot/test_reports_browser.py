"""The Reports page in a real browser (Debian's Chromium driven by Playwright), at desktop and
phone width: the weekly trend with its sparklines, the time distributions, the workload, the
comments (a customer's markup stays text), the small-sample warning and the CSV downloads.
Screenshots go to var/screenshots/console-reports-*.png."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect

from caredesk.db.models import AuditEntry, Conversation, Feedback, Handoff, Message, Ticket, utcnow
from bench.stack import free_port
from bot.app import create_app
from tests.bot.conftest import PASSWORD, add_agent
from tests.e2e.test_browser import CHROMIUM_ARGS, SHOTS, shot

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")
XSS = '<img src=x onerror="window.hacked=1">=HYPERLINK("http://evil.example")'
MINUTE = dt.timedelta(minutes=1)


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


async def a_desk(sessions) -> None:  # type: ignore[no-untyped-def]
    """Three weeks of a small desk: chats, hand-offs claimed by Dana, tickets, ratings."""
    now = utcnow()
    async with sessions.begin() as session:
        for n in range(12):
            at = now - dt.timedelta(days=n * 1.5) - 30 * MINUTE
            cid = f"c_{n:02d}"
            session.add(Conversation(id=cid, channel="webchat", created_at=at))
            session.add(Message(conversation_id=cid, sender="customer", text="hello", created_at=at))
            if n % 2 == 0:
                ticket = Ticket(channel="webchat", conversation_id=cid, contact="jo@example.org", contact_kind="email",
                                category="late_delivery" if n % 4 else "damaged_item", description="-",
                                desired_outcome="refund", severity="formal_complaint", priority="normal",
                                priority_score=60, promised_response_at=at + 60 * MINUTE, created_at=at,
                                first_response_at=at + (20 + 10 * n) * MINUTE,
                                resolved_at=at + 26 * 60 * MINUTE if n % 3 else None)
                session.add(Handoff(conversation_id=cid, channel="webchat", reason="asked" if n % 4 else "churn_threat",
                                    priority="normal", priority_score=60, status="ended", summary={},
                                    promised_response_at=at + 30 * MINUTE, created_at=at,
                                    claimed_at=at + (5 + n) * MINUTE, claimed_by="Dana", agent_username="dana",
                                    ticket=ticket))
                session.add(Message(conversation_id=cid, sender="agent", agent_name="Dana", text="Dana here",
                                    created_at=at + (6 + n) * MINUTE))
                session.add(AuditEntry(actor="dana", action="reply", target=cid, at=at + (6 + n) * MINUTE))
            session.add(Feedback(conversation_id=cid, channel="webchat", rating=5 - n % 3, subject="bot", created_at=at,
                                 comment=XSS if n == 0 else ("Quick and kind,\nthank you" if n == 2 else None)))


async def _signed_in(browser: Browser, site: str, width: int, height: int) -> Page:
    context = await browser.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
    page = await context.new_page()
    await page.goto(site + "/console/login")
    await page.get_by_test_id("login-username").fill("lee")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(site + "/console")
    return page


async def test_a_lead_reads_trends_times_workload_and_comments(browser: Browser, site: str, sessions) -> None:
    await add_agent(sessions, "lee", "Lee", role="lead")
    await add_agent(sessions, "dana", "Dana", role="agent")
    await a_desk(sessions)

    page = await _signed_in(browser, site, 1280, 900)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(site + "/console/reports")
    weekly = page.get_by_test_id("weekly-table")
    await expect(weekly).to_be_visible()
    await expect(weekly.locator("thead th")).to_have_count(10)  # label, trend, 8 weeks
    await expect(weekly.locator("thead th").nth(1)).to_have_text("Trend")
    first_row = weekly.get_by_test_id("weekly-row").first
    await expect(first_row.locator("th")).to_have_text("Conversations")
    counts = [int(text) for text in (await first_row.locator("td").all_text_contents())[1:]]
    assert sum(counts) == 12 and counts[-1] >= 1
    await expect(weekly.locator("svg.sparkline polyline").first).to_be_attached()
    await expect(weekly.get_by_test_id("weekly-row").filter(has_text="Complaints")).to_be_visible()
    await expect(page.get_by_test_id("sample-warning")).to_be_visible()
    await expect(page.get_by_test_id("small-sample").first).to_be_visible()

    times = page.get_by_test_id("times-row")
    await expect(times).to_have_count(3)
    await expect(times.nth(0).locator("td").nth(0)).to_contain_text("6")  # six chats a person joined
    await expect(page.get_by_test_id("buckets-row")).to_have_count(6)
    workload = page.get_by_test_id("workload-row")
    await expect(workload).to_have_count(1)
    await expect(workload.first.locator("th")).to_have_text("Dana (dana)")
    await expect(workload.first.locator("td").nth(1)).to_have_text("6")  # replies

    comments = page.get_by_test_id("comment")
    await expect(comments).to_have_count(2)
    await expect(comments.nth(0).locator(".comment-text")).to_have_text(XSS)  # the newest first, as text
    assert await page.locator("#comments-list img").count() == 0
    assert await page.evaluate("window.hacked") is None
    await shot(page, "console-reports-trends")
    await page.screenshot(path=str(SHOTS / "console-reports-full.png"), full_page=True, animations="disabled")

    await page.get_by_test_id("reports-period").select_option("7")
    await expect(page.get_by_test_id("csv-comments")).to_have_attribute("href", "/api/reports/comments.csv?days=7")
    async with page.expect_download() as waiting:
        await page.get_by_test_id("csv-comments").click()
    download = await waiting.value
    text = Path(await download.path()).read_text(encoding="utf-8-sig")
    assert text.startswith("at,rating,subject") and "Quick and kind" in text
    assert errors == []

    phone = await _signed_in(browser, site, 390, 844)
    await phone.goto(site + "/console/reports")
    await expect(phone.get_by_test_id("weekly-table")).to_be_visible()
    week_row = phone.get_by_test_id("weekly-row").first  # the name stays; the latest weeks are in sight
    await expect(week_row.locator("th")).to_be_in_viewport()
    await expect(week_row.locator("td").last).to_be_in_viewport()
    await expect(phone.get_by_test_id("sample-warning")).to_be_visible()
    await expect(phone.get_by_test_id("comment")).to_have_count(2)
    overflow = await phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page itself does not scroll sideways; wide tables scroll in their box"
    await shot(phone, "console-reports-phone")
    await phone.get_by_test_id("times-table").scroll_into_view_if_needed()
    await shot(phone, "console-reports-phone-times")
