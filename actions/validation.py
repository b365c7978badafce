"""Reading order numbers, emails and phone numbers out of what customers type, and telling a
question from an answer."""
from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

ORDER_NUMBER = re.compile(r"(?<![\d+\-])#?(\d{6,12})(?![\-\d])")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_CHARS = re.compile(r"\+?[\d\s().\-]{7,}")

Validator = TypeVar("Validator", bound=Callable[..., Awaitable[dict[str, Any]]])

# A message the NLU is this sure is a routine question is answered in the middle of a form;
# below it (a hesitant "I don't have one, I paid by card"), the form takes it as an answer.
QUESTION_CONFIDENCE = 0.7
# Intents with their own reply that are not questions to answer mid-form: a greeting, a
# goodbye, "that's not something I can help with" (which a vague "no idea" can look like),
# and the gateway's signal that an agent handed back.
NOT_QUESTIONS = frozenset({"greet", "goodbye", "out_of_scope", "handoff_ended"})


def answered_only(validate: Validator) -> Validator:
    """For a form's `validate_<slot>` methods. rasa-sdk validates every slot event that ends the
    tracker, including slots an action has just cleared (the complaint acknowledgement clears
    the last complaint's answers right before the form starts). A cleared slot is not an
    answer: it stays empty, so its question gets asked, instead of becoming "other" or an
    "invalid email" message nobody asked for."""
    slot = validate.__name__.removeprefix("validate_")

    @functools.wraps(validate)
    async def checked(self: Any, value: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if value is None:
            return {slot: None}
        return await validate(self, value, *args, **kwargs)

    return checked  # type: ignore[return-value]


def question_asked(latest_message: dict[str, Any], responses: dict[str, Any]) -> str | None:
    """The reply to a routine question asked where the form wanted an answer ("how long does
    delivery take?" when asked for the order number): its `utter_<intent>` response, so the
    form can answer it and ask again. A trainer's new routine intent works here unchanged."""
    intent = latest_message.get("intent") or {}
    name, confidence = intent.get("name"), intent.get("confidence") or 0.0
    response = f"utter_{name}"
    if name and name not in NOT_QUESTIONS and confidence >= QUESTION_CONFIDENCE and response in responses:
        return response
    return None


def order_number(value: Any) -> str | None:
    match = ORDER_NUMBER.search(str(value or ""))
    return match.group(1) if match else None


def email(value: Any) -> str | None:
    match = EMAIL.search(str(value or ""))
    return match.group(0).lower() if match else None


def phone(value: Any) -> str | None:
    for match in PHONE_CHARS.finditer(str(value or "")):
        candidate = match.group(0).strip()
        digits = re.sub(r"\D", "", candidate)
        if 7 <= len(digits) <= 15:
            return candidate
    return None
