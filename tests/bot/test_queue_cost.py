"""The queue and the Inbox stay fast however long the queue is (issue 19: "with 500 open
conversations, a queue refresh costs a fixed number of queries"). Statements are counted on
the engine (`before_cursor_execute`) for one queue refresh (queue_items) and one Inbox
search, with 50 and then 500 open conversations on SQLite and PostgreSQL; the count must be
the same and small. The figures and times go to var/bench/queue-cost-<backend>.json and
docs/benchmark.md ("A queue of 500: statements per refresh")."""
from __future__ import annotations

import datetime as dt
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import event, select

from caredesk.db.models import Conversation, Customer, Handoff, Message, Ticket
from caredesk.settings import PROJECT_ROOT
from bot.console import inbox
from bot.console.queue import queue_items
from tests.conftest import FIXED_NOW

MINUTE = dt.timedelta(minutes=1)
MOST = 2  # statements one refresh may cost, whatever the length of the queue
REPEATS = 5


async def open_conversations(sessions: Any, start: int, stop: int) -> None:
    """Open conversations `start`..`stop`-1: every third claimed by an agent, the others
    waiting; each with a ticket (every other one linked to a demo customer), three lines and
    a summary that names a verified order."""
    async with sessions.begin() as session:
        customers = list((await session.scalars(select(Customer.id).order_by(Customer.id))).all())
        for n in range(start, stop):
            cid, claimed = f"c_open_{n:04d}", n % 3 == 0
            at = FIXED_NOW - (stop - n) * MINUTE
            session.add(Conversation(id=cid, channel="webchat" if n % 2 else "telegram",
                                     mode="agent" if claimed else "queued",
                                     agent_username="dana" if claimed else None,
                                     agent_name="Dana" if claimed else None))
            session.add_all([Message(conversation_id=cid, sender="customer", text=f"my parcel {n} is late",
                                     created_at=at),
                             Message(conversation_id=cid, sender="bot", text="I am sorry to hear that", created_at=at),
                             Message(conversation_id=cid, sender="agent" if claimed else "customer",
                                     text=f"latest line {n}", created_at=at + MINUTE)])
            ticket = Ticket(number=f"CD-C{n:05d}", channel="webchat", conversation_id=cid,
                            customer_id=customers[n % len(customers)] if n % 2 == 0 else None, contact="chat",
                            contact_kind="chat", category="late_delivery", description="-", desired_outcome="refund",
                            severity="formal_complaint", priority="normal", priority_score=50,
                            promised_response_at=FIXED_NOW + (n % 5 - 2) * 60 * MINUTE, created_at=at, updated_at=at)
            session.add(Handoff(conversation_id=cid, channel="webchat", reason="asked", priority="normal",
                                priority_score=50 + n % 7, status="claimed" if claimed else "waiting",
                                summary={"slots": {"order_number": "10003310", "order_verified": True},
                                         "intent": "complaint", "recent_intents": ["complaint"]},
                                promised_response_at=FIXED_NOW + 30 * MINUTE, created_at=at,
                                claimed_at=at + MINUTE if claimed else None, claimed_by="Dana" if claimed else None,
                                agent_username="dana" if claimed else None, ticket=ticket))


async def measure(sessions: Any, run: Callable[[Any], Awaitable[int]]) -> tuple[int, int, float]:
    """(statements of one run, rows it returned, median milliseconds over REPEATS runs)."""
    statements: list[str] = []
    times: list[float] = []
    rows = 0
    for attempt in range(REPEATS):
        async with sessions() as session:
            engine = session.bind.sync_engine
            listen = lambda *args: statements.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listen)
            try:
                started = time.perf_counter()
                rows = await run(session)
                times.append((time.perf_counter() - started) * 1000)
            finally:
                event.remove(engine, "before_cursor_execute", listen)
        if attempt == 0:
            first = len(statements)
    assert len(statements) == first * REPEATS, "every run costs the same"
    return first, rows, statistics.median(times)


async def _queue(session: Any) -> int:
    return len(await queue_items(session, FIXED_NOW))


async def _inbox_open(session: Any) -> int:
    return len((await inbox.search(session, view="open", agent="dana", now=FIXED_NOW))[0])


async def _inbox_search(session: Any) -> int:
    return len((await inbox.search(session, view="all", q="parcel", agent="dana", now=FIXED_NOW))[0])


async def test_a_queue_refresh_and_an_inbox_search_cost_the_same_few_statements_for_50_and_500(sessions) -> None:
    async with sessions() as session:
        backend = session.bind.dialect.name
    figures: dict[str, Any] = {"backend": backend}
    await open_conversations(sessions, 0, 50)
    small = {name: await measure(sessions, run) for name, run in
             (("queue", _queue), ("inbox_open", _inbox_open), ("inbox_search", _inbox_search))}
    await open_conversations(sessions, 50, 500)
    large = {name: await measure(sessions, run) for name, run in
             (("queue", _queue), ("inbox_open", _inbox_open), ("inbox_search", _inbox_search))}

    assert small["queue"][1] == 50 and large["queue"][1] == 500
    assert large["inbox_open"][1] == large["inbox_search"][1] == inbox.PAGE  # one page of 50
    for name in small:
        assert small[name][0] == large[name][0] <= MOST, (name, small[name], large[name])
        figures[name] = {"statements": large[name][0], "rows_50": small[name][1], "rows_500": large[name][1],
                         "median_ms_50": round(small[name][2], 1), "median_ms_500": round(large[name][2], 1)}
    out = PROJECT_ROOT / "var" / "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"queue-cost-{backend}.json").write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(figures))
