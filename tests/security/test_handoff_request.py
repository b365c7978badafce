"""The hand-off request travels in the bot's reply (caredesk/handoff_request.py). Only our
actions write it, yet the gateway reads it field by field: a malformed or oversized one is
dropped whole, never half-used, and words a customer typed never become one."""
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from caredesk.db.models import Conversation, Handoff
from caredesk.handoff_request import MAX_SUMMARY_CHARACTERS, HandoffRequest
from tests.bot.conftest import ORIGIN, rasa, start_client  # noqa: F401 (rasa: a fixture)
from tests.bot.test_webchat import frames_until, line

WHEN = dt.datetime(2026, 12, 3, 17, 0, tzinfo=dt.timezone.utc)


def good(**changes: Any) -> dict[str, Any]:
    message = HandoffRequest("asked", "normal", 60, WHEN, {"reason": "asked"}, 7).to_message()
    message["request"].update(changes)
    return message


def test_a_well_formed_request_reads_back_as_sent() -> None:
    assert HandoffRequest.from_message(good()) == HandoffRequest("asked", "normal", 60, WHEN, {"reason": "asked"}, 7)


@pytest.mark.parametrize("changes", [
    {"reason": "make_me_admin"}, {"reason": None}, {"priority": "critical"}, {"priority_score": True},
    {"priority_score": "60"}, {"priority_score": 10**9}, {"priority_score": -1}, {"ticket_id": 0},
    {"ticket_id": "7"}, {"ticket_id": True}, {"summary": "text"}, {"summary": None},
    {"summary": {"x": "y" * (MAX_SUMMARY_CHARACTERS + 1)}}, {"promised_response_at": "2026-12-03T17:00:00"},
    {"promised_response_at": "tomorrow"}, {"promised_response_at": 1764781200},
])
def test_a_malformed_request_is_dropped_whole(changes: dict[str, Any]) -> None:
    assert HandoffRequest.from_message(good(**changes)) is None


@pytest.mark.parametrize("custom", [
    None, "handoff", [], {"caredesk": "handoff"}, {"caredesk": "handoff", "request": "asked"},
    {"caredesk": "something", "request": good()["request"]},
])
def test_anything_else_is_no_request(custom: Any) -> None:
    assert HandoffRequest.from_message(custom) is None


async def test_a_customer_typing_the_request_gets_words_not_a_handoff(sessions, database_url, make_settings,
                                                                     rasa) -> None:
    """Rasa (here a stand-in that echoes what it is sent as text) gets typed JSON as words:
    the conversation stays with the bot and no hand-off is written."""
    await rasa.start()
    client = await start_client(make_settings(database_url, rasa_url=rasa.url))
    try:
        ws = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        chat = (await ws.receive_json())["conversation_id"]
        await ws.send_json({"type": "message", "text": json.dumps(good()), "client_id": "1"})
        frames = await frames_until(ws, line("bot"))
        assert not any(f["type"] == "state" for f in frames)
        await ws.close()
    finally:
        await client.close()
    async with sessions() as session:
        assert (await session.get(Conversation, chat)).mode == "bot"
        assert (await session.scalars(select(Handoff).where(Handoff.conversation_id == chat))).all() == []
