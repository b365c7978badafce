"""The Telegram channel with the real python-telegram-bot client against a local stand-in of
the Bot API: the webhook's secret token, unsupported messages, flood control, long texts."""
from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from caredesk.db.models import Message
from bot.channels.telegram import SECRET_HEADER, split_text
from tests.bot.conftest import start_client
from tests.bot.telegram_standin import BotApiStandIn

SECRET = "a-long-secret-token-for-the-webhook"
CHAT = 777001


@pytest.fixture
async def standin() -> AsyncIterator[tuple[BotApiStandIn, str]]:
    api = BotApiStandIn()
    server = TestServer(api.app)
    await server.start_server()
    try:
        yield api, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def webhook_gateway(sessions, database_url, make_settings, standin) -> AsyncIterator[TestClient]:  # type: ignore[no-untyped-def]
    api, url = standin
    settings = dataclasses.replace(
        make_settings(database_url), telegram_token="123:TEST", telegram_api_url=url,
        telegram_webhook_url="https://support.example.com/telegram/webhook", telegram_secret=SECRET,
    )
    client = await start_client(settings)
    try:
        yield client
    finally:
        await client.close()


def update(text: str, update_id: int = 1) -> dict:
    return {"update_id": update_id, "message": {
        "message_id": 1, "date": 0, "text": text, "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Maria"}}}


async def transcript(sessions) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    async with sessions() as session:
        rows = (await session.scalars(select(Message).where(Message.conversation_id == f"tg_{CHAT}").order_by(Message.id))).all()
    return [(m.sender, m.text) for m in rows]


async def test_the_webhook_is_registered_with_a_secret_and_refuses_updates_without_it(
    webhook_gateway, standin, sessions
) -> None:
    api, _ = standin
    assert api.webhook["url"] == "https://support.example.com/telegram/webhook"
    assert api.webhook["secret_token"] == SECRET

    missing = await webhook_gateway.post("/telegram/webhook", json=update("hello"))
    wrong = await webhook_gateway.post("/telegram/webhook", json=update("hello"), headers={SECRET_HEADER: SECRET[:-1] + "x"})
    assert (missing.status, wrong.status) == (403, 403)
    assert await transcript(sessions) == [], "nothing from a forged update is processed"

    ok = await webhook_gateway.post("/telegram/webhook", json=update("hello", 2), headers={SECRET_HEADER: SECRET})
    assert ok.status == 200
    # Rasa is down in this test: the customer still gets the polite word, on Telegram.
    reply = await api.wait_for(lambda p: "technical problem" in p["text"])
    assert int(reply["chat_id"]) == CHAT
    assert (await transcript(sessions))[0] == ("customer", "hello")


async def test_photos_and_stickers_get_a_polite_answer_and_are_kept(webhook_gateway, standin, sessions) -> None:
    api, _ = standin
    photo = {"update_id": 5, "message": {
        "message_id": 2, "date": 0, "chat": {"id": CHAT, "type": "private"},
        "from": {"id": CHAT, "is_bot": False, "first_name": "Maria"},
        "photo": [{"file_id": "f", "file_unique_id": "u", "width": 9, "height": 9}]}}
    assert (await webhook_gateway.post("/telegram/webhook", json=photo, headers={SECRET_HEADER: SECRET})).status == 200
    reply = await api.wait_for(lambda p: "couldn't open that photo" in p["text"])
    assert int(reply["chat_id"]) == CHAT
    assert await transcript(sessions) == [("customer", "[photo]"), ("system", reply["text"])]


async def test_flood_control_is_waited_out(webhook_gateway, standin, sessions) -> None:
    api, _ = standin
    api.flood_control["sendMessage"] = 1
    await webhook_gateway.post("/telegram/webhook", json=update("hi", 9), headers={SECRET_HEADER: SECRET})
    delivered = await api.wait_for(lambda p: "technical problem" in p["text"])
    refused = [p["text"] for m, p in api.refused if m == "sendMessage"]
    assert refused == [delivered["text"]], "the first try got 429 and was retried after retry_after"


def test_long_replies_are_split_under_telegrams_limit() -> None:
    text = "\n".join(f"line {i} " + "x" * 90 for i in range(100))
    parts = split_text(text)
    assert len(parts) == 3 and all(len(p) <= 4096 for p in parts)
    assert "\n".join(parts) == text


async def test_assistant_command_takes_a_waiting_customer_back_to_the_assistant(
    webhook_gateway, standin, sessions, domain
) -> None:
    """/assistant is Telegram's "keep chatting with the assistant instead" (the widget's button)."""
    import datetime as dt

    from caredesk.db.models import Conversation, Handoff, utcnow
    from caredesk.handoff_request import HandoffRequest
    from bot import lifecycle

    api, _ = standin
    async with sessions.begin() as session:
        session.add(Conversation(id=f"tg_{CHAT}", channel="telegram", mode="bot"))
    request = HandoffRequest(reason="not_understood", priority="normal", priority_score=40, summary={},
                             promised_response_at=utcnow() + dt.timedelta(hours=1))
    async with sessions.begin() as session:
        await lifecycle.hand_over(session, f"tg_{CHAT}", request)
    command = update("/assistant", 21)
    command["message"]["entities"] = [{"type": "bot_command", "offset": 0, "length": len("/assistant")}]
    ok = await webhook_gateway.post("/telegram/webhook", json=command, headers={SECRET_HEADER: SECRET})
    assert ok.status == 200
    told = domain["responses"]["utter_gateway_customer_back"][0]["text"]
    reply = await api.wait_for(lambda p: p["text"] == told)
    assert int(reply["chat_id"]) == CHAT
    async with sessions() as session:
        conversation = await session.get(Conversation, f"tg_{CHAT}")
        handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == f"tg_{CHAT}"))
    assert (conversation.mode, handoff.status, handoff.end_reason) == ("bot", "ended", "customer_back")
    assert await transcript(sessions) == [("customer", "/assistant"), ("system", told)]
