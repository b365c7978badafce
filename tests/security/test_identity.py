"""Posing as another customer (issue 16, items 1-4, the actions' side): a ticket's status and
any link to it only for the conversation that made it or a customer who proves its contact;
an email typed as the contact borrows no identity; guessing is limited across conversations;
one hand-off ends in one rating, once. Every check is on the rows in the database."""
from __future__ import annotations

from typing import Any

from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from caredesk.db.models import FailedCheck, Feedback, Handoff, Ticket
from actions.feedback import ActionSaveFeedback
from actions.guessing import Limits
from actions.handoff import ActionHandoff, ActionHandoffEnded
from actions.orders import ValidateOrderLookupForm
from actions.ticket_status import ActionTicketStatus, ValidateTicketStatusForm
from actions.tickets import ActionSubmitComplaint
from tests.actions.trackers import carried_out, responses, tracker
from tests.conftest import FIXED_NOW

VICTIM = {
    "order_number": "10003310", "order_verified": True, "order_email": "tom.becker@example.com",
    "customer_tier": "vip", "complaint_category": "damaged_item",
    "complaint_description": "The espresso machine leaks", "desired_outcome": "refund",
    "contact": "tom.becker@example.com", "complaint_confirmed": True,
}


async def victim_ticket(sessions, company) -> Ticket:  # type: ignore[no-untyped-def]
    await ActionSubmitComplaint(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(
        CollectingDispatcher(), tracker("yes", "affirm", slots=VICTIM, sender_id="c_victim"), {})
    async with sessions() as session:
        return (await session.scalars(select(Ticket).where(Ticket.conversation_id == "c_victim"))).one()


async def ticket_form(sessions, domain, sender: str, client: str | None = None, **kwargs: Any) -> tuple[list[str], dict]:  # type: ignore[no-untyped-def]
    dispatcher = CollectingDispatcher()
    events = await ValidateTicketStatusForm(sessions=sessions, clock=lambda: FIXED_NOW).run(
        dispatcher, tracker(active_loop="ticket_status_form", sender_id=sender, client=client, **kwargs), domain)
    return responses(dispatcher), {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_another_customers_ticket_number_asks_for_its_contact(sessions, company, domain) -> None:
    ticket = await victim_ticket(sessions, company)
    said, slots = await ticket_form(sessions, domain, "c_attacker", text=ticket.number,
                                    extracted={"ticket_number": ticket.number})
    assert "ticket_contact" in slots and slots["ticket_contact"] is None, "the contact is asked"
    # A number that does not exist gets the same question: the answers tell no real numbers.
    said_unknown, unknown = await ticket_form(sessions, domain, "c_attacker", text="CD-999999",
                                              extracted={"ticket_number": "CD-999999"})
    assert said_unknown == said and unknown["ticket_contact"] is None
    # Without the proof, the status action says nothing about the ticket.
    dispatcher = CollectingDispatcher()
    await ActionTicketStatus(sessions=sessions, company=company).run(
        dispatcher, tracker("x", sender_id="c_attacker", slots={"ticket_number": ticket.number}), domain)
    assert dispatcher.messages == []


async def test_the_contact_given_with_the_ticket_proves_it(sessions, company, domain) -> None:
    ticket = await victim_ticket(sessions, company)
    base = {"ticket_number": ticket.number, "requested_slot": "ticket_contact"}
    said, slots = await ticket_form(sessions, domain, "c_other_device", text="someone@example.org",
                                    slots=base, extracted={"ticket_contact": "someone@example.org"})
    assert said == ["utter_ticket_contact_mismatch"] and slots["ticket_contact"] is None
    said, slots = await ticket_form(sessions, domain, "c_other_device", text="it's Tom.Becker@example.com",
                                    slots=base, extracted={"ticket_contact": "it's Tom.Becker@example.com"})
    assert said == [] and slots["ticket_verified"] == ticket.number
    dispatcher = CollectingDispatcher()
    await ActionTicketStatus(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(
        dispatcher, tracker("x", sender_id="c_other_device", slots={**base, **slots}), domain)
    assert responses(dispatcher) == ["utter_ticket_open"]


async def test_the_conversation_that_made_the_ticket_needs_no_proof(sessions, company, domain) -> None:
    ticket = await victim_ticket(sessions, company)
    _, slots = await ticket_form(sessions, domain, "c_victim", text=ticket.number, extracted={"ticket_number": ticket.number})
    assert slots["ticket_contact"] == "this conversation", "nothing to prove: the contact is not asked"


async def test_a_mentioned_ticket_is_never_linked_to_a_handoff_or_a_rating(sessions, company) -> None:
    ticket = await victim_ticket(sessions, company)
    slots = {"ticket_number": ticket.number}
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(
        asked, tracker("a person please", "contact_human_agent", sender_id="c_attacker", slots=slots), {})
    handoff = await carried_out(sessions, asked, "c_attacker")
    assert handoff.ticket_id is None and handoff.summary["ticket"] is None
    assert handoff.priority != "high", "the victim's VIP tier did not come along"
    await ActionSaveFeedback(sessions=sessions).run(
        CollectingDispatcher(), tracker("5", sender_id="c_attacker",
                                        slots={**slots, "rating": "5", "handoff_id": float(handoff.id)}), {})
    async with sessions() as session:
        feedback = (await session.scalars(select(Feedback).where(Feedback.conversation_id == "c_attacker"))).one()
    assert feedback.ticket_id is None


async def test_a_typed_vip_email_borrows_no_name_and_no_priority(sessions, company) -> None:
    borrowed = {**VICTIM, "order_number": "none", "order_verified": None, "order_email": None, "customer_tier": None}
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitComplaint(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(
        dispatcher, tracker("yes", "affirm", slots=borrowed, sender_id="c_pretender"), {})
    async with sessions() as session:
        ticket = (await session.scalars(select(Ticket).where(Ticket.conversation_id == "c_pretender"))).one()
    assert ticket.customer_id is None and ticket.priority == "normal"
    assert not any(e.get("name") in ("customer_name", "customer_tier") for e in events)


async def test_order_guesses_pause_across_conversations(sessions, domain) -> None:
    """20 guesses in 21 s found a real order for a known email; now, after five wrong numbers
    for one email, each in a new chat, even the right number is refused for a while."""
    limits = Limits()
    for attempt in range(limits.per_kind["email"]):
        dispatcher = CollectingDispatcher()
        await ValidateOrderLookupForm(sessions=sessions, clock=lambda: FIXED_NOW).run(dispatcher, tracker(
            "maria.lopez@example.com", active_loop="order_lookup_form", sender_id=f"c_guess{attempt}",
            slots={"order_number": f"1000000{attempt}"}, extracted={"order_email": "maria.lopez@example.com"}), domain)
        assert responses(dispatcher) == ["utter_order_not_verified"]
    dispatcher = CollectingDispatcher()
    events = await ValidateOrderLookupForm(sessions=sessions, clock=lambda: FIXED_NOW).run(dispatcher, tracker(
        "maria.lopez@example.com", active_loop="order_lookup_form", sender_id="c_guess_right",
        slots={"order_number": "10004821"}, extracted={"order_email": "maria.lopez@example.com"}), domain)
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert responses(dispatcher) == ["utter_lookup_paused"] and slots["order_verified"] is False
    async with sessions() as session:
        stored = list((await session.scalars(select(FailedCheck.key))).all())
    assert stored and "maria.lopez@example.com" not in stored, "only digests are kept"


async def test_one_client_guessing_many_emails_pauses_too(sessions, domain) -> None:
    for attempt in range(Limits().per_kind["client"]):
        await ValidateOrderLookupForm(sessions=sessions, clock=lambda: FIXED_NOW).run(CollectingDispatcher(), tracker(
            f"guess{attempt}@example.com", active_loop="order_lookup_form", sender_id=f"c_many{attempt}",
            client="client-1", slots={"order_number": f"2000000{attempt}"},
            extracted={"order_email": f"guess{attempt}@example.com"}), domain)
    dispatcher = CollectingDispatcher()
    await ValidateOrderLookupForm(sessions=sessions, clock=lambda: FIXED_NOW).run(dispatcher, tracker(
        "tom.becker@example.com", active_loop="order_lookup_form", sender_id="c_many_last", client="client-1",
        slots={"order_number": "10003310"}, extracted={"order_email": "tom.becker@example.com"}), domain)
    assert responses(dispatcher) == ["utter_lookup_paused"]
    # Another client is not held back by it.
    dispatcher = CollectingDispatcher()
    await ValidateOrderLookupForm(sessions=sessions, clock=lambda: FIXED_NOW).run(dispatcher, tracker(
        "tom.becker@example.com", active_loop="order_lookup_form", sender_id="c_other", client="client-2",
        slots={"order_number": "10003310"}, extracted={"order_email": "tom.becker@example.com"}), domain)
    assert responses(dispatcher) == []


async def test_ticket_contact_guesses_pause_across_conversations(sessions, company, domain) -> None:
    ticket = await victim_ticket(sessions, company)
    base = {"ticket_number": ticket.number, "requested_slot": "ticket_contact"}
    for attempt in range(Limits().per_kind["ticket"]):
        await ticket_form(sessions, domain, f"c_t{attempt}", text=f"g{attempt}@example.com", slots=base,
                          extracted={"ticket_contact": f"g{attempt}@example.com"})
    said, slots = await ticket_form(sessions, domain, "c_t_last", text="tom.becker@example.com", slots=base,
                                    extracted={"ticket_contact": "tom.becker@example.com"})
    assert said == ["utter_lookup_paused"] and "ticket_verified" not in slots


async def test_one_handoff_ends_in_one_rating_once(sessions, company) -> None:
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company).run(
        asked, tracker("human", "contact_human_agent", sender_id="c_rate"), {})
    await carried_out(sessions, asked, "c_rate")
    async with sessions.begin() as session:
        handoff = (await session.scalars(select(Handoff).where(Handoff.conversation_id == "c_rate"))).one()
        handoff.status, handoff.claimed_by, handoff.agent_username = "claimed", "Dana", "dana"
    slot_sets = []
    for _ in range(3):  # the ending replayed
        events = await ActionHandoffEnded(sessions=sessions, clock=lambda: FIXED_NOW).run(
            CollectingDispatcher(), tracker("/handoff_ended", "handoff_ended", sender_id="c_rate"), {})
        slot_sets.append({e["name"]: e["value"] for e in events})
    assert slot_sets[0]["rate_agent"] is True and slot_sets[0]["handoff_id"] == float(handoff.id)
    assert all(s["rate_agent"] is False and s["handoff_id"] is None for s in slot_sets[1:])
    # Even a rating that names the hand-off again is kept once per part.
    for _ in range(4):
        await ActionSaveFeedback(sessions=sessions).run(CollectingDispatcher(), tracker(
            "1", sender_id="c_rate", slots={"agent_rating": "1", "rating": "1", "handoff_id": float(handoff.id)}), {})
    async with sessions() as session:
        counts = dict((await session.execute(select(Feedback.subject, func.count()).where(
            Feedback.handoff_id == handoff.id).group_by(Feedback.subject))).all())
    assert counts == {"agent": 1, "bot": 1}
