"""A ticket's status, only for the customer it belongs to.

Ticket numbers run in sequence, so a number proves nothing. A ticket made in this
conversation is answered at once; any other number needs the email address or phone number
given with the ticket, checked as the order look-up checks an order (three tries here, and
limits across conversations in actions/guessing.py). A number that does not exist is asked
about in the same words as one that does, so the answers never tell which numbers are real.
Only a ticket proved this way (`own_ticket`) may be linked to a hand-off or a rating."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.ext.asyncio import AsyncSession

from actions import guessing, validation
from actions.base import Resources, float_slot, polite_on_failure
from caredesk.db import repository
from caredesk.db.models import Ticket
from caredesk.triage import describe_deadline

MAX_ATTEMPTS = 3
UNVERIFIED = "unverified"
THIS_CONVERSATION = "this conversation"  # ticket_contact when the ticket was made here
TICKET_NUMBER = re.compile(r"\bCD-?\s?(\d{6,9})\b", re.IGNORECASE)
TICKET_RESPONSES = {
    "open": "utter_ticket_open",
    "in_progress": "utter_ticket_in_progress",
    "resolved": "utter_ticket_resolved",
    "closed": "utter_ticket_closed",
}


def ticket_number(value: Any) -> str | None:
    match = TICKET_NUMBER.search(str(value or ""))
    return f"{repository.TICKET_PREFIX}{match.group(1)}" if match else None


def contact_matches(ticket: Ticket, given: Any) -> bool:
    """The email address, or the phone number's digits (the last nine, so a country code or a
    leading zero does not matter), given with the ticket. A chat ticket has no contact to prove."""
    if ticket.contact_kind == "email":
        return validation.email(given) == validation.email(ticket.contact) is not None
    if ticket.contact_kind == "phone":
        ours = re.sub(r"\D", "", ticket.contact)
        theirs = re.sub(r"\D", "", validation.phone(given) or "")
        return len(ours) >= 7 and len(theirs) >= 7 and ours[-9:] == theirs[-9:]
    return False


async def own_ticket(session: AsyncSession, tracker: Tracker, number: str | None) -> Ticket | None:
    """The ticket if this conversation made it or proved its contact, else None."""
    if not number:
        return None
    try:
        ticket = await repository.ticket_by_number(session, number)
    except repository.TicketNotFound:
        return None
    if ticket.conversation_id == tracker.sender_id or tracker.get_slot("ticket_verified") == ticket.number:
        return ticket
    return None


class ValidateTicketStatusForm(Resources, FormValidationAction):
    def name(self) -> str:
        return "validate_ticket_status_form"

    run = polite_on_failure(FormValidationAction.run)

    @validation.answered_only
    async def validate_ticket_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = ticket_number(value)
        if number is None:
            dispatcher.utter_message(response="utter_ticket_number_invalid")
            return {"ticket_number": None}
        async with self.sessions() as session:
            mine = await own_ticket(session, tracker, number)
        if mine is not None:  # nothing to prove: skip the contact question
            return {"ticket_number": number, "ticket_contact": THIS_CONVERSATION}
        return {"ticket_number": number, "ticket_contact": None, "verify_attempts": 0}

    @validation.answered_only
    async def validate_ticket_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        number = tracker.get_slot("ticket_number")
        if value == THIS_CONVERSATION or not number:
            return {"ticket_contact": value}
        now = self.now()
        wanted = guessing.checks(("ticket", number), ("client", guessing.client_of(tracker)))
        async with self.sessions.begin() as session:
            if await guessing.blocked(session, wanted, self.limits, now):
                await guessing.failed(session, guessing.checks(("client", guessing.client_of(tracker))), now)
                dispatcher.utter_message(response="utter_lookup_paused")
                return {"ticket_contact": UNVERIFIED, "verify_attempts": 0}
            try:
                ticket: Ticket | None = await repository.ticket_by_number(session, number)
            except repository.TicketNotFound:
                ticket = None
            if ticket is not None and contact_matches(ticket, value):
                return {"ticket_contact": "proved", "ticket_verified": ticket.number, "verify_attempts": 0}
            await guessing.failed(session, wanted, now)
        attempts = int(float_slot(tracker, "verify_attempts") or 0) + 1
        if attempts >= MAX_ATTEMPTS:
            dispatcher.utter_message(response="utter_ticket_not_verified")
            return {"ticket_contact": UNVERIFIED, "verify_attempts": 0}
        dispatcher.utter_message(response="utter_ticket_contact_mismatch", ticket_number=number)
        return {"ticket_contact": None, "verify_attempts": attempts}


class ActionTicketStatus(Resources, Action):
    """After the form: the status of a ticket this conversation may see."""

    def name(self) -> str:
        return "action_ticket_status"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        reset: list[EventType] = [SlotSet("ticket_contact", None)]
        async with self.sessions() as session:
            ticket = await own_ticket(session, tracker, tracker.get_slot("ticket_number"))
        if ticket is None:  # not proved: the form has said why
            return reset + [SlotSet("ticket_number", None)]
        dispatcher.utter_message(
            response=TICKET_RESPONSES[ticket.status],
            ticket_number=ticket.number,
            promised_time=describe_deadline(ticket.promised_response_at, self.now(), self.company),
        )
        return reset
