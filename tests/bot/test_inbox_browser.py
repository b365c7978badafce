"""The Inbox page in a real browser (Debian's Chromium driven by Playwright): a resolved
conversation is found by the customer's email and by a word said in it, the customer panel
lists both of the customer's conversations (web chat and Telegram), a ticket is moved on and
noted from its detail, and Open shows the conversation in the main console. Text from
customers stays text. Screenshots go to var/screenshots/."""
from __future__ import annotations

from playwright.async_api import Browser, expect
from sqlalchemy import select

from caredesk.db import repository
from caredesk.db.models import Conversation, Customer, Message, Note
from tests.bot.conftest import add_agent
from tests.bot.inbox_data import GRINDING, HOUR, _ticket, seed_inbox
from tests.conftest import FIXED_NOW
from tests.e2e.test_browser import shot
from tests.security.test_agents_page import _signed_in, browser, pytestmark, site  # noqa: F401 (fixtures)

HOSTILE = "<img src=x onerror=window.__pwned=1> still broken"


async def _second_chat_for_aisha(sessions) -> None:  # type: ignore[no-untyped-def]
    async with sessions.begin() as session:
        aisha = await session.scalar(select(Customer.id).where(Customer.email == "aisha.khan@example.com"))
        session.add(Conversation(id="tg_777", channel="telegram", mode="bot", updated_at=FIXED_NOW - HOUR))
        await session.flush()
        session.add(Message(conversation_id="tg_777", sender="customer", text=HOSTILE, created_at=FIXED_NOW - HOUR))
        session.add(_ticket("CD-100006", "tg_777", aisha, channel="telegram", category="other",
                            updated_at=FIXED_NOW - HOUR))


async def test_find_a_resolved_conversation_see_the_customer_and_work_the_ticket(
        browser: Browser, site: str, sessions) -> None:  # noqa: F811
    await seed_inbox(sessions)
    await _second_chat_for_aisha(sessions)
    await add_agent(sessions, "dana", "Dana", role="agent")
    page = await _signed_in(browser, site, "dana")
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    await expect(page.get_by_test_id("inbox-link")).to_be_visible()
    await page.goto(site + "/console/inbox")

    # By the customer's email, in the Resolved view
    await page.get_by_test_id("tab-resolved").click()
    await page.get_by_test_id("inbox-q").fill("AISHA.KHAN@example.com")
    await page.get_by_test_id("inbox-search").click()
    rows = page.get_by_test_id("inbox-row")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-conversation", "c_closed")

    # By a word said in it, among everything
    await page.get_by_test_id("tab-all").click()
    await page.get_by_test_id("inbox-q").fill("grinding")
    await page.get_by_test_id("inbox-search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first.get_by_test_id("inbox-snippet")).to_have_text(GRINDING)
    await shot(page, "inbox-found")

    # The customer panel: both of Aisha's conversations, across channels, hostile text as text
    await rows.first.get_by_test_id("customer-button").click()
    await expect(page.get_by_test_id("customer-name")).to_contain_text("Aisha Khan")
    listed = page.get_by_test_id("customer-conversation")
    await expect(listed).to_have_count(2)
    await expect(listed.nth(0)).to_have_attribute("data-conversation", "tg_777")
    await expect(listed.nth(0)).to_contain_text(HOSTILE)
    await expect(listed.nth(1)).to_have_attribute("data-conversation", "c_closed")
    assert await page.evaluate("window.__pwned") is None
    await shot(page, "inbox-customer")

    # The ticket of the Telegram chat, worked without a live chat
    await page.get_by_test_id("customer-tickets").get_by_test_id("ticket-button").filter(has_text="CD-100006").click()
    await expect(page.get_by_test_id("ticket-title")).to_contain_text("CD-100006")
    await page.get_by_test_id("ticket-status-select").select_option("in_progress")
    await page.get_by_test_id("ticket-status-change").click()
    await expect(page.get_by_test_id("ticket-history")).to_contain_text("open → in progress")
    await page.get_by_test_id("ticket-note").fill("Sent a replacement blade")
    await page.get_by_test_id("ticket-note-add").click()
    await expect(page.get_by_test_id("ticket-history")).to_contain_text("Sent a replacement blade")
    async with sessions() as session:
        ticket = await repository.ticket_by_number(session, "CD-100006")
        notes = (await session.scalars(select(Note.text).where(Note.ticket_id == ticket.id))).all()
    assert ticket.status == "in_progress" and notes == ["Sent a replacement blade"]

    # Open: the main console shows the resolved conversation
    await rows.first.get_by_test_id("open-conversation").click()
    await page.wait_for_url(site + "/console#c=c_closed")
    await expect(page.get_by_test_id("transcript")).to_contain_text(GRINDING)
    await shot(page, "inbox-opened")
    assert errors == []
