"""Assignment in a real browser (Debian's Chromium driven by Playwright), two agents in two
browser contexts: the lead gives a queued chat to Bea with a note; Bea's console opens it as
hers and she replies. The queue's team filter shows one team's chats."""
from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import Browser, expect
from sqlalchemy import select

from caredesk.db.models import Message, Note
from tests.bot.assign_data import desk_people, rows, team, waiting_chat
from tests.bot.test_canned_browser import CHROMIUM, _signed_in, browser, site  # noqa: F401 (fixtures)
from tests.e2e.test_browser import shot

pytestmark = pytest.mark.skipif(not __import__("shutil").which(CHROMIUM), reason="needs Chromium")


async def test_a_lead_assigns_a_queued_chat_to_bea_who_replies(browser: Browser, site: str, sessions) -> None:  # noqa: F811
    await desk_people(sessions)
    billing = await team(sessions, "Billing", "bea")
    await waiting_chat(sessions, "ab_chat")
    await waiting_chat(sessions, "ab_other", team_id=billing)
    async with sessions.begin() as session:
        session.add(Message(conversation_id="ab_chat", sender="customer", text="Where is my refund?", buttons=[]))

    lead = await _signed_in(browser, site, "dana")
    bea = await _signed_in(browser, site, "bea")
    errors: list[str] = []
    for page in (lead, bea):
        page.on("pageerror", lambda e: errors.append(str(e)))

    # Bea's team's chat comes first in her queue; the team filter shows only it.
    items = bea.get_by_test_id("queue-item")
    await expect(items).to_have_count(2)
    await expect(items.first).to_have_attribute("data-conversation-id", "ab_other")
    await expect(items.first.get_by_test_id("queue-team-name")).to_have_text("Billing")
    await bea.get_by_test_id("queue-team").select_option(label="Billing")
    await expect(items).to_have_count(1)
    await bea.get_by_test_id("queue-team").select_option(label="All teams")
    await expect(items).to_have_count(2)

    await lead.locator('[data-testid="queue-item"][data-conversation-id="ab_chat"]').get_by_test_id("queue-open").click()
    await expect(lead.get_by_test_id("assign-button")).to_be_visible()
    await lead.get_by_test_id("assign-button").click()
    await expect(lead.get_by_test_id("assign-panel")).to_be_visible()
    target = lead.get_by_test_id("assign-to")
    await expect(target.locator('option[value="agent:bea"]')).to_have_text("Bea · 0 open chats · online · Billing")
    await target.select_option("agent:bea")
    await lead.get_by_test_id("assign-note").fill("Refund question, she knows the order")
    await shot(lead, "assign-panel")
    await lead.get_by_test_id("assign-submit").click()
    await expect(lead.get_by_test_id("assign-panel")).to_be_hidden()
    await expect(lead.locator("#conv-sub .mode")).to_have_text("With Bea")

    # Bea's console opens it as hers: she can reply.
    await expect(bea.locator("#conv-customer")).to_be_visible()
    await expect(bea.locator("#conv-sub .mode")).to_have_text("With you")
    await expect(bea.get_by_test_id("reply-input")).to_be_enabled()
    await shot(bea, "assigned-to-bea")
    await bea.get_by_test_id("reply-input").fill("Hi, Bea here: I'm looking at your refund now.")
    await bea.get_by_test_id("reply-send").click()
    await expect(bea.get_by_test_id("transcript")).to_contain_text("Bea here")

    for _ in range(50):
        async with sessions() as session:
            replies = (await session.scalars(select(Message.agent_name).where(
                Message.conversation_id == "ab_chat", Message.sender == "agent"))).all()
        if replies:
            break
        await asyncio.sleep(0.1)
    assert replies == ["Bea"]
    found = await rows(sessions, "ab_chat")
    assert (found["mode"], found["agent"], found["events"][-1][0]) == ("agent", "bea", "assigned")
    async with sessions() as session:
        assert (await session.scalars(select(Note.text).where(Note.conversation_id == "ab_chat"))).all() == [
            "Refund question, she knows the order"]
    assert errors == []


async def test_an_admin_makes_a_team_and_a_lead_assigns_a_ticket_in_the_inbox(browser: Browser, site: str,  # noqa: F811
                                                                             sessions) -> None:
    await desk_people(sessions)
    from tests.bot.assign_data import a_ticket
    from tests.bot.conftest import add_agent

    await add_agent(sessions, "ada", "Ada", role="admin")
    await a_ticket(sessions, "mail-77", number="CD-900077")
    admin = await _signed_in(browser, site, "ada")
    errors: list[str] = []
    admin.on("pageerror", lambda e: errors.append(str(e)))
    await admin.goto(site + "/console/agents")
    await admin.get_by_test_id("team-add-name").fill("Billing")
    await admin.get_by_test_id("team-add-submit").click()
    await expect(admin.get_by_test_id("team-row")).to_contain_text("Billing")
    bea_row = admin.locator('[data-testid="agent-row"][data-username="bea"]')
    await bea_row.get_by_test_id("agent-team").select_option(label="Billing")
    await expect(admin.get_by_test_id("agents-status")).to_have_text("bea is in Billing.")
    await expect(admin.get_by_test_id("team-row")).to_contain_text("1 agent")
    await shot(admin, "agents-teams")

    lead = await _signed_in(browser, site, "dana")
    lead.on("pageerror", lambda e: errors.append(str(e)))
    await lead.goto(site + "/console/inbox")
    await lead.get_by_test_id("tab-tickets").click()
    await lead.locator('[data-testid="ticket-row"][data-number="CD-900077"]').get_by_test_id("ticket-button").click()
    await expect(lead.get_by_test_id("ticket-title")).to_contain_text("CD-900077")
    await expect(lead.get_by_test_id("ticket-assign-to").locator('option[value="agent:bea"]')).to_have_count(1)
    await lead.get_by_test_id("ticket-assign-to").select_option("agent:bea")
    await lead.get_by_test_id("ticket-assign").click()
    await expect(lead.get_by_test_id("ticket-assignee")).to_have_text("bea")
    await expect(lead.get_by_test_id("ticket-history")).to_contain_text("to Bea")
    await shot(lead, "inbox-ticket-assigned")

    bea = await _signed_in(browser, site, "bea")
    bea.on("pageerror", lambda e: errors.append(str(e)))
    await bea.goto(site + "/console/inbox")
    await bea.get_by_test_id("tab-mine").click()
    await expect(bea.get_by_test_id("inbox-row")).to_have_count(1)
    await expect(bea.get_by_test_id("inbox-row").first).to_have_attribute("data-conversation", "mail-77")
    assert errors == []
