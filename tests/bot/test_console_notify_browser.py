"""Presence, alerts, unread counts and keyboard shortcuts in a real browser (Debian's Chromium
driven by Playwright), at desktop and at phone width: an agent and a lead in two browser
contexts. The page's Notification and AudioContext are stand-ins (add_init_script) that
record what the console asks of them, and the page says it is not in front, as a console in
a background tab would. No Rasa: a customer's first line goes to the queue (bot unavailable)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy import select

from caredesk.db import repository
from caredesk.db.models import Conversation, Handoff, utcnow
from bench.stack import free_port
from bot.app import create_app
from bot.app_keys import DESK
from tests.bot.canned_data import only_replies
from tests.bot.conftest import PASSWORD, add_agent
from tests.e2e.test_browser import CHROMIUM_ARGS, shot

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Chromium (scripts/ensure-chromium)")
MARKUP = '<img src=x onerror="window.hacked=1">'
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}

# What the console may ask of the browser, recorded: permission requests, notifications, beeps.
STAND_INS = """
window.__asked = 0; window.__notes = []; window.__beeps = 0;
class StandInNotification {
  constructor(title, options) { window.__notes.push({ title, body: (options || {}).body || '' }); }
  close() {}
}
StandInNotification.permission = 'default';
StandInNotification.requestPermission = () => {
  window.__asked += 1; StandInNotification.permission = 'granted'; return Promise.resolve('granted');
};
window.Notification = StandInNotification;
document.hasFocus = () => false;
class StandInAudio {
  constructor() { this.state = 'running'; this.currentTime = 0; this.destination = {}; }
  resume() { return Promise.resolve(); }
  createOscillator() {
    return { type: '', frequency: { value: 0 }, connect() {}, start() { window.__beeps += 1; }, stop() {} };
  }
  createGain() { return { gain: { setValueAtTime() {}, exponentialRampToValueAtTime() {} }, connect() {} }; }
}
window.AudioContext = StandInAudio;
"""


@dataclasses.dataclass
class Site:
    url: str
    app: web.Application


@pytest.fixture
async def site(sessions, database_url: str, make_settings) -> AsyncIterator[Site]:  # type: ignore[no-untyped-def]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(make_settings(database_url), port=port, allowed_origins=frozenset({url}),
                                   console_origins=frozenset({url}))
    server = TestServer(await create_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield Site(url, server.app)
    finally:
        await server.close()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


async def signed_in(browser: Browser, site: Site, username: str, size: str) -> Page:
    context = await browser.new_context(viewport=SIZES[size], has_touch=size == "phone")
    await context.add_init_script(STAND_INS)
    page = await context.new_page()
    await page.goto(site.url + "/console/login")
    await page.get_by_test_id("login-username").fill(username)
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(site.url + "/console")
    await expect(page.locator("#connection")).to_have_attribute("data-state", "online")
    return page


async def notes(page: Page) -> list[dict[str, str]]:
    return await page.evaluate("window.__notes")  # type: ignore[no-any-return]


async def at_risk_chat(sessions, conversation_id: str) -> None:  # type: ignore[no-untyped-def]
    """A chat waiting for a person whose promised time is 3 minutes away, last in the queue."""
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
        await session.flush()
        await repository.create_handoff(
            session, conversation_id=conversation_id, channel="webchat", reason="asked", priority="low",
            priority_score=1, summary={"slots": {"customer_name": "Rosa"}},
            promised_response_at=utcnow() + dt.timedelta(minutes=3), ticket_id=None)


def queue_item(page: Page, conversation_id: str) -> Any:
    return page.locator(f'[data-testid="queue-item"][data-conversation-id="{conversation_id}"]')


async def open_from_queue(page: Page, conversation_id: str) -> None:
    if await page.locator("body.show-conv").count():
        await page.locator("#back-to-queue").click()
    await queue_item(page, conversation_id).get_by_test_id("queue-open").click()
    await expect(page.locator("#conv-title")).to_be_focused()


@pytest.mark.parametrize("size", ["desktop", "phone"])
async def test_two_agents_presence_alerts_unread_and_shortcuts(browser: Browser, site: Site, sessions,
                                                               size: str) -> None:
    await only_replies(sessions, ("thanks", "Thanks for waiting", "Thank you for waiting, {first_name}."))
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "lee", "Lee", role="lead")
    dana = await signed_in(browser, site, "dana", size)
    lee = await signed_in(browser, site, "lee", size)
    errors: list[str] = []
    for page in (dana, lee):
        page.on("pageerror", lambda e: errors.append(str(e)))

    # Presence: the lead sees the team (names as text); the agent has no team list.
    team = lee.get_by_test_id("team-member")
    await expect(team).to_have_count(2)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as mal:
        await add_agent(sessions, "mal", MARKUP, role="agent")
        signed = await mal.post(site.url + "/console/login", data={"username": "mal", "password": PASSWORD},
                                headers={"Origin": site.url}, allow_redirects=False)
        assert signed.status == 303
        console = await mal.ws_connect(site.url + "/ws/console", headers={"Origin": site.url})
        member = lee.locator('[data-testid="team-member"][data-username="mal"]')
        await expect(member).to_contain_text(MARKUP)
        assert await member.locator("img").count() == 0 and await lee.evaluate("window.hacked") is None
        await console.close()
    await expect(team).to_have_count(2)
    await expect(lee.locator('[data-testid="team-member"][data-username="dana"]')).to_have_attribute(
        "data-status", "online")
    await expect(dana.get_by_test_id("team")).to_be_hidden()

    # The permission prompt only after the bell is clicked.
    await dana.wait_for_timeout(500)
    assert await dana.evaluate("window.__asked") == 0 and await lee.evaluate("window.__asked") == 0
    await dana.get_by_test_id("notify-bell").click()
    await expect(dana.get_by_test_id("notify-bell")).to_have_attribute("data-state", "on")
    assert await dana.evaluate("window.__asked") == 1 and await lee.evaluate("window.__asked") == 0

    # A customer writes: a new chat in the queue, a beep for both, a notification for Dana only.
    async with aiohttp.ClientSession() as http:
        chat = await http.ws_connect(site.url + "/ws/chat", headers={"Origin": site.url})
        customer = (await chat.receive_json())["conversation_id"]
        await chat.send_json({"type": "message", "text": "my secret order details", "client_id": "m1"})
        await expect(queue_item(dana, customer)).to_be_visible()
        await dana.wait_for_function("window.__notes.length >= 1")
        assert await notes(dana) == [{"title": "New chat in the queue", "body": "A customer is waiting"}]
        await lee.wait_for_function("window.__beeps > 0")
        assert await notes(lee) == [], "no permission asked on the lead's console: no notification"

        # Another new chat, and its promise is about to be broken.
        await at_risk_chat(sessions, "c_rosa")
        await site.app[DESK].publish_queue()
        await expect(queue_item(dana, "c_rosa")).to_be_visible()
        await dana.wait_for_function("window.__notes.length >= 3")
        rosa = (await notes(dana))[1:]
        assert [n["title"] for n in rosa] == ["New chat in the queue", "A promise is about to be broken"]
        assert "Rosa" in rosa[1]["body"] and "nobody has claimed it" in rosa[1]["body"]

        # Shortcuts: ? shows the list, Esc closes it; j and n go down the queue, k up.
        await dana.keyboard.press("?")
        await expect(dana.get_by_test_id("keys-help")).to_be_visible()
        await shot(dana, f"console-keys-{size}")
        await dana.keyboard.press("Escape")
        await expect(dana.get_by_test_id("keys-help")).to_be_hidden()
        order = [await li.get_attribute("data-conversation-id") for li in await dana.get_by_test_id("queue-item").all()]
        assert order == [customer, "c_rosa"]
        await dana.keyboard.press("j")
        await expect(queue_item(dana, customer)).to_have_attribute("aria-current", "true")
        await expect(dana.locator("#conv-title")).to_be_focused()
        await dana.keyboard.press("n")
        await expect(queue_item(dana, "c_rosa")).to_have_attribute("aria-current", "true")
        await dana.keyboard.press("k")
        await expect(queue_item(dana, customer)).to_have_attribute("aria-current", "true")
        # In a text field the letters are text; Esc leaves the field.
        note = dana.get_by_test_id("note-input")
        await note.click()
        await dana.keyboard.type("jc")
        await expect(note).to_have_value("jc")
        await expect(queue_item(dana, customer)).to_have_attribute("aria-current", "true")
        await dana.keyboard.press("Escape")
        await expect(note).not_to_be_focused()
        await note.fill("")
        await dana.locator("#conv-title").focus()
        await dana.keyboard.press("c")
        await expect(dana.locator("#conv-sub")).to_contain_text("With you")
        async with sessions() as session:
            handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == customer))
        assert (handoff.status, handoff.agent_username) == ("claimed", "dana")
        await dana.locator("#conv-title").focus()
        await dana.keyboard.press("/")
        await expect(dana.get_by_test_id("reply-input")).to_be_focused()
        await expect(dana.get_by_test_id("canned-option")).to_have_count(1)
        await dana.keyboard.press("Escape")  # the picker closes
        await expect(dana.get_by_test_id("canned-picker")).to_be_hidden()
        await dana.keyboard.press("Escape")  # and the reply box is left
        await expect(dana.get_by_test_id("reply-input")).not_to_be_focused()

        # Unread counts: the lead has not opened the chat; each new customer line counts.
        unread = queue_item(lee, customer).get_by_test_id("queue-unread")
        await expect(unread).to_be_hidden()
        for n, text in enumerate(("are you there?", "hello again"), start=1):
            await chat.send_json({"type": "message", "text": text, "client_id": f"more{n}"})
            await expect(unread).to_contain_text(str(n))
        # Dana claimed it: a notification names no content.
        await dana.wait_for_function("window.__notes.length >= 5")
        assert [n["title"] for n in (await notes(dana))[3:]] == ["New message from a customer"] * 2
        assert not any("again" in n["body"] or "secret" in n["body"] or "again" in n["title"] for n in await notes(dana))
        await shot(lee, f"console-unread-{size}")
        await open_from_queue(lee, customer)
        await expect(queue_item(lee, customer)).to_have_attribute("data-unread", "0")
        await expect(unread).to_be_hidden()
        await chat.send_json({"type": "message", "text": "still there", "client_id": "more3"})
        await expect(lee.get_by_test_id("transcript")).to_contain_text("still there")
        await expect(queue_item(lee, customer)).to_have_attribute("data-unread", "0")  # open: read
        await chat.close()

    # Mute: no beep, no notification, remembered after a reload.
    await dana.get_by_test_id("notify-mute").click()
    await expect(dana.get_by_test_id("notify-mute")).to_have_attribute("aria-pressed", "true")
    before, told = await dana.evaluate("window.__beeps"), len(await notes(dana))
    await at_risk_chat(sessions, "c_sam")
    await site.app[DESK].publish_queue()
    await expect(queue_item(dana, "c_sam")).to_be_attached()
    await dana.wait_for_timeout(600)
    assert await dana.evaluate("window.__beeps") == before and len(await notes(dana)) == told
    await dana.reload()
    await expect(dana.get_by_test_id("notify-mute")).to_have_attribute("aria-pressed", "true")
    assert await dana.evaluate("window.__asked") == 0, "no prompt on load, even with permission given before"

    # Presence: Dana goes away; the lead sees it. Resolve with r (the usual confirm).
    await dana.get_by_test_id("presence-select").select_option("away")
    await expect(lee.locator('[data-testid="team-member"][data-username="dana"]')).to_have_attribute(
        "data-status", "away")
    if size == "phone":
        await lee.locator("#back-to-queue").click()
    await shot(lee, f"console-team-{size}")
    await dana.locator("body").press("j")  # after the reload: the first conversation again
    await expect(queue_item(dana, customer)).to_have_attribute("aria-current", "true")
    await expect(dana.get_by_test_id("resolve-button")).to_be_enabled()
    dana.once("dialog", lambda dialog: dialog.accept())
    await dana.keyboard.press("r")
    await expect(queue_item(dana, customer)).to_have_count(0)
    async with sessions() as session:
        conversation = await session.get(Conversation, customer)
    assert conversation.mode != "agent"
    await dana.reload()  # the status is kept for this tab
    await expect(dana.get_by_test_id("presence-select")).to_have_value("away")
    await expect(lee.locator('[data-testid="team-member"][data-username="dana"]')).to_have_attribute(
        "data-status", "away")
    assert errors == []
    for page in (dana, lee):
        await page.context.close()
