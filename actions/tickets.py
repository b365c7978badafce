"""A confirmed complaint becomes a ticket with a priority and a promised first-response time;
strongly negative or churning customers are also handed to a person at once."""
from __future__ import annotations

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import sentiment
from actions.base import Resources, channel_of, polite_on_failure
from actions.complaints import CHAT_CONTACT
from caredesk.db import repository
from actions.handoff import ask_for_a_person, request_for
from caredesk.triage import describe_deadline, prioritise, promised_response_at, severity_of
from actions.validation import email as read_email



class ActionSubmitComplaint(Resources, Action):
    def name(self) -> str:
        return "action_submit_complaint"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        now = self.now()
        description = tracker.get_slot("complaint_description") or ""
        contact = tracker.get_slot("contact") or ""
        # "Reply to me here in the chat": a person answers in this conversation (a hand-off).
        in_chat = contact == CHAT_CONTACT
        outcome = tracker.get_slot("desired_outcome") or "other"
        feeling = sentiment.mood_of(tracker, description)
        mood, churn = feeling.lowest, feeling.churn_threat
        order_number = tracker.get_slot("order_number")
        if order_number in ("none", "unverified"):
            order_number = None

        async with self.sessions.begin() as session:
            # Only a customer proved by the order look-up: an email typed as the contact is
            # anyone's to type, so it never brings a name, a tier or a priority with it.
            customer = None
            verified_email = tracker.get_slot("order_email") if tracker.get_slot("order_verified") else None
            if verified_email and verified_email != "unverified":
                customer = await repository.customer_by_email(session, verified_email)
            tier = customer.tier if customer else tracker.get_slot("customer_tier")
            severity = severity_of(churn_threat=churn, desired_outcome=outcome, text=description)
            priority = prioritise(severity=severity, sentiment=mood, tier=tier)
            promised = promised_response_at(now, priority.label, self.company)
            ticket = await repository.create_ticket(
                session,
                repository.NewTicket(
                    channel=channel_of(tracker),
                    conversation_id=tracker.sender_id,
                    contact=f"{channel_of(tracker)} conversation {tracker.sender_id}" if in_chat else contact,
                    contact_kind="chat" if in_chat else "email" if read_email(contact) else "phone",
                    category=tracker.get_slot("complaint_category") or "other",
                    description=description,
                    desired_outcome=outcome,
                    order_number=order_number,
                    sentiment=mood,
                    severity=severity,
                    priority=priority.label,
                    priority_score=priority.score,
                    promised_response_at=promised,
                    customer_id=customer.id if customer else None,
                ),
            )
            promised_text = describe_deadline(promised, now, self.company)
            events: list[EventType] = [
                SlotSet("ticket_number", ticket.number),
                SlotSet("promised_time", promised_text),
                SlotSet("complaint_confirmed", None),
            ]
            dispatcher.utter_message(
                response="utter_ticket_created",
                ticket_number=ticket.number,
                promised_time=promised_text,
            )
            upset = churn or (mood is not None and mood <= sentiment.STRONGLY_NEGATIVE)
            if not (upset or in_chat):
                return events
            reason = "churn_threat" if churn else "negative_sentiment" if upset else "reply_in_chat"
            request = request_for(tracker, reason=reason, priority=priority, promised=promised, feeling=feeling,
                                  ticket=(ticket.id, ticket.number or ""))
            dispatcher.utter_message(response="utter_handoff_complaint" if upset else "utter_handoff_reply_in_chat",
                                     promised_time=promised_text)
            return events + ask_for_a_person(dispatcher, tracker, request)
