"""A chat id is no bearer token (issue 16, item 12): the conversation id, which agents and
logs see, opens nothing; the widget's resume secret opens the transcript only until it
expires, and only its digest is stored."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import select

from caredesk.db.models import Conversation
from tests.bot.conftest import ORIGIN


async def test_the_conversation_id_opens_no_transcript(gateway) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await ws.receive_json()
    await ws.send_json({"type": "message", "text": "my address is 1 Private Lane", "client_id": "p"})
    await ws.receive_json()
    await ws.close()
    for query in (f"conversation={hello['conversation_id']}", f"resume={hello['conversation_id']}"):
        stranger = await gateway.ws_connect(f"/ws/chat?{query}", headers={"Origin": ORIGIN})
        other = await stranger.receive_json()
        await stranger.close()
        assert other["conversation_id"] != hello["conversation_id"] and other["history"] == []


async def test_the_resume_secret_expires_and_is_kept_only_as_a_digest(gateway, sessions) -> None:
    ws = await gateway.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
    hello = await ws.receive_json()
    await ws.close()
    async with sessions() as session:
        row = await session.get(Conversation, hello["conversation_id"])
    assert row.resume_token_hash and hello["resume"] not in row.resume_token_hash
    assert row.resume_expires_at > dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=47)

    back = await gateway.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
    assert (await back.receive_json())["conversation_id"] == hello["conversation_id"]
    await back.close()

    async with sessions.begin() as session:
        row = await session.get(Conversation, hello["conversation_id"])
        row.resume_expires_at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    late = await gateway.ws_connect(f"/ws/chat?resume={hello['resume']}", headers={"Origin": ORIGIN})
    fresh = await late.receive_json()
    await late.close()
    assert fresh["conversation_id"] != hello["conversation_id"] and fresh["history"] == []
    async with sessions() as session:
        webchats = (await session.scalars(select(Conversation).where(Conversation.channel == "webchat"))).all()
    assert len(webchats) == 2
