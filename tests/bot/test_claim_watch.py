"""A claimed chat is never left without an answer (issue 19, item 3): its agent has not
written within DESK_CLAIM_REPLY_MINUTES, so it goes back to the queue once (however many
gateways watch), the customer is told, and the leads' consoles get an alert. A chat whose
agent wrote stays theirs. Real gateway and database."""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from typing import Any

from sqlalchemy import select

from caredesk.db.models import Conversation, ConversationEvent, Handoff, Message, utcnow
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle
from bot.app_keys import DESK, ROUTER
from bot.console.claim_watch import return_unanswered
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.test_webchat import frames_until, system_text


async def claimed_chat(sessions: Any, conversation_id: str, minutes_ago: float) -> None:
    async with sessions.begin() as session:
        session.add(Conversation(id=conversation_id, channel="webchat", mode="bot"))
    request = HandoffRequest(reason="asked", priority="normal", priority_score=40, summary={},
                             promised_response_at=utcnow() + dt.timedelta(hours=1))
    async with sessions.begin() as session:
        _, handoff = await lifecycle.hand_over(session, conversation_id, request)
        await lifecycle.claim(session, conversation_id, handoff, username="eli", name="Eli",
                              now=utcnow() - dt.timedelta(minutes=minutes_ago), taken_from=None)


async def test_an_unanswered_claim_goes_back_to_the_queue_once_and_the_leads_are_told(
    sessions, database_url, make_settings, domain
) -> None:
    await add_agent(sessions)  # Dana, a lead
    await claimed_chat(sessions, "c_silent", minutes_ago=6)
    await claimed_chat(sessions, "c_answered", minutes_ago=6)
    await claimed_chat(sessions, "c_fresh", minutes_ago=1)
    async with sessions.begin() as session:  # Eli wrote in this one
        session.add(Message(conversation_id="c_answered", sender="agent", text="Hi, Eli here", buttons=[],
                            agent_name="Eli"))
    settings = dataclasses.replace(make_settings(database_url), claim_reply_minutes=0)  # passes run by hand
    first, second = await start_client(settings), await start_client(settings)
    try:
        await log_in(first)
        console = await first.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        await console.send_json({"type": "open", "conversation_id": "c_silent"})
        await frames_until(console, lambda f: f["type"] == "conversation")
        app_a, app_b = first.server.app, second.server.app
        counts = await asyncio.gather(return_unanswered(app_a[ROUTER], app_a[DESK], 5),
                                      return_unanswered(app_b[ROUTER], app_b[DESK], 5))
        assert sorted(counts) == [0, 1], "two gateways watching: it goes back once"
        frames = await frames_until(console, lambda f: f["type"] == "alert")
        assert frames[-1]["conversation_id"] == "c_silent" and frames[-1]["agent_name"] == "Eli"
        assert any(f["type"] == "state" and f["transition"] == "unanswered" and f["state"] == "queued"
                   and f.get("promised_time") for f in frames)
        assert any(system_text(f) == domain["responses"]["utter_gateway_claim_unanswered"][0]["text"] for f in frames)
        await console.close()
    finally:
        await first.close()
        await second.close()
    async with sessions() as session:
        rows = {c.id: (c.mode, c.agent_name) for c in (await session.scalars(select(Conversation))).all()}
        silent = await session.scalar(select(Handoff).where(Handoff.conversation_id == "c_silent"))
        events = (await session.execute(select(ConversationEvent.transition, ConversationEvent.actor,
                                               ConversationEvent.detail)
                                        .where(ConversationEvent.conversation_id == "c_silent")
                                        .order_by(ConversationEvent.id))).all()
    assert rows == {"c_silent": ("queued", None), "c_answered": ("agent", "Eli"), "c_fresh": ("agent", "Eli")}
    assert (silent.status, silent.claimed_by, silent.agent_username) == ("waiting", None, None)
    assert [(t, a) for t, a, _ in events][-1] == ("unanswered", "gateway") and events[-1][2] == {"agent": "eli"}
    assert [t for t, _, _ in events] == ["handed_over", "claimed", "unanswered"]


async def test_the_gateway_watches_by_itself(sessions, database_url, make_settings) -> None:
    await claimed_chat(sessions, "c_quiet", minutes_ago=10)
    settings = dataclasses.replace(make_settings(database_url), claim_reply_minutes=5, claim_watch_seconds=0.1)
    client = await start_client(settings)
    try:
        for _ in range(50):
            async with sessions() as session:
                if (await session.get(Conversation, "c_quiet")).mode == "queued":
                    break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the claim was not returned")
    finally:
        await client.close()
