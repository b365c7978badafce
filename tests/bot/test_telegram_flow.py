"""A customer on Telegram (long polling, real python-telegram-bot against the Bot API stand-in)
files a complaint, gets a ticket number and a time, asks for a human; an agent claims and
replies from the console, the customer sees it on Telegram; the agent resolves and the
customer rates with an inline button. The database holds all of it."""
from __future__ import annotations

import dataclasses
import re

import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select

from caredesk.db.models import Feedback, Handoff, Message, Ticket
from caredesk.db.session import make_engine, make_sessions
from caredesk.settings import async_database_url
from bot.console.auth import create_agent
from tests.bot.conftest import ORIGIN, PASSWORD, log_in, start_client
from tests.bot.telegram_standin import BotApiStandIn
from tests.bot.test_webchat import frames_until

pytestmark = pytest.mark.e2e
CHAT = 880011


def has_button(title: str):  # type: ignore[no-untyped-def]
    return lambda p: any(b["text"] == title for row in (p.get("reply_markup") or {}).get("inline_keyboard", []) for b in row)


async def test_complaint_handover_and_rating_on_telegram(rasa_stack, make_settings) -> None:
    api = BotApiStandIn()
    api_server = TestServer(api.app)
    await api_server.start_server()
    database_url = async_database_url(rasa_stack.database_url)
    engine = make_engine(database_url)
    sessions = make_sessions(engine)
    async with sessions.begin() as session:
        await create_agent(session, "dana-tg", "Dana", PASSWORD)
    settings = dataclasses.replace(
        make_settings(database_url, rasa_stack.rasa_url_list, rasa_stack.token,
                      channel_secret=rasa_stack.channel_secret),
        telegram_token="123:TEST", telegram_api_url=str(api_server.make_url("")).rstrip("/"),
    )
    client = await start_client(settings)
    try:
        await log_in(client, "dana-tg")
        console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        await console.receive_json()

        api.text(CHAT, "/start")
        await api.wait_for(lambda p: "Northwind Goods" in p["text"])
        api.text(CHAT, "I want to make a complaint about my order")
        asked = await api.wait_for(has_button("It's not about an order"))
        assert int(asked["chat_id"]) == CHAT
        api.text(CHAT, "10005533")
        categories = await api.wait_for(has_button("Damaged item"))
        api.press(CHAT, categories, "Damaged item")
        await api.wait_for(lambda p: "what happened" in p["text"].lower())
        api.text(CHAT, "The speaker arrived with a cracked grille")
        outcomes = await api.wait_for(has_button("Replacement"))
        api.press(CHAT, outcomes, "Replacement")
        await api.wait_for(lambda p: "email" in p["text"].lower())
        api.text(CHAT, "maria.lopez@example.com")
        restated = await api.wait_for(has_button("Yes, that's right"))
        assert "cracked grille" in restated["text"]
        api.press(CHAT, restated, "Yes, that's right")
        logged = await api.wait_for(lambda p: "ticket CD-" in p["text"])
        ticket_number = re.search(r"CD-\d+", logged["text"]).group(0)
        assert " by " in logged["text"]
        await api.wait_for(has_button("5 - Excellent"))
        assert api.count("answerCallbackQuery") == 3 and api.count("editMessageReplyMarkup") == 3
        assert api.count("sendChatAction") >= 5, "typing shown while the bot composes"

        api.text(CHAT, "/human")
        await api.wait_for(lambda p: "person" in p["text"])
        await api.wait_for(lambda p: "/assistant" in p["text"])  # how to go back while waiting
        queue = await frames_until(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == f"tg_{CHAT}" for i in f["items"]))
        [item] = [i for i in queue[-1]["items"] if i["conversation_id"] == f"tg_{CHAT}"]
        assert item["ticket_number"] == ticket_number

        await console.send_json({"type": "claim", "conversation_id": f"tg_{CHAT}"})
        await api.wait_for(lambda p: "You're now chatting with Dana" in p["text"])
        await console.send_json({"type": "send", "conversation_id": f"tg_{CHAT}", "text": "Hi Maria, a new speaker is on its way."})
        await api.wait_for(lambda p: p["text"] == "Dana: Hi Maria, a new speaker is on its way.")
        api.text(CHAT, "thank you so much")
        seen = await frames_until(console, lambda f: f["type"] == "message" and f["message"]["from"] == "customer")
        assert seen[-1]["message"]["text"] == "thank you so much"

        await console.send_json({"type": "resolve", "conversation_id": f"tg_{CHAT}"})
        rating = await api.wait_for(has_button("5 - Excellent"))
        assert "Dana" in rating["text"], "the person's part is rated first, by name"
        api.press(CHAT, rating, "5 - Excellent")
        bot_part = await api.wait_for(has_button("2 - Poor"))
        assert "before Dana joined" in bot_part["text"]
        api.press(CHAT, bot_part, "2 - Poor")
        comment = await api.wait_for(has_button("No, that's all"))
        api.press(CHAT, comment, "No, that's all")
        await api.wait_for(lambda p: "Thank" in p["text"] or "pleasure" in p["text"])
        await console.close()

        async with sessions() as session:
            ticket = await session.scalar(select(Ticket).where(Ticket.number == ticket_number))
            handoff = await session.scalar(select(Handoff).where(Handoff.conversation_id == f"tg_{CHAT}"))
            feedback = (await session.scalars(select(Feedback).where(Feedback.conversation_id == f"tg_{CHAT}").order_by(Feedback.id))).all()
            lines = (await session.scalars(select(Message).where(Message.conversation_id == f"tg_{CHAT}"))).all()
        assert (ticket.channel, ticket.conversation_id, ticket.category) == ("telegram", f"tg_{CHAT}", "damaged_item")
        assert handoff.status == "ended" and handoff.ticket_id == ticket.id and handoff.claimed_by == "Dana"
        assert [(f.subject, f.rating, f.agent_username) for f in feedback][-2:] == [("agent", 5, "dana-tg"), ("bot", 2, None)]
        assert {(f.handoff_id, f.channel) for f in feedback[-2:]} == {(handoff.id, "telegram")}
        texts = [m.text for m in lines]
        assert "Damaged item" in texts and "Hi Maria, a new speaker is on its way." in texts
    finally:
        await client.close()
        await api_server.close()
        await engine.dispose()
