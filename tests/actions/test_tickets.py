import datetime as dt

from sqlalchemy import select

from caredesk.db import repository
from caredesk.db.models import Handoff, Ticket, TicketEvent
from actions.tickets import ActionSubmitComplaint
from rasa_sdk.events import ActionExecuted, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from actions.sentiment import score
from tests.actions.trackers import carried_out, requests, responses, signals, tracker, user_event
from tests.conftest import FIXED_NOW

import pytest

COMPLAINT = {
    "order_number": "10005533",
    "complaint_category": "damaged_item",
    "complaint_description": "The speaker arrived with a cracked grille",
    "desired_outcome": "replacement",
    "contact": "maria.lopez@example.com",
    "complaint_confirmed": True,
}
FURIOUS = user_event("This is disgusting, the worst service ever and I am furious", "complain")
LEAVING = user_event("I will take my business elsewhere", "complain")


async def submit(sessions, company, slots, sender_id="conv-complaint", channel="webchat", history=None):
    dispatcher = CollectingDispatcher()
    action = ActionSubmitComplaint(sessions=sessions, company=company, clock=lambda: FIXED_NOW)
    events = await action.run(dispatcher, tracker("yes", "affirm", slots=slots, sender_id=sender_id, channel=channel, history=history), {})
    if requests(dispatcher):  # the gateway carries out the request the action sent
        await carried_out(sessions, dispatcher, sender_id, channel)
    async with sessions() as session:
        tickets = (await session.scalars(select(Ticket).order_by(Ticket.id))).all()
        handoffs = (await session.scalars(select(Handoff))).all()
        history = (await session.scalars(select(TicketEvent).order_by(TicketEvent.id))).all()
    return dispatcher, events, tickets, handoffs, history


async def test_a_confirmed_complaint_becomes_a_ticket_with_a_promise(sessions, company) -> None:
    dispatcher, events, [ticket], handoffs, history = await submit(sessions, company, COMPLAINT)
    assert ticket.number == f"CD-{100000 + ticket.id}"
    assert (ticket.channel, ticket.conversation_id) == ("webchat", "conv-complaint")
    assert ticket.contact == "maria.lopez@example.com" and ticket.contact_kind == "email"
    assert ticket.category == "damaged_item" and ticket.desired_outcome == "replacement"
    assert ticket.order_number == "10005533" and ticket.description.startswith("The speaker")
    assert ticket.severity == "formal_complaint" and ticket.priority == "normal"
    assert ticket.status == "open"
    assert ticket.sentiment == min(score("yes"), score(COMPLAINT["complaint_description"])), "the lowest of the conversation"
    assert ticket.customer_id is None, "an email typed as the contact proves nobody"
    # normal priority = 8 business hours from Tuesday 10:00 Berlin -> closing time, 18:00
    assert ticket.promised_response_at == dt.datetime(2026, 11, 24, 17, 0, tzinfo=dt.timezone.utc)
    assert [(e.kind, e.to_status) for e in history] == [("created", "open")]
    assert handoffs == []
    assert responses(dispatcher) == ["utter_ticket_created"] and signals(dispatcher) == []
    assert dispatcher.messages[0]["ticket_number"] == ticket.number
    assert dispatcher.messages[0]["promised_time"] == "today 18:00"
    assert SlotSet("ticket_number", ticket.number) in events
    assert not any(e.get("name") in ("customer_name", "customer_tier") for e in events)
    assert not any(e["event"] == "pause" for e in events)


async def test_vip_customers_proved_by_their_order_get_a_higher_priority(sessions, company) -> None:
    proved = {**COMPLAINT, "contact": "tom.becker@example.com", "order_number": "10003310",
              "order_verified": True, "order_email": "tom.becker@example.com", "customer_tier": "vip"}
    _, _, [ticket], _, _ = await submit(sessions, company, proved)
    assert ticket.priority == "high" and ticket.priority_score == 85


