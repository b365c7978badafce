"""Reading order numbers, emails and phone numbers out of what customers type."""
from __future__ import annotations

import re
from typing import Any

ORDER_NUMBER = re.compile(r"(?<![\d+\-])#?(\d{6,12})(?![\-\d])")
EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}")
PHONE_CHARS = re.compile(r"\+?[\d\s().\-]{7,}")


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
