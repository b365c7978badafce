"""Issue 11 and 13: with the right secret, a body that is JSON but no Telegram update gets 400
and one warning line, never a 500 or a traceback; a real update still works."""
from __future__ import annotations

import logging

import pytest

from bot.channels.telegram import SECRET_HEADER
from tests.bot.test_telegram import CHAT, SECRET, standin, transcript, update, webhook_gateway  # noqa: F401

NOT_UPDATES = [
    b"null", b"1", b"[]", b"{}", b'"update"', b"true", b"not json", b"\xff\xfe",
    b'{"update_id": -1, "message": true}',
    b'{"update_id": "1"}',
    b'{"update_id": true}',
    b'{"update_id": 1.5}',
    b'{"update_id": 1}',
    b'{"update_id": 1, "message": true}',
    b'{"update_id": 1, "message": {}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": "x", "type": "private"}, "text": "hi"}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "text": ["hi"]}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 1e300, "chat": {"id": 1, "type": "private"}, "text": "hi"}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 99999999999999999999, "chat": {"id": 1, "type": "private"}}}',
    b'{"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 1, "type": "private"}, "photo": "x"}}',
    b'{"update_id": 1, "callback_query": {"id": "1", "chat_instance": "x", "data": "b:1:0", "from": {"id": 1, "is_bot": false, "first_name": "a"}}}',
]


@pytest.mark.parametrize("body", NOT_UPDATES, ids=lambda b: b.decode("utf-8", "replace")[:40])
async def test_a_body_that_is_no_update_gets_400_and_one_warning(webhook_gateway, sessions, caplog, body) -> None:  # noqa: F811
    caplog.set_level(logging.DEBUG)
    response = await webhook_gateway.post("/telegram/webhook", data=body,
                                          headers={SECRET_HEADER: SECRET, "Content-Type": "application/json"})
    assert response.status == 400
    assert "expected a Telegram update" in await response.text()
    records = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage().split(":")[0] for r in records] == ["Telegram webhook body refused"]
    assert all(r.exc_info is None for r in caplog.records), "no traceback"
    assert await transcript(sessions) == []


async def test_nul_in_a_telegram_message_is_removed_and_the_text_stored(webhook_gateway, standin, sessions) -> None:  # noqa: F811
    api, _ = standin
    response = await webhook_gateway.post("/telegram/webhook", json=update("where\x00 is my \ud800order"),
                                          headers={SECRET_HEADER: SECRET})
    assert response.status == 200
    await api.wait_for(lambda p: "technical problem" in p["text"])
    assert (await transcript(sessions))[0] == ("customer", "where is my \ufffdorder")
