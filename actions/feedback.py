"""Satisfaction: a 1-5 rating and an optional comment, stored with the conversation, ticket,
hand-off and channel; then a warm, personal goodbye (the last moment is what is remembered).
After a person from the team took over, their part and the bot's part are rated apart (one
tap each): a low rating then says whom the team lead should look at."""
from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.base import Resources, channel_of, float_slot, polite_on_failure
from caredesk.db import repository
from caredesk.db.models import Handoff
from actions.ticket_status import own_ticket
from actions.validation import answered_only

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
HIGH_RATING = 4
# What a typed answer to the agent's rating cannot be: the form's rules take these.
NOT_AN_ANSWER = frozenset({"stop", "contact_human_agent", "objection"})
# "No thanks" to a rating question: the customer does not want to rate, and is not asked again.
SKIP_WORDS = re.compile(r"\b(no thanks?|no thank you|skip|rather not|don'?t want to|not now)\b", re.IGNORECASE)
SKIPPED = "skipped"
FEEDBACK_SLOTS = ("rating", "agent_rating", "feedback_comment", "rate_agent", "agent_name")


def read_rating(value: Any) -> int | None:
    text = str(value or "").strip().lower()
    match = re.search(r"\b([1-5])\b", text) or re.fullmatch(r"([1-5])(/5)?", text)
    if match:
        return int(match.group(1))
    for word, number in NUMBER_WORDS.items():
        if re.search(rf"\b{word}\b", text):
            return number
    return None


def declined(value: Any, tracker: Tracker) -> bool:
    """A "No thanks" (button or words) instead of a number: rating is never forced on anyone."""
    if value == SKIPPED:
        return True
    if read_rating(value) is not None:
        return False
    intent = (tracker.latest_message.get("intent") or {}).get("name")
    return intent == "deny" or bool(SKIP_WORDS.search(str(value or "")))


def _checked(value: Any, dispatcher: CollectingDispatcher) -> str | None:
    rating = read_rating(value)
    if rating is None:
        dispatcher.utter_message(response="utter_rating_invalid")
    return None if rating is None else str(rating)


class ValidateFeedbackForm(FormValidationAction):
    def name(self) -> str:
        return "validate_feedback_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """After a hand-off the person's part is rated first (it is the freshest), then ours.
        `agent_rating` ("utter_ask_agent_rating") is not in the domain's form list, so Rasa
        never asks it on its own."""
        slots = list(domain_slots)
        if tracker.get_slot("rate_agent") and "agent_rating" not in slots:
            slots.insert(0, "agent_rating")
        return slots

    async def extract_agent_rating(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A typed answer to the agent's rating (a button fills it through its entity)."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if (tracker.get_slot("requested_slot") != "agent_rating" or tracker.get_slot("agent_rating")
                or intent in NOT_AN_ANSWER):
            return {}
        return {"agent_rating": tracker.latest_message.get("text") or None}

    @answered_only
    async def validate_rating(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if declined(value, tracker):
            return {"rating": SKIPPED, "feedback_comment": "none"}
        return {"rating": _checked(value, dispatcher)}

    @answered_only
    async def validate_agent_rating(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if declined(value, tracker):  # no to the first question is no to the survey
            return {"agent_rating": SKIPPED, "rating": SKIPPED, "feedback_comment": "none"}
        return {"agent_rating": _checked(value, dispatcher)}

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
        bot_rating = read_rating(tracker.get_slot("rating"))
        agent_rating = read_rating(tracker.get_slot("agent_rating"))
        reset: list[EventType] = [SlotSet(slot, None) for slot in FEEDBACK_SLOTS if tracker.get_slot(slot) is not None]
        if bot_rating is None and agent_rating is None:
            return reset  # stopped before the first rating: nothing to keep
        comment = tracker.get_slot("feedback_comment")
        comment = None if comment in (None, "none") else comment
        handoff_id = float_slot(tracker, "handoff_id")
        async with self.sessions.begin() as session:
            ticket = await own_ticket(session, tracker, tracker.get_slot("ticket_number"))
            handoff = await session.get(Handoff, int(handoff_id)) if handoff_id is not None else None
            if handoff is not None and handoff.conversation_id != tracker.sender_id:
                handoff = None  # never another conversation's hand-off
            common = {"conversation_id": tracker.sender_id, "channel": channel_of(tracker),
                      "ticket_id": ticket.id if ticket else None, "handoff_id": handoff.id if handoff else None}
            if agent_rating is not None and not (handoff and await repository.rated(session, handoff.id, "agent")):
                # The comment follows both questions; it is kept once, with the latest part.
                await repository.add_feedback(session, **common, rating=agent_rating, comment=comment,
                                              subject="agent", agent_username=handoff.agent_username if handoff else None)
                comment = None
            if bot_rating is not None and not (handoff and await repository.rated(session, handoff.id, "bot")):
                await repository.add_feedback(session, **common, rating=bot_rating, comment=comment, subject="bot")
        lowest = min(r for r in (bot_rating, agent_rating) if r is not None)
        thanks = "utter_feedback_thanks_high" if lowest >= HIGH_RATING else "utter_feedback_thanks_low"
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
