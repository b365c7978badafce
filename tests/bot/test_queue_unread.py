"""What the queue tells each console for its unread counts and alerts (bot/console/queue.py):
the customer's lines since the hand-off (not before it, not the bot's or an agent's, not an
earlier hand-off's) and who claimed the chat, by username. On SQLite and PostgreSQL."""
import datetime as dt

from sqlalchemy import update

from caredesk.db import repository
from caredesk.db.models import Conversation, Message
from bot import store
from bot.console.queue import queue_items
from tests.conftest import FIXED_NOW

MINUTE = dt.timedelta(minutes=1)


async def _line(session, conversation_id: str, sender: str, at: dt.datetime) -> None:  # type: ignore[no-untyped-def]
    line = await store.add_message(session, conversation_id, sender, f"{sender} at {at:%H:%M}")
    await session.execute(update(Message).where(Message.id == line.id).values(created_at=at))


async def test_customer_lines_count_since_the_hand_off_and_the_claimer_is_named(sessions) -> None:
    start = FIXED_NOW - 30 * MINUTE
    async with sessions.begin() as session:
        for conversation_id, mode in (("c_waiting", "queued"), ("c_claimed", "agent"), ("c_quiet", "queued")):
            session.add(Conversation(id=conversation_id, channel="webchat", mode=mode))
            await session.flush()
            await _line(session, conversation_id, "customer", start - 10 * MINUTE)  # before: the bot had it
            old = await repository.create_handoff(
                session, conversation_id=conversation_id, channel="webchat", reason="asked", priority="normal",
                priority_score=50, summary={}, promised_response_at=FIXED_NOW)
            old.created_at, old.status = start - 20 * MINUTE, "ended"  # an earlier hand-off, over
            handoff = await repository.create_handoff(
                session, conversation_id=conversation_id, channel="webchat", reason="asked", priority="normal",
                priority_score=50, summary={}, promised_response_at=FIXED_NOW)
            handoff.created_at = start
            if mode == "agent":
                handoff.status, handoff.claimed_by, handoff.agent_username = "claimed", "Dana", "dana"
        for minute, sender in ((1, "customer"), (2, "system"), (3, "customer"), (4, "agent"), (5, "customer")):
            await _line(session, "c_waiting", sender, start + minute * MINUTE)
            await _line(session, "c_claimed", sender, start + minute * MINUTE)
    async with sessions() as session:
        items = {i["conversation_id"]: i for i in await queue_items(session, FIXED_NOW)}
    assert {k: (i["customer_lines"], i["claimed_username"]) for k, i in items.items()} == {
        "c_waiting": (3, None), "c_claimed": (3, "dana"), "c_quiet": (0, None)}
