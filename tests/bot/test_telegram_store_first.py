"""Telegram: an update is stored before the webhook acknowledges it, once however often
Telegram sends it, and answered even when the gateway stops right after the 200; when it
cannot be stored the webhook answers 503 so that Telegram sends it again. Long polling takes
the same path. Real python-telegram-bot, the Bot API stand-in, the real database, and a
stand-in of Rasa's REST channel."""
from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from caredesk.db.models import Handoff, Message
from caredesk.settings import async_database_url
from bot.channels.telegram import SECRET_HEADER
from bot.settings import Settings
from tests.bot.conftest import start_client
from tests.bot.telegram_standin import BotApiStandIn

SECRET = "a-long-secret-token-for-the-webhook"
CHAT = 777002


@pytest.fixture
async def api() -> AsyncIterator[tuple[BotApiStandIn, str]]:
    standin = BotApiStandIn()
    server = TestServer(standin.app)
    await server.start_server()
    try:
        yield standin, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def webhook_settings(make_settings: Any, database_url: str, rasa_url: str, api_url: str) -> Settings:
    return dataclasses.replace(
        make_settings(database_url, rasa_url=rasa_url), telegram_token="123:TEST", telegram_api_url=api_url,
        telegram_webhook_url="https://support.example.com/telegram/webhook", telegram_secret=SECRET,
    )


def update(text: str, update_id: int) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 0, "text": text, "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Maria"}}}


async def customer_lines(sessions: Any) -> list[tuple[str, str | None, str | None]]:
    async with sessions() as session:
        rows = (await session.scalars(select(Message).where(
            Message.conversation_id == f"tg_{CHAT}", Message.sender == "customer").order_by(Message.id))).all()
    return [(m.text, m.client_id, m.outcome) for m in rows]


async def test_an_update_acknowledged_is_stored_and_answered_after_a_stop(
    sessions, database_url, make_settings, api, rasa
) -> None:
    standin, api_url = api
    rasa.hold = True  # the gateway stops while Rasa still works on it
    await rasa.start()
    first = await start_client(webhook_settings(make_settings, database_url, rasa.url, api_url))
    try:
        response = await first.post("/telegram/webhook", json=update("where is my parcel", 41),
                                    headers={SECRET_HEADER: SECRET})
        assert response.status == 200
        assert await customer_lines(sessions) == [("where is my parcel", "tg-41", None)], "stored before the 200"
        await asyncio.wait_for(rasa.holding.wait(), 10)
    finally:
        await first.close()  # as a kill right after the 200: nothing more happens to it
    assert await customer_lines(sessions) == [("where is my parcel", "tg-41", None)]
    async with sessions() as session:
        assert (await session.scalars(select(Handoff))).all() == [], "a stop is no fault of the bot"

    rasa.hold = False
    second = await start_client(webhook_settings(make_settings, database_url, rasa.url, api_url))
    try:
        answer = await standin.wait_for(lambda p: p.get("text") == "You said where is my parcel")
        assert int(answer["chat_id"]) == CHAT
        # Should Telegram send it again all the same (it had its 200), it is stored once.
        again = await second.post("/telegram/webhook", json=update("where is my parcel", 41),
                                  headers={SECRET_HEADER: SECRET})
        assert again.status == 200
    finally:
        await second.close()
    assert await customer_lines(sessions) == [("where is my parcel", "tg-41", "bot")]
    assert [turn[1] for turn in rasa.turns] == [f"cd-{await line_id(sessions)}"]


async def line_id(sessions: Any) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(Message.id).where(Message.client_id == "tg-41")))


async def test_an_update_sent_again_is_stored_and_answered_once(sessions, database_url, make_settings, api, rasa) -> None:
    standin, api_url = api
    await rasa.start()
    client = await start_client(webhook_settings(make_settings, database_url, rasa.url, api_url))
    try:
        photo = {"update_id": 52, "message": {
            "message_id": 3, "date": 0, "chat": {"id": CHAT, "type": "private"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Maria"},
            "photo": [{"file_id": "f", "file_unique_id": "u", "width": 9, "height": 9}]}}
        for body in (update("hello", 51), update("hello", 51), photo, photo):
            response = await client.post("/telegram/webhook", json=body, headers={SECRET_HEADER: SECRET})
            assert response.status == 200
        await standin.wait_for(lambda p: "couldn't open that photo" in p.get("text", ""))
    finally:
        await client.close()
    assert await customer_lines(sessions) == [("hello", "tg-51", "bot"), ("[photo]", "tg-52", "refused")]
    assert [p["text"] for m, p in standin.calls if m == "sendMessage"] == [
        "You said hello", standin.calls[-1][1]["text"]], "one answer each"


async def test_an_update_that_cannot_be_stored_gets_503(make_settings, api, rasa, tmp_path: Path) -> None:
    """Telegram sends an update again only when it was not acknowledged."""
    _, api_url = api
    nowhere = async_database_url(f"sqlite:///{tmp_path / 'no-tables.db'}")  # the database lost its tables
    client = await start_client(webhook_settings(make_settings, nowhere, rasa.url, api_url))
    try:
        response = await client.post("/telegram/webhook", json=update("hello", 61), headers={SECRET_HEADER: SECRET})
    finally:
        await client.close()
    assert response.status == 503


async def test_long_polling_takes_the_same_path(sessions, database_url, make_settings, api, rasa) -> None:
    standin, api_url = api
    await rasa.start()
    settings = dataclasses.replace(make_settings(database_url, rasa_url=rasa.url), telegram_token="123:TEST",
                                   telegram_api_url=api_url)
    client = await start_client(settings)
    try:
        standin.text(CHAT, "/start")
        await standin.wait_for(lambda p: p.get("text") == "You said /greet")
        standin.text(CHAT, "/unknown")
        await standin.wait_for(lambda p: p.get("text") == "You said /help")
        standin.text(CHAT, "offer")
        offered = await standin.wait_for(lambda p: p.get("text") == "You said offer")
        standin.press(CHAT, offered, "Yes, please")
        await standin.wait_for(lambda p: p.get("text") == "You said /affirm")
    finally:
        await client.close()
    assert [(text, outcome) for text, _, outcome in await customer_lines(sessions)] == [
        ("/start", "bot"), ("/unknown", "bot"), ("offer", "bot"), ("Yes, please", "bot")]
    assert standin.count("answerCallbackQuery") == 1 and standin.count("editMessageReplyMarkup") == 1
