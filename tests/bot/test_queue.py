"""The console's queue: highest priority first, then longest waiting; past-SLA flagged."""
import datetime as dt

from actions.db import repository
from actions.db.models import Conversation
from bot import store
from bot.console.queue import queue_items
from tests.conftest import FIXED_NOW

HOUR = dt.timedelta(hours=1)


async def test_queue_order_and_sla_flags(sessions) -> None:
    async with sessions.begin() as session:
        for conversation_id, priority, score, created, promised in [
            ("c_low_old", "low", 40, FIXED_NOW - 5 * HOUR, FIXED_NOW + HOUR),
            ("c_urgent", "urgent", 100, FIXED_NOW - HOUR, FIXED_NOW - HOUR / 2),  # past its promise
            ("c_high_new", "high", 80, FIXED_NOW - HOUR / 4, FIXED_NOW + HOUR),
            ("c_high_old", "high", 80, FIXED_NOW - 2 * HOUR, FIXED_NOW + HOUR),
        ]:
            session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
            await session.flush()
            await store.add_message(session, conversation_id, "customer", f"hello from {conversation_id}")
            handoff = await repository.create_handoff(
                session, conversation_id=conversation_id, channel="webchat", reason="asked",
                priority=priority, priority_score=score, summary={}, promised_response_at=promised,
            )
            handoff.created_at = created
    async with sessions() as session:
        items = await queue_items(session, FIXED_NOW)
    assert [i["conversation_id"] for i in items] == ["c_urgent", "c_high_old", "c_high_new", "c_low_old"]
    assert [i["overdue"] for i in items] == [True, False, False, False]
    assert items[0]["preview"] == "hello from c_urgent" and items[0]["status"] == "waiting"
