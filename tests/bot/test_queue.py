"""The console's queue: highest priority first, then longest waiting; past-SLA flagged. It is
built in one statement and sent to the consoles off the customers' message path."""
import asyncio
import datetime as dt

from sqlalchemy import event, func, select

from caredesk.db import repository
from caredesk.db.models import Conversation, Customer, Handoff, Message, Order, Ticket
from bot import store
from bot.console import desk as desk_module
from bot.console.queue import queue_items
from tests.bot.conftest import ORIGIN, add_agent, log_in, start_client
from tests.bot.test_webchat import frames_until, system_text, unlimited
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


async def seed_waiting(sessions, count: int, now: dt.datetime = FIXED_NOW) -> None:  # type: ignore[no-untyped-def]
    """`count` waiting hand-offs, each with two customer lines; every other one has a ticket."""
    async with sessions.begin() as session:
        for n in range(count):
            conversation_id = f"c_wait_{n:04d}"
            session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
            session.add_all([Message(conversation_id=conversation_id, sender="customer", text=f"old {n}"),
                             Message(conversation_id=conversation_id, sender="customer", text=f"latest {n}"),
                             Message(conversation_id=conversation_id, sender="bot", text="a reply")])
            ticket = None if n % 2 else Ticket(
                number=f"CD-Q{n:05d}", channel="webchat", conversation_id=conversation_id, contact="chat",
                contact_kind="chat", category="other", description="-", desired_outcome="other",
                severity="formal_complaint", priority="normal", priority_score=50, promised_response_at=now + HOUR)
            session.add(Handoff(conversation_id=conversation_id, channel="webchat", reason="asked", priority="normal",
                                priority_score=50, status="waiting", summary={}, promised_response_at=now + HOUR,
                                created_at=now - dt.timedelta(seconds=count - n), ticket=ticket))


