"""Reading order numbers, emails and phone numbers out of what customers type."""
from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

ORDER_NUMBER = re.compile(r"(?<![\d+\-])#?(\d{6,12})(?![\-\d])")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_CHARS = re.compile(r"\+?[\d\s().\-]{7,}")

Validator = TypeVar("Validator", bound=Callable[..., Awaitable[dict[str, Any]]])


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
