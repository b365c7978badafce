"""Complaint intake: feelings before facts, then a form that never makes the customer repeat
what they already said, and a restatement they confirm before the ticket is written."""
from __future__ import annotations

import logging
import re
from typing import Any, Container

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions import sentiment, validation

logger = logging.getLogger(__name__)

# Codes of the category and outcome buttons (domain.yml), and the response that holds the
# words the restatement uses for each, so trainers edit them with the other replies.
CATEGORY_LABELS = {
    "late_delivery": "utter_label_late_delivery",
    "damaged_item": "utter_label_damaged_item",
    "wrong_item": "utter_label_wrong_item",
    "billing_error": "utter_label_billing_error",
    "staff_behaviour": "utter_label_staff_behaviour",
    "other": "utter_label_category_other",
}
OUTCOME_LABELS = {
    "refund": "utter_label_refund",
    "replacement": "utter_label_replacement",
    "repair": "utter_label_repair",
    "apology": "utter_label_apology",
    "other": "utter_label_outcome_other",
}
CATEGORY_WORDS = [
    ("damaged_item", r"broken|damaged|crack|smashed|dented|torn|scratched|defective|faulty|leak|soaked|wet\b|doesn'?t work"),
    ("wrong_item", r"wrong (item|size|colou?r|product|thing)|not what i ordered|different (item|product)"),
    ("late_delivery", r"late|delay|hasn'?t (arrived|come)|not (arrived|delivered)|still waiting|never arrived|where is"),
    ("billing_error", r"charged|overcharg|double|billing|invoice|refund|payment|price"),
    ("staff_behaviour", r"rude|staff|driver|courier|agent|employee|attitude|unprofessional|hung up"),
]
OUTCOME_WORDS = [
    ("refund", r"refund|money back|reimburs"),
    ("replacement", r"replace|new one|exchange|send (it|another) again"),
    ("repair", r"repair|fix"),
    ("apology", r"apolog|sorry"),
]
COMPLAINT_SLOTS = (
    "complaint_category",
    "category_label",
    "complaint_description",
    "desired_outcome",
    "outcome_label",
    "contact",
    "complaint_confirmed",
    "complaint_fixing",
    "complaint_fix",
    "ticket_number",
)
# After a "no" to the restatement the form asks which part to change ("utter_ask_complaint_fix")
# and asks again for that part only: the slots each answer clears.
FIX_PARTS = {
    "category": ("complaint_category", "category_label"),
    "description": ("complaint_description",),
    "outcome": ("desired_outcome", "outcome_label"),
    "contact": ("contact",),
    "order": ("order_number",),
}
FIX_WORDS = [
    ("all", r"\ball\b|everything|whole|start over"),
    ("description", r"descri|happen|story|detail|explain"),
    ("category", r"categor|went wrong|kind of|type of|problem"),
    ("outcome", r"outcome|refund|replace|repair|apolog|money|you do|would like|want"),
    ("contact", r"e-?mail|phone|contact|reach|call me"),
    ("order", r"\border\b"),
]
# The contact "chat": the customer wants the reply in this conversation, not by email or phone.
CHAT_CONTACT = "chat"
CHAT_WORDS = re.compile(
    r"\b((reply|answer|respond|write|message|contact)\w*( to)?( me)? here|in (the|this) chat|rather not"
    r"|don'?t want|no e-?mail|no phone|don'?t have)\b", re.IGNORECASE)
NOT_AN_ANSWER = frozenset({"stop", "contact_human_agent", "objection", "threaten_to_leave"})
LONG_MESSAGE_WORDS = 12
# An answer to "What went wrong?" this long is the story itself: kept as the description too.
STORY_ANSWER_WORDS = 6
EMPATHY = {
    "strong": "utter_complaint_empathy_strong",
    "mild": "utter_complaint_empathy_mild",
    "neutral": "utter_complaint_empathy_neutral",
}


def label(domain: DomainDict, response: str) -> str:
    """The words of a label response. One a trainer deleted reads as its name, and says so
    in the log, rather than failing the customer's complaint."""
    for variation in (domain.get("responses") or {}).get(response) or []:
        if variation.get("text"):
            return str(variation["text"])
    logger.warning("domain.yml has no text for %s; the restatement uses its name", response)
    return response.removeprefix("utter_label_").replace("_", " ")


def code_of(value: Any, codes: Container[str], table: list[tuple[str, str]]) -> str | None:
    """A button's code as it is, else the code guessed from the customer's own words."""
    text = str(value or "").strip()
    return text if text in codes else guess(text, table)


def guess(text: str, table: list[tuple[str, str]]) -> str | None:
    for code, pattern in table:
        if re.search(pattern, text or "", re.IGNORECASE):
            return code
    return None


