"""The lead's reports from rows in the real database (SQLite and PostgreSQL): the last 8 ISO
weeks, what counts as a complaint (a customer who only asked for a person is not one), time
distributions, each agent's workload, rating comments and the small-sample flags."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import event

from caredesk.db import repository
from caredesk.db.models import AuditEntry, Conversation, Feedback, Handoff, Message, Ticket, utcnow
from caredesk.handoff_request import HandoffRequest
from bot import lifecycle, no_agent
from bot.report_figures import week_starts
from bot.report_times import distributions, workload
from bot.report_weeks import weekly
from bot.reports import complaints, full_report
from tests.bot.conftest import add_agent, log_in
from tests.conftest import FIXED_NOW

NOW = FIXED_NOW  # Tuesday of ISO week 2026-W48
HOUR, DAY = dt.timedelta(hours=1), dt.timedelta(days=1)


def _ticket(conversation_id: str, at: dt.datetime, *, severity: str, category: str, outcome: str = "refund",
            **fields: Any) -> Ticket:
    return Ticket(channel="webchat", conversation_id=conversation_id, contact="jo@example.org", contact_kind="email",
                  category=category, description="-", desired_outcome=outcome, severity=severity,
                  priority="normal", priority_score=60, promised_response_at=at + 4 * HOUR, created_at=at, **fields)


def _handoff(conversation_id: str, reason: str, at: dt.datetime, ticket: Ticket | None = None) -> Handoff:
    return Handoff(conversation_id=conversation_id, channel="webchat", reason=reason, priority="normal",
                   priority_score=60, status="waiting", summary={}, promised_response_at=at + HOUR, created_at=at,
                   ticket=ticket)


async def test_eight_weeks_of_conversations_handoffs_complaints_and_ratings(sessions) -> None:
    this_monday = week_starts(NOW)[-1]
    async with sessions.begin() as session:
        for name, at in [("c_a", NOW - HOUR), ("c_b", NOW - HOUR), ("c_c", NOW - HOUR), ("c_monday", this_monday),
                         ("c_sunday", this_monday - dt.timedelta(seconds=1)), ("c_d", NOW - 14 * DAY),
                         ("c_old", NOW - 70 * DAY)]:
            session.add(Conversation(id=name, channel="webchat", created_at=at))
        await session.flush()
        # c_a only asked for a person; nobody was online, so a follow-up ticket was made.
        asked = await repository.create_handoff(session, conversation_id="c_a", channel="webchat", reason="asked",
                                                priority="normal", priority_score=60, summary={},
                                                promised_response_at=NOW + HOUR)
        asked.created_at = NOW - HOUR
        follow_up = await no_agent.follow_up_ticket(session, asked, contact="webchat conversation c_a",
                                                    contact_kind="chat")
        follow_up.created_at = NOW - HOUR
        # c_d asked too, before follow-ups had their own severity: stored as a formal complaint.
        legacy = _ticket("c_d", NOW - 14 * DAY, severity="formal_complaint", category="other", outcome="other")
        session.add_all([
            _handoff("c_d", "asked", NOW - 14 * DAY, ticket=legacy),
            _handoff("c_b", "churn_threat", NOW - HOUR,
                     ticket=_ticket("c_b", NOW - HOUR, severity="threat_to_leave", category="late_delivery")),
            _ticket("c_c", NOW - HOUR, severity="grumble", category="damaged_item"),
            # A complaint about "something else" that never went to a person: a complaint.
            _ticket("c_d", NOW - 14 * DAY, severity="formal_complaint", category="other", outcome="other"),
            _handoff("c_old", "asked", NOW - 70 * DAY),
        ])
        for rating, subject, at in [(5, "bot", NOW - HOUR), (4, "bot", NOW - 2 * HOUR), (2, "agent", NOW - HOUR),
                                    (3, "bot", NOW - 14 * DAY), (1, "bot", NOW - 70 * DAY)]:
            session.add(Feedback(conversation_id="c_a", channel="webchat", rating=rating, subject=subject,
                                 agent_username="dana" if subject == "agent" else None, created_at=at))
    assert follow_up.severity == "follow_up"

    async with sessions() as session:
        weeks = await weekly(session, NOW)
        by_category = await complaints(session, NOW - 30 * DAY)
    assert [w["week"] for w in weeks["weeks"]] == [f"2026-W{n}" for n in range(41, 49)]
    assert weeks["weeks"][-1]["starts"] == "2026-11-23"
    assert weeks["conversations"] == [0, 0, 0, 0, 0, 1, 1, 4]
    assert weeks["handoffs"] == [0, 0, 0, 0, 0, 1, 0, 2]
    assert weeks["handoff_reasons"] == {"asked": [0, 0, 0, 0, 0, 1, 0, 1], "churn_threat": [0, 0, 0, 0, 0, 0, 0, 1]}
    assert weeks["complaints"] == [0, 0, 0, 0, 0, 1, 0, 2]  # neither asked-only chat counts
    none = {"average": None, "sample": 0, "small_sample": True}
    assert weeks["ratings"] == {
        "bot": [none] * 5 + [{"average": 3.0, "sample": 1, "small_sample": True}, none,
                             {"average": 4.5, "sample": 2, "small_sample": True}],
        "agent": [none] * 7 + [{"average": 2.0, "sample": 1, "small_sample": True}],
    }
    assert by_category["categories"] == [
        {"category": "damaged_item", "tickets": 1, "share_percent": 33.3},
        {"category": "late_delivery", "tickets": 1, "share_percent": 33.3},
        {"category": "other", "tickets": 1, "share_percent": 33.3},
    ]
    assert by_category["sample"] == 3 and by_category["small_sample"] is True


async def test_time_distributions_and_workload_per_agent(sessions) -> None:
    await add_agent(sessions, "dana", "Dana", role="agent")
    await add_agent(sessions, "eli", "Eli", role="agent")
    asked_at = NOW - 3 * HOUR
    request = HandoffRequest(reason="asked", priority="normal", priority_score=60, promised_response_at=NOW)
    async with sessions.begin() as session:
        opened = NOW - 10 * HOUR
        session.add_all([
            _ticket("c_1", opened, severity="grumble", category="billing_error",
                    first_response_at=opened + 30 * dt.timedelta(minutes=1), resolved_at=opened + 5 * HOUR),
            _ticket("c_2", opened, severity="grumble", category="billing_error", first_response_at=opened + 2 * HOUR),
            _ticket("c_3", opened, severity="grumble", category="billing_error"),
        ])
        session.add_all([Conversation(id=f"c_{n}", channel="webchat") for n in (1, 2, 3)])
        await session.flush()
        handoffs = {}
        for n in (1, 2, 3):
            _, handoffs[n] = await lifecycle.hand_over(session, f"c_{n}", request, now=asked_at)
            handoffs[n].created_at = asked_at  # the repository stamps the wall clock
        await session.flush()
        await lifecycle.claim(session, "c_1", handoffs[1], username="dana", name="Dana",
                              now=asked_at + 10 * dt.timedelta(minutes=1), taken_from=None)
        await lifecycle.claim(session, "c_2", handoffs[2], username="eli", name="Eli", now=asked_at + 2 * HOUR,
                              taken_from=None)
        session.add_all([
            Message(conversation_id="c_1", sender="agent", agent_name="Dana", text="Hi, Dana here",
                    created_at=asked_at + 12 * dt.timedelta(minutes=1)),
            Message(conversation_id="c_1", sender="agent", agent_name="Dana", text="Done", created_at=NOW - HOUR),
            Message(conversation_id="c_2", sender="agent", agent_name="Eli", text="Hi",
                    created_at=asked_at + 125 * dt.timedelta(minutes=1)),
            # Replies as the console records them: the first reply of each is what the workload times.
            AuditEntry(actor="dana", action="reply", target="c_1", at=asked_at + 12 * dt.timedelta(minutes=1)),
            AuditEntry(actor="dana", action="reply", target="c_1", at=NOW - HOUR),
            AuditEntry(actor="eli", action="reply", target="c_2", at=asked_at + 125 * dt.timedelta(minutes=1)),
            AuditEntry(actor="eli", action="note", target="c_2", at=asked_at + 3 * dt.timedelta(minutes=1)),
            AuditEntry(actor="eli", action="reply", target="c_1", at=asked_at + 5 * dt.timedelta(minutes=1)),
        ])
        await lifecycle.hand_back(session, "c_1", actor="agent:dana", resolve=True, now=NOW - HOUR)

    async with sessions() as session:
        times = await distributions(session, NOW - 30 * DAY)
        people = await workload(session, NOW - 30 * DAY)
    empty = {"under_15m": 0, "15m_1h": 0, "1h_4h": 0, "4h_24h": 0, "1d_3d": 0, "over_3d": 0}
    assert times["chat_joined"] == {"waiting": 1, "median_seconds": 3900, "p90_seconds": 7200, "sample": 2,
                                    "small_sample": True, "buckets": {**empty, "under_15m": 1, "1h_4h": 1}}
    assert times["ticket_first_response"] == {"waiting": 1, "median_seconds": 4500, "p90_seconds": 7200, "sample": 2,
                                              "small_sample": True, "buckets": {**empty, "15m_1h": 1, "1h_4h": 1}}
    assert times["ticket_resolved"] == {"waiting": 2, "median_seconds": 18000, "p90_seconds": 18000, "sample": 1,
                                        "small_sample": True, "buckets": {**empty, "4h_24h": 1}}
    assert people == [
        {"username": "dana", "name": "Dana", "claimed": 1, "replies": 2, "resolved": 1,
         "first_reply": {"median_seconds": 720, "sample": 1, "small_sample": True}},
        {"username": "eli", "name": "Eli", "claimed": 1, "replies": 2, "resolved": 0,
         "first_reply": {"median_seconds": 7500, "sample": 1, "small_sample": True}},
    ]


async def test_the_page_data_has_comments_newest_first_and_flags_only_small_samples(gateway, sessions) -> None:
    await add_agent(sessions, "lee", "Lee", role="lead")
    await log_in(gateway, "lee")
    now = utcnow()
    async with sessions.begin() as session:
        session.add(Conversation(id="c_x", channel="webchat"))
        await session.flush()
        for n in range(24):  # 24 ratings of the bot: enough to act on
            session.add(Feedback(conversation_id="c_x", channel="webchat", rating=5 if n % 4 else 2, subject="bot",
                                 comment=None if n % 3 else f"comment {n} <b>bold</b>",
                                 created_at=now - dt.timedelta(minutes=n)))
        session.add(Feedback(conversation_id="c_x", channel="webchat", rating=3, subject="bot", comment="",
                             created_at=now))
    report = await (await gateway.get("/api/reports?days=7")).json()
    assert report["small_sample_under"] == 20
    assert report["satisfaction"]["bot"]["sample"] == 25 and report["satisfaction"]["bot"]["small_sample"] is False
    assert report["escalation"]["small_sample"] is True  # no conversation with a customer line
    assert [c["comment"] for c in report["comments"]] == [f"comment {n} <b>bold</b>" for n in range(0, 24, 3)]
    assert report["comments"][0]["rating"] == 2 and report["comments"][1]["rating"] == 5
    assert report["weekly"]["ratings"]["bot"][-1]["sample"] + report["weekly"]["ratings"]["bot"][-2]["sample"] == 25
    assert report["workload"] == [] and report["times"]["chat_joined"]["sample"] == 0


async def test_the_whole_page_costs_a_fixed_number_of_statements(sessions) -> None:
    """One statement per figure: more rows make no more round trips."""
    counts = []
    for batch in range(2):
        async with sessions.begin() as session:
            session.add_all([Conversation(id=f"c_{batch}_{n}", channel="webchat") for n in range(1 + 20 * batch)])
            await session.flush()
            session.add_all([_handoff(f"c_{batch}_{n}", "asked", NOW - HOUR) for n in range(1 + 20 * batch)])
            session.add_all([Feedback(conversation_id=f"c_{batch}_{n}", channel="webchat", rating=4, subject="agent",
                                      agent_username="dana", comment="fine") for n in range(1 + 20 * batch)])
        statements: list[str] = []
        async with sessions() as session:
            engine = session.bind.sync_engine
            listen = lambda *args: statements.append(args[2])  # noqa: E731
            event.listen(engine, "before_cursor_execute", listen)
            try:
                await full_report(session, 30, NOW)
            finally:
                event.remove(engine, "before_cursor_execute", listen)
        counts.append(len(statements))
    assert counts == [17, 17]
