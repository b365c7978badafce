"""Customer-written text in the hand-off summary and on the queue card (a name, their own
description of what happened, what they typed as an order number) reaches the agent's page
as text, never as markup, in a real browser; and the console payload carries no raw summary."""
from __future__ import annotations

import json
import shutil

import pytest
from playwright.async_api import Browser, expect

from tests.bot.conftest import add_agent, log_in
from tests.bot.test_summary import damaged_chair_complaint
from tests.bot.test_summary_browser import (  # noqa: F401 (fixtures)
    CHROMIUM, CONVERSATION, browser, seed_complaint, sign_in, site,
)

NAME = '<img src=x onerror="window.__pwned=1">'
SAID = '<script>window.__pwned=2</script><b>bold</b> {wants}'
TYPED_ORDER = '<svg onload="window.__pwned=3">'


def hostile_summary() -> dict:  # type: ignore[type-arg]
    summary = damaged_chair_complaint()
    summary["slots"].update({"customer_name": NAME, "complaint_description": SAID, "order_summary": NAME})
    return summary


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")
async def test_customer_text_in_the_summary_and_card_is_shown_as_text(browser: Browser, site: str, sessions) -> None:
    await seed_complaint(sessions, name=NAME, summary=hostile_summary(), lines=(SAID, SAID, TYPED_ORDER))
    await add_agent(sessions)
    page, errors = await sign_in(browser, site)

    card = page.get_by_test_id("queue-item").first
    await expect(card.get_by_test_id("queue-customer")).to_have_text(f"{NAME} VIP")
    await card.get_by_test_id("queue-open").click()
    await expect(page.get_by_test_id("summary-fact-said")).to_have_text(f"“{SAID}”")
    await expect(page.get_by_test_id("summary-fact-order")).to_have_text(f"10005533: {NAME} (delivered)")
    await expect(page.locator("#conv-customer")).to_have_text(NAME)
    for where in ("#queue-list", "#summary", ".conv-header"):
        assert await page.locator(f"{where} img, {where} script, {where} svg, {where} b").count() == 0, where
    assert await page.evaluate("window.__pwned") is None
    assert errors == []


async def test_a_typed_order_number_is_left_out_and_the_raw_dict_stays_home(gateway, sessions) -> None:  # type: ignore[no-untyped-def]
    summary = hostile_summary()
    summary["slots"]["order_number"] = TYPED_ORDER
    await seed_complaint(sessions, summary=summary)
    await add_agent(sessions)
    await log_in(gateway)
    response = await gateway.get(f"/api/conversations/{CONVERSATION}")
    detail = await response.json()
    text = json.dumps(detail)
    assert TYPED_ORDER not in text and "onload" not in text
    assert set(detail["handoff"]["summary"]) == {"wants", "facts"}
    for raw in ("recent_intents", "complaint_fixing", "category_label", "contact_human_agent", "order_email"):
        assert raw not in text, raw
