"""A desk's worth of conversations and tickets for the Inbox tests (unit, security, browser).

Rows are written directly, as the gateway would have left them: "closed" is the state
bot/lifecycle.py gives a conversation an agent resolved. Times count from FIXED_NOW."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from caredesk.db.models import Conversation, Customer, Handoff, Message, Note, Ticket, TicketEvent
from tests.conftest import FIXED_NOW

MINUTE = dt.timedelta(minutes=1)
HOUR = dt.timedelta(hours=1)
SMASHED = "My lamp arrived completely smashed"
GRINDING = "the blender makes a grinding noise"


def _ticket(number: str, conversation_id: str, customer_id: int | None, **fields: Any) -> Ticket:
    values: dict[str, Any] = dict(
        number=number, channel="webchat", conversation_id=conversation_id, customer_id=customer_id,
        contact="chat", contact_kind="chat", category="damaged_item", description="-", desired_outcome="refund",
        severity="formal_complaint", priority="normal", priority_score=50, status="open",
        promised_response_at=FIXED_NOW + 4 * HOUR, created_at=FIXED_NOW - 3 * HOUR, updated_at=FIXED_NOW - 3 * HOUR)
    values.update(fields)
    return Ticket(**values)


def _lines(conversation_id: str, start: dt.datetime, *lines: tuple[str, str]) -> list[Message]:
    return [Message(conversation_id=conversation_id, sender=sender, text=text, created_at=start + n * MINUTE,
                    agent_name="Dana" if sender == "agent" else None)
            for n, (sender, text) in enumerate(lines)]


async def seed_inbox(sessions) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """Six conversations (see each comment); returns the demo customers' ids by first name."""
    async with sessions.begin() as session:
        people = {c.name.split()[0].lower(): c.id for c in (await session.scalars(select(Customer))).all()}
        maria, tom, aisha = people["maria"], people["tom"], people["aisha"]
        session.add_all([
            # with Dana, who answered last: mine (dana), open, waiting on the customer
            Conversation(id="c_live", channel="webchat", mode="agent", agent_username="dana", agent_name="Dana",
                         created_at=FIXED_NOW - 2 * HOUR, updated_at=FIXED_NOW - 50 * MINUTE),
            # waiting in the queue, past its promise: unassigned, open, overdue
            Conversation(id="tg_555", channel="telegram", mode="queued",
                         created_at=FIXED_NOW - 3 * HOUR, updated_at=FIXED_NOW - 3 * HOUR),
            # resolved by Dana, answered in time: resolved, met
            Conversation(id="c_closed", channel="webchat", mode="closed",
                         created_at=FIXED_NOW - 30 * HOUR, updated_at=FIXED_NOW - 26 * HOUR),
            # the bot alone, no ticket: only in "all"
            Conversation(id="c_bot", channel="webchat", mode="bot",
                         created_at=FIXED_NOW - 10 * HOUR, updated_at=FIXED_NOW - 10 * HOUR),
            # with Eli; the customer wrote last: open, Eli's, not waiting on the customer
            Conversation(id="c_eli", channel="webchat", mode="agent", agent_username="eli", agent_name="Eli",
                         created_at=FIXED_NOW - 5 * HOUR, updated_at=FIXED_NOW - 5 * HOUR),
        ])
        await session.flush()
        session.add_all([
            *_lines("c_live", FIXED_NOW - 2 * HOUR, ("customer", SMASHED), ("agent", "A new lamp is on its way")),
            *_lines("tg_555", FIXED_NOW - 4 * HOUR, ("customer", "where is my refund? 100% fed up, now_please")),
            *_lines("c_closed", FIXED_NOW - 30 * HOUR, ("customer", GRINDING), ("agent", "Replacement sent")),
            *_lines("c_bot", FIXED_NOW - 10 * HOUR, ("customer", "any discount? 50% off would be nice"),
                    ("bot", "Here are our offers")),
            *_lines("c_eli", FIXED_NOW - 6 * HOUR, ("agent", "Let me check"), ("customer", "still waiting")),
        ])
        tickets = [
            _ticket("CD-100001", "c_live", maria, status="in_progress", priority="high",
                    first_response_at=FIXED_NOW - 110 * MINUTE),
            _ticket("CD-100002", "tg_555", tom, channel="telegram", priority="urgent", category="late_delivery",
                    promised_response_at=FIXED_NOW - HOUR),
            _ticket("CD-100003", "c_closed", aisha, status="resolved", first_response_at=FIXED_NOW - 29 * HOUR,
                    promised_response_at=FIXED_NOW - 28 * HOUR, resolved_at=FIXED_NOW - 26 * HOUR,
                    updated_at=FIXED_NOW - 26 * HOUR),
            # written off-hours through Rasa's own REST channel: no conversation row at all
            _ticket("CD-100004", "rest_offhours", maria, channel="rest", priority="low", category="billing_error",
                    contact="maria.lopez@example.com", contact_kind="email",
                    promised_response_at=FIXED_NOW + 20 * HOUR, created_at=FIXED_NOW - 12 * HOUR,
                    updated_at=FIXED_NOW - 12 * HOUR),
            _ticket("CD-100005", "c_eli", tom, status="in_progress", promised_response_at=FIXED_NOW + HOUR / 2,
                    updated_at=FIXED_NOW - 5 * HOUR),
        ]
        session.add_all(tickets)
        await session.flush()
        session.add_all([
            TicketEvent(ticket_id=tickets[2].id, kind="created", actor="bot", to_status="open",
                        created_at=FIXED_NOW - 30 * HOUR),
            TicketEvent(ticket_id=tickets[2].id, kind="status_changed", actor="agent:dana", from_status="open",
                        to_status="resolved", created_at=FIXED_NOW - 26 * HOUR),
            Note(conversation_id="c_closed", ticket_id=tickets[2].id, author="Dana", text="Courier confirmed",
                 created_at=FIXED_NOW - 27 * HOUR),
            # Dana claimed c_closed before resolving it (the conversation no longer names her)
            Handoff(conversation_id="c_closed", channel="webchat", ticket_id=tickets[2].id, reason="asked",
                    priority="normal", priority_score=50, status="ended", summary={},
                    promised_response_at=FIXED_NOW - 28 * HOUR, created_at=FIXED_NOW - 30 * HOUR,
                    claimed_at=FIXED_NOW - 29 * HOUR, claimed_by="Dana", agent_username="dana",
                    ended_at=FIXED_NOW - 26 * HOUR),
        ])
    return {"maria": maria, "tom": tom, "aisha": aisha}