class ActionAcknowledgeComplaint(Action):
    """The first reply acknowledges the feeling, as strongly as the customer feels it."""

    def name(self) -> str:
        return "action_acknowledge_complaint"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        strength = sentiment.level(sentiment.score(text))
        if sentiment.mentions_leaving(text):
            strength = "strong"
        dispatcher.utter_message(response=EMPATHY[strength])

        # The last complaint's answers are cleared (only those set: every event is loaded and
        # sent again on each later message of the conversation).
        events: list[EventType] = [
            SlotSet(slot, None) for slot in COMPLAINT_SLOTS if tracker.get_slot(slot) is not None
        ]
        # A customer who has already told the story is not asked to tell it again, nor what
        # went wrong when they said it ("I was charged twice"), or chose it with a button.
        if len(text.split()) >= LONG_MESSAGE_WORDS and not text.startswith("/"):
            events.append(SlotSet("complaint_description", text.strip()))
        chosen = next(tracker.get_latest_entity_values("complaint_category"), None)
        category = chosen if chosen in CATEGORY_LABELS else None
        if category is None and not text.startswith("/"):
            category = guess(text, CATEGORY_WORDS)
        if category:
            events += [
                SlotSet("complaint_category", category),
                SlotSet("category_label", label(domain, CATEGORY_LABELS[category])),
            ]
        number = validation.order_number(text)
        if number:
            events.append(SlotSet("order_number", number))
        if tracker.get_slot("order_verified") and tracker.get_slot("order_email"):
            events.append(SlotSet("contact", tracker.get_slot("order_email")))
        return events


class ValidateComplaintForm(FormValidationAction):
    def name(self) -> str:
        return "validate_complaint_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        """After a "no" to the restatement, which part to change comes before the restatement."""
        slots = list(domain_slots)
        if tracker.get_slot("complaint_fixing") and "complaint_confirmed" in slots:
            slots.insert(slots.index("complaint_confirmed"), "complaint_fix")
        return slots

    async def extract_complaint_fix(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        """A typed answer to "which part?" (a button fills the slot through its entity). Asking
        to stop, for a person, or objecting is no answer: the form's rules take those."""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        if (tracker.get_slot("requested_slot") != "complaint_fix" or tracker.get_slot("complaint_fix")
                or intent in NOT_AN_ANSWER):
            return {}
        return {"complaint_fix": tracker.latest_message.get("text") or None}

    @validation.answered_only
    async def validate_order_number(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        # The order number is optional here: an answer without one ("I don't have it") means
        # no order, so a complaint is never held up by this question. A routine question
        # instead of an answer gets its answer, and the form asks again.
        number = validation.order_number(value)
        if number:
            return {"order_number": number}
        question = validation.question_asked(tracker.latest_message, domain.get("responses") or {})
        if question:
            dispatcher.utter_message(response=question)
            return {"order_number": None}
        return {"order_number": "none"}

    @validation.answered_only
    async def validate_complaint_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        code = code_of(text, CATEGORY_LABELS, CATEGORY_WORDS) or "other"
        answer = {"complaint_category": code, "category_label": label(domain, CATEGORY_LABELS[code])}
        if (text not in CATEGORY_LABELS and len(text.split()) >= STORY_ANSWER_WORDS
                and not tracker.get_slot("complaint_description")):
            answer["complaint_description"] = text  # not asked "what happened?" after telling it
        return answer

    @validation.answered_only
    async def validate_complaint_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        return {"complaint_description": text if len(text) >= 3 else None}

    @validation.answered_only
    async def validate_desired_outcome(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        code = code_of(text, OUTCOME_LABELS, OUTCOME_WORDS)
        if code:
            return {"desired_outcome": code, "outcome_label": label(domain, OUTCOME_LABELS[code])}
        # Their own words, quoted, say what they want better than "something else" would.
        return {"desired_outcome": "other",
                "outcome_label": f'"{text}"' if text else label(domain, OUTCOME_LABELS["other"])}

    @validation.answered_only
    async def validate_contact(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        contact = validation.email(value) or validation.phone(value)
        if contact is None and (value == CHAT_CONTACT or CHAT_WORDS.search(str(value or ""))
                                or (tracker.latest_message.get("intent") or {}).get("name") == "deny"):
            contact = CHAT_CONTACT  # a person will answer in this conversation
        if contact is None:
            dispatcher.utter_message(response="utter_contact_invalid")
        return {"contact": contact}

    @validation.answered_only
    async def validate_complaint_confirmed(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is True:
            return {"complaint_confirmed": True, "complaint_fixing": False}
        if value is False:
            # Ask which part is wrong rather than for everything again.
            return {"complaint_confirmed": None, "complaint_fixing": True, "complaint_fix": None}
        # Anything else they type is an addition: keep it and restate again.
        addition = str(value or "").strip()
        description = tracker.get_slot("complaint_description") or ""
        dispatcher.utter_message(response="utter_complaint_addition_noted")
        return {
            "complaint_description": f"{description}\n{addition}".strip(),
            "complaint_confirmed": None,
        }

    @validation.answered_only
    async def validate_complaint_fix(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        part = code_of(value, FIX_PARTS, FIX_WORDS)
        if part in FIX_PARTS:
            cleared = FIX_PARTS[part]
        else:  # "all of it", or words we cannot place: the whole complaint again
            dispatcher.utter_message(response="utter_complaint_correction")
            cleared = tuple(s for s in COMPLAINT_SLOTS if s not in ("contact", "ticket_number"))
        return {**{slot: None for slot in cleared}, "complaint_fix": None, "complaint_fixing": False,
                "complaint_confirmed": None}