async def test_a_long_queue_is_built_in_one_statement(sessions) -> None:
    """The queue is rebuilt whenever it changes: its cost must not grow with its length in
    round trips (it was two queries per waiting hand-off)."""
    await seed_waiting(sessions, 500)
    statements: list[str] = []

    def count(_conn, _cursor, statement: str, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    engine = sessions.kw["bind"].sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with sessions() as session:
            items = await queue_items(session, FIXED_NOW)
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    assert len(items) == 500 and items[0]["conversation_id"] == "c_wait_0000"
    assert (items[0]["preview"], items[0]["ticket_number"]) == ("latest 0", "CD-Q00000")
    assert (items[1]["preview"], items[1]["ticket_number"]) == ("latest 1", None)


async def test_queued_messages_never_wait_for_the_queue_and_agents_still_get_it(
        sessions, database_url: str, make_settings, monkeypatch) -> None:
    """With 500 waiting, 50 messages into a queued conversation are stored and echoed while
    the queue's rebuild is held up; the consoles then get one queue with the latest line."""
    rebuilds, gate = [], asyncio.Event()
    gate.set()

    async def held_queue_items(session, now, words=None):  # type: ignore[no-untyped-def]
        rebuilds.append(now)
        await gate.wait()
        return await queue_items(session, now, words)

    monkeypatch.setattr(desk_module, "queue_items", held_queue_items)
    await seed_waiting(sessions, 500)
    await add_agent(sessions)
    client = await start_client(unlimited(make_settings(database_url)))
    try:
        chat = await client.ws_connect("/ws/chat", headers={"Origin": ORIGIN})
        conversation_id = (await chat.receive_json())["conversation_id"]
        await chat.send_json({"type": "message", "text": "first", "client_id": "first"})
        await frames_until(chat, lambda f: "ticket" in system_text(f))  # Rasa is down: queued
        await log_in(client)
        console = await client.ws_connect("/ws/console", headers={"Origin": ORIGIN})
        await frames_until(console, lambda f: f["type"] == "queue")
        rebuilds.clear()
        gate.clear()  # every rebuild from now on waits: a message that waited for one would hang

        for n in range(50):
            await chat.send_json({"type": "message", "text": f"still there? {n}", "client_id": f"q{n}"})
        echoes = await frames_until(chat, lambda f: f.get("message", {}).get("client_id") == "q49")
        assert [f["message"]["text"] for f in echoes if f["type"] == "message"] == [
            f"still there? {n}" for n in range(50)]
        assert len(rebuilds) <= 1, "at most the one rebuild that is held up"

        gate.set()
        queue = await frames_until(console, lambda f: f["type"] == "queue" and any(
            i["conversation_id"] == conversation_id and i["preview"] == "still there? 49" for i in f["items"]))
        assert len(queue[-1]["items"]) == 501
        assert len(rebuilds) <= 2, "50 changes, one or two rebuilds"
    finally:
        await client.close()
    async with sessions() as session:
        stored = await session.scalar(select(func.count()).select_from(Message).where(
            Message.conversation_id == conversation_id, Message.sender == "customer"))
    assert stored == 51


async def test_the_card_names_the_customer_their_tier_and_what_they_want(sessions) -> None:
    """The ticket's customer, else the verified order's, else what the bot learnt; a number the
    customer only typed shows nobody. Still one statement, on SQLite and PostgreSQL."""
    from tests.bot.test_summary import damaged_chair_complaint

    async with sessions.begin() as session:
        ada = Customer(email="ada.q@example.com", name="Ada Queue", tier="vip")
        bob = Customer(email="bob.q@example.com", name="Bob Order", tier="new")
        session.add_all([ada, bob])
        await session.flush()
        session.add(Order(number="QO-1001", customer_id=bob.id, status="delivered", items="Oak dining chair",
                          total_cents=12900, placed_at=FIXED_NOW - 30 * HOUR, shipping_address="-",
                          payment_method="card"))
        complaint = damaged_chair_complaint()
        seen = [
            ("c_ticket", complaint, Ticket(
                number="CD-Q1", channel="webchat", conversation_id="c_ticket", customer_id=ada.id, contact="chat",
                contact_kind="chat", category="damaged_item", description="-", desired_outcome="refund",
                severity="formal_complaint", priority="high", priority_score=80, promised_response_at=FIXED_NOW + HOUR)),
            ("c_order", {"reason": "asked", "intent": "contact_human_agent", "recent_intents": ["track_order"],
                         "slots": {"order_number": "QO-1001", "order_verified": True, "customer_name": "Bob",
                                   "customer_tier": "new"}}, None),
            ("c_typed", {"reason": "asked", "recent_intents": ["track_order"],
                         "slots": {"order_number": "QO-1001", "order_verified": "yes"}}, None),
            ("c_learnt", {"reason": "churn_threat", "slots": {"customer_name": "Cleo", "customer_tier": "platinum"}}, None),
            ("c_old", {}, None),
        ]
        for n, (conversation_id, summary, ticket) in enumerate(seen):
            session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
            session.add(Handoff(conversation_id=conversation_id, channel="webchat", reason=summary.get("reason", "asked"),
                                priority="normal", priority_score=50, status="waiting", summary=summary,
                                promised_response_at=FIXED_NOW + HOUR, created_at=FIXED_NOW - dt.timedelta(minutes=10 - n),
                                ticket=ticket))
    statements: list[str] = []
    engine = sessions.kw["bind"].sync_engine
    count = lambda _conn, _cursor, statement, *_args: statements.append(statement)  # noqa: E731
    event.listen(engine, "before_cursor_execute", count)
    try:
        async with sessions() as session:
            items = {i["conversation_id"]: i for i in await queue_items(session, FIXED_NOW)}
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(statements) == 1
    card = {k: (i["customer_name"], i["customer_tier"], i["tier_text"], i["issue"]) for k, i in items.items()}
    assert card == {
        "c_ticket": ("Ada Queue", "vip", "VIP", "Wants a refund for a damaged item, order #10005533"),
        "c_order": ("Bob Order", "new", "New customer", "Wants to know where their order is, order #QO-1001"),
        "c_typed": (None, None, None, "Wants to know where their order is, order #QO-1001"),
        "c_learnt": ("Cleo", None, None, "Thinking of leaving; the topic is not clear yet"),
        "c_old": (None, None, None, "Asked for a person before saying what about"),
    }


async def test_the_detail_names_the_verified_orders_customer_and_sends_words_only(sessions) -> None:
    """conversation_detail: the customer of the order the bot verified (never of one the
    customer only typed), else what the bot learnt; the summary in words, no stored dict."""
    from bot.console.queue import conversation_detail

    async with sessions.begin() as session:
        owner = Customer(email="olga.d@example.com", name="Olga Order", tier="regular")
        session.add(owner)
        await session.flush()
        session.add(Order(number="QO-2002", customer_id=owner.id, status="shipped", items="Lamp",
                          total_cents=4900, placed_at=FIXED_NOW - 30 * HOUR, shipping_address="-", payment_method="card"))
        for conversation_id, slots in [
            ("d_verified", {"order_number": "QO-2002", "order_verified": True, "order_status": "shipped",
                            "order_summary": "Lamp", "customer_name": "Olga", "customer_tier": "regular"}),
            ("d_typed", {"order_number": "QO-2002"}),
            ("d_learnt", {"customer_name": "Cleo", "customer_tier": "new"}),
        ]:
            session.add(Conversation(id=conversation_id, channel="webchat", mode="queued"))
            session.add(Handoff(conversation_id=conversation_id, channel="webchat", reason="asked", priority="normal",
                                priority_score=50, status="waiting", promised_response_at=FIXED_NOW + HOUR,
                                summary={"reason": "asked", "intent": "contact_human_agent",
                                         "recent_intents": ["track_order", "contact_human_agent"], "slots": slots}))
    async with sessions() as session:
        details = {c: await conversation_detail(session, c) for c in ("d_verified", "d_typed", "d_learnt")}
    assert details["d_verified"]["customer"] == {"name": "Olga Order", "tier": "regular", "tier_text": "Regular customer",
                                                 "email": "olga.d@example.com"}
    assert details["d_typed"]["customer"] is None
    assert details["d_learnt"]["customer"] == {"name": "Cleo", "tier": "new", "tier_text": "New customer", "email": None}
    summary = details["d_verified"]["handoff"]["summary"]
    assert summary["wants"] == "Wants to know where their order is, order #QO-2002"
    assert {"key": "order", "label": "Order", "text": "QO-2002: Lamp (shipped)"} in summary["facts"]
    assert {"key": "promised", "label": "Reply promised", "at": (FIXED_NOW + HOUR).isoformat()} in summary["facts"]
    assert set(summary) == {"wants", "facts"}