async def test_strongly_negative_complaint_is_handed_to_a_person(sessions, company) -> None:
    dispatcher, events, [ticket], [handoff], history = await submit(
        sessions, company, COMPLAINT, history=[FURIOUS]
    )
    assert responses(dispatcher) == ["utter_ticket_created", "utter_handoff_complaint"]
    assert len(requests(dispatcher)) == 1
    assert handoff.reason == "negative_sentiment" and handoff.ticket_id == ticket.id
    assert handoff.status == "waiting" and handoff.priority == ticket.priority == "high"
    assert handoff.summary["ticket"] == ticket.number
    assert handoff.summary["slots"]["complaint_category"] == "damaged_item"
    assert [e.kind for e in history] == ["created", "escalated"]
    assert events[-2:] == [ActionExecuted("action_listen"), ConversationPaused()]


async def test_a_threat_to_leave_is_urgent_and_escalated(sessions, company) -> None:
    _, events, [ticket], [handoff], _ = await submit(sessions, company, COMPLAINT, history=[LEAVING])
    assert ticket.severity == "threat_to_leave" and ticket.priority == "urgent"
    assert handoff.reason == "churn_threat"
    assert ticket.promised_response_at == dt.datetime(2026, 11, 24, 10, 0, tzinfo=dt.timezone.utc)
    assert events[-2:] == [ActionExecuted("action_listen"), ConversationPaused()]


async def test_a_phone_contact_and_no_order(sessions, company) -> None:
    _, _, [ticket], _, _ = await submit(sessions, company, {**COMPLAINT, "contact": "+44 7700 900123", "order_number": "none"})
    assert ticket.contact_kind == "phone" and ticket.order_number is None and ticket.customer_id is None


async def test_a_reply_in_the_chat_queues_the_ticket_for_a_person(sessions, company) -> None:
    dispatcher, events, [ticket], [handoff], _ = await submit(
        sessions, company, {**COMPLAINT, "contact": "chat"}, sender_id="c_chat", channel="webchat")
    assert (ticket.contact_kind, ticket.contact) == ("chat", "webchat conversation c_chat")
    assert handoff.reason == "reply_in_chat" and handoff.ticket_id == ticket.id
    assert handoff.promised_response_at == ticket.promised_response_at
    assert responses(dispatcher) == ["utter_ticket_created", "utter_handoff_reply_in_chat"]
    assert len(requests(dispatcher)) == 1
    assert events[-2:] == [ActionExecuted("action_listen"), ConversationPaused()]
    # Upset as well: one hand-off, for the stronger reason.
    dispatcher, _, tickets, handoffs, _ = await submit(
        sessions, company, {**COMPLAINT, "contact": "chat"}, sender_id="c_chat2", history=[FURIOUS])
    assert [h.reason for h in handoffs if h.conversation_id == "c_chat2"] == ["negative_sentiment"]
    assert responses(dispatcher) == ["utter_ticket_created", "utter_handoff_complaint"]


async def test_ticket_status_moves_forward_and_keeps_history(sessions, company) -> None:
    _, _, [ticket], _, _ = await submit(sessions, company, COMPLAINT)
    async with sessions.begin() as session:
        row = await repository.ticket_by_number(session, ticket.number)
        for status in ("in_progress", "resolved", "closed"):
            await repository.change_ticket_status(session, row, status, actor="agent:dana")
        with pytest.raises(repository.InvalidStatusChange):
            await repository.change_ticket_status(session, row, "open", actor="agent:dana")
    async with sessions() as session:
        row = await repository.ticket_by_number(session, ticket.number)
        events = (await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == row.id).order_by(TicketEvent.id))).all()
    assert row.status == "closed" and row.resolved_at is not None and row.closed_at is not None
    assert [(e.from_status, e.to_status) for e in events] == [
        (None, "open"), ("open", "in_progress"), ("in_progress", "resolved"), ("resolved", "closed")
    ]


async def test_a_customer_proved_by_the_order_look_up_is_linked(sessions, company) -> None:
    verified = {**COMPLAINT, "order_verified": True, "order_email": "maria.lopez@example.com"}
    _, _, [ticket], _, _ = await submit(sessions, company, verified)
    async with sessions() as session:
        customer = await repository.customer_by_email(session, "maria.lopez@example.com")
    assert customer is not None and ticket.customer_id == customer.id
