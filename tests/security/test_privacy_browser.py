"""The privacy page in a real browser (Debian's Chromium, driven by Playwright): an admin
signs in, finds a customer by email, downloads the export and erases them. No Rasa needed;
screenshots go to var/screenshots/."""
from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, async_playwright, expect

from caredesk.settings import PROJECT_ROOT
from bench.stack import free_port
from bot.app import create_app
from tests.bot.conftest import PASSWORD, make_settings  # noqa: F401 (fixture)
from tests.security.privacy_data import (  # noqa: F401 (fixtures)
    ALICE_EMAIL, ALICE_TEXT, ALICE_TRACES, BOB_TEXT, dump, mentions, seed_two_customers, tracker_engine, tracker_url,
)
from tests.security.test_privacy import add_admin

pytestmark = pytest.mark.e2e
SHOTS = PROJECT_ROOT / "var" / "screenshots"


@pytest.fixture
async def site(sessions, database_url: str, tracker_url: str, tracker_engine,  # type: ignore[no-untyped-def]
               make_settings) -> AsyncIterator[str]:
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    settings = dataclasses.replace(make_settings(database_url), tracker_store_url=tracker_url,
                                   allowed_origins=frozenset({origin}), console_origins=frozenset({origin}))
    server = TestServer(await create_app(settings), host="127.0.0.1", port=port)
    await server.start_server()
    try:
        yield origin
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


async def test_admin_finds_exports_and_erases_in_the_browser(browser: Browser, site: str, sessions,
                                                               tracker_engine, tmp_path) -> None:
    await seed_two_customers(sessions, tracker_engine)
    await add_admin(sessions)
    context = await browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    await page.goto(site + "/console/login")
    await page.get_by_test_id("login-username").fill("ada")
    await page.get_by_test_id("login-password").fill(PASSWORD)
    await page.get_by_test_id("login-submit").click()
    await page.wait_for_url(site + "/console")
    await page.goto(site + "/console/privacy")

    await page.get_by_test_id("privacy-kind").select_option("email")
    await page.get_by_test_id("privacy-value").fill(ALICE_EMAIL)
    await page.get_by_test_id("privacy-find-button").click()
    await expect(page.get_by_test_id("privacy-counts")).to_contain_text("Conversations2")
    await expect(page.get_by_test_id("privacy-conversations")).to_contain_text("tg_987654321")
    SHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SHOTS / "privacy-found.png"))

    async with page.expect_download() as waiting:
        await page.get_by_test_id("privacy-export").click()
    download = await waiting.value
    path = tmp_path / "export.json"
    await download.save_as(str(path))
    exported = json.loads(path.read_text(encoding="utf-8"))
    assert ALICE_TEXT in json.dumps(exported) and BOB_TEXT not in json.dumps(exported)

    await page.get_by_test_id("privacy-confirm").fill("not her")
    await page.get_by_test_id("privacy-erase-button").click()
    await expect(page.get_by_test_id("privacy-status")).to_contain_text("again")
    assert mentions(await dump(sessions, tracker_engine), ALICE_TEXT)

    await page.get_by_test_id("privacy-confirm").fill(ALICE_EMAIL)
    await page.get_by_test_id("privacy-erase-button").click()
    await expect(page.get_by_test_id("privacy-status")).to_contain_text("Erased. Reference")
    await page.screenshot(path=str(SHOTS / "privacy-erased.png"))
    after = await dump(sessions, tracker_engine)
    for trace in ALICE_TRACES:
        assert mentions(after, trace) == [], trace
    assert errors == []
