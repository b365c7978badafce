"""The team lead's reports: escalation, promises kept and complaint categories, computed from
rows in the real database."""
from datetime import timedelta

from caredesk.db import repository
from caredesk.db.models import Conversation, Handoff, Message, utcnow
from tests.bot.conftest import add_agent, log_in


def handoff(conversation: str, reason: str, promised_in: float, claimed_after: float | None,
            days_ago: float = 0) -> Handoff:
    """`promised_in`, `claimed_after`: hours from the hand-off's creation."""
    created = utcnow() - timedelta(days=days_ago)
    return Handoff(conversation_id=conversation, channel="webchat", reason=reason, priority="normal",
                   priority_score=60, status="claimed" if claimed_after is not None else "waiting", summary={},
                   promised_response_at=created + timedelta(hours=promised_in), created_at=created,
                   claimed_at=None if claimed_after is None else created + timedelta(hours=claimed_after))


async def test_reports_count_escalations_promises_and_complaints(gateway, sessions) -> None:
    assert (await gateway.get("/api/reports")).status == 401
    await add_agent(sessions)
    await log_in(gateway)
    now = utcnow()
    async with sessions.begin() as session:
        session.add_all([Conversation(id=f"c_{index}", channel="webchat") for index in range(9)])
        session.add_all([Conversation(id="c_old", channel="webchat"), Conversation(id="c_silent", channel="webchat")])
        await session.flush()
        for index in range(8):  # eight conversations in which a customer wrote (c_8 only opened the widget)
            session.add(Message(conversation_id=f"c_{index}", sender="customer", text="hello", buttons=[]))
        session.add(Message(conversation_id="c_8", sender="bot", text="Hi! How can I help?", buttons=[]))
        session.add(Message(conversation_id="c_old", sender="customer", text="hi", buttons=[],
                            created_at=now - timedelta(days=45)))
        session.add_all([
            handoff("c_0", "asked", promised_in=2, claimed_after=1),      # kept
            handoff("c_0", "asked", promised_in=2, claimed_after=None),   # the same chat again: open
            handoff("c_1", "churn_threat", promised_in=1, claimed_after=3),  # late
            handoff("c_2", "asked", promised_in=-1, claimed_after=None),  # missed: time passed, nobody came
            handoff("c_old", "fallback", promised_in=1, claimed_after=None, days_ago=45),  # outside 30 days
        ])
        tickets = []
        for category, promised, answered in [
            ("late_delivery", 4, 1), ("late_delivery", 4, 6), ("late_delivery", -1, None),
            ("damaged_item", 4, None), ("billing_error", 4, 2),
        ]:
            ticket = await repository.create_ticket(session, repository.NewTicket(
                channel="webchat", conversation_id="c_3", contact="jo@example.org", contact_kind="email",
                category=category, description="x", desired_outcome="refund", order_number=None,
                sentiment=None, severity="formal_complaint", priority="normal", priority_score=60,
                promised_response_at=now + timedelta(hours=promised),
            ))
            ticket.first_response_at = None if answered is None else now + timedelta(hours=answered)
            tickets.append(ticket)

    report = await (await gateway.get("/api/reports")).json()
    assert report["days"] == 30
    assert report["escalation"] == {"conversations": 8, "handed_to_a_person": 3, "rate_percent": 37.5,
                                    "reasons": {"asked": 3, "churn_threat": 1},
                                    "sample": 8, "small_sample": True}
    assert report["promises"]["handoffs"] == {"kept": 1, "late": 1, "missed": 1, "open": 1, "kept_percent": 33.3,
                                                "sample": 3, "small_sample": True}
    assert report["promises"]["tickets"] == {"kept": 2, "late": 1, "missed": 1, "open": 1, "kept_percent": 50.0,
                                               "sample": 4, "small_sample": True}
    assert report["complaints"] == {"tickets": 5, "categories": [
        {"category": "late_delivery", "tickets": 3, "share_percent": 60.0},
        {"category": "billing_error", "tickets": 1, "share_percent": 20.0},
        {"category": "damaged_item", "tickets": 1, "share_percent": 20.0},
    ], "sample": 5, "small_sample": True}
    assert report["satisfaction"]["bot"] is None and report["satisfaction"]["agents"] == []

    year = await (await gateway.get("/api/reports?days=366")).json()
    assert year["escalation"]["conversations"] == 9 and year["escalation"]["reasons"]["fallback"] == 1
    assert (await gateway.get("/api/reports?days=-3")).status == 400


async def test_reports_on_an_empty_desk_have_no_percentages(gateway, sessions) -> None:
    await add_agent(sessions)
    await log_in(gateway)
    report = await (await gateway.get("/api/reports?days=7")).json()
    assert report["escalation"] == {"conversations": 0, "handed_to_a_person": 0, "rate_percent": None, "reasons": {},
                                    "sample": 0, "small_sample": True}
    assert report["promises"]["tickets"]["kept_percent"] is None
    assert report["complaints"] == {"tickets": 0, "categories": [], "sample": 0, "small_sample": True}
