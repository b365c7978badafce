"""Satisfaction: a 1-5 rating and an optional comment, stored with the conversation, ticket,
hand-off and channel; then a warm, personal goodbye (the last moment is what is remembered)."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import Resources, channel_of, float_slot, polite_on_failure
from actions.db import repository
from actions.validation import answered_only

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
HIGH_RATING = 4


def read_rating(value: Any) -> int | None:
    text = str(value or "").strip().lower()
    match = re.search(r"\b([1-5])\b", text) or re.fullmatch(r"([1-5])(/5)?", text)
    if match:
        return int(match.group(1))
    for word, number in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", text):
            return number
    return None


class ValidateFeedbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_feedback_form"

    @answered_only
    async def validate_rating(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        rating = read_rating(value)
        if rating is None:
            dispatcher.utter_message(response="utter_rating_invalid")
        return {"rating": None if rating is None else str(rating)}

    @answered_only
    async def validate_feedback_comment(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"feedback_comment": text or "none"}


class ActionSaveFeedback(Resources, Action):
    def name(self) -> str:
        return "action_save_feedback"

    @polite_on_failure
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        rating = read_rating(tracker.get_slot("rating"))
        reset: list[EventType] = [SlotSet("rating", None), SlotSet("feedback_comment", None)]
        if rating is None:
            return reset
        comment = tracker.get_slot("feedback_comment")
        handoff_id = float_slot(tracker, "handoff_id")
        async with self.sessions.begin() as session:
            ticket_id = None
            if tracker.get_slot("ticket_number"):
                try:
                    ticket = await repository.ticket_by_number(session, tracker.get_slot("ticket_number"))
                    ticket_id = ticket.id
                except repository.TicketNotFound:
                    ticket_id = None
            await repository.add_feedback(
                session,
                conversation_id=tracker.sender_id,
                channel=channel_of(tracker),
                rating=rating,
                comment=None if comment in (None, "none") else comment,
                ticket_id=ticket_id,
                handoff_id=int(handoff_id) if handoff_id is not None else None,
            )
        thanks = "utter_feedback_thanks_high" if rating >= HIGH_RATING else "utter_feedback_thanks_low"
        dispatcher.utter_message(response=thanks)
        return reset


class ActionGoodbye(Action):
    def name(self) -> str:
        return "action_goodbye"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        name = tracker.get_slot("customer_name")
        if name:
            dispatcher.utter_message(response="utter_goodbye_named", customer_name=name)
        else:
            dispatcher.utter_message(response="utter_goodbye")
        return []
