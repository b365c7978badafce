"""The hand-off summary in a colleague's words. The action server stores what it knew when it
asked for a person (actions/handoff.py: intents, slots, sentiment scores); agents read one line
of what the customer wants and a few plain facts instead. Every word comes from
summary_texts.yml, which trainers edit; an intent, slot value or reason that file does not name
is left out, never shown raw. Stored summaries are read defensively: old rows, erased ones ({})
and the gateway's own (bot_unavailable) all render."""
from __future__ import annotations

import functools
import logging
import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml

logger = logging.getLogger(__name__)
DEFAULT_FILE = Path(__file__).with_name("summary_texts.yml")
PLACEHOLDER = re.compile(r"{(\w+)}")
# Order and ticket numbers as the shop writes them; anything else a customer typed is left out.
NUMBER = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{2,19}")
MAX_NAME = 120
MAX_CONTACT = 254
MAX_ITEMS = 160


class SummaryWords:
    """The words of summary_texts.yml, looked up by section and key."""

    def __init__(self, words: Mapping[str, Any]) -> None:
        self._words = _usable(words)

    @classmethod
    def load(cls, path: Path) -> SummaryWords:
        words = yaml.safe_load(path.read_text(encoding="utf-8"))
        if not isinstance(words, dict):
            raise ValueError(f"{path} must hold a mapping of sections")
        logger.info("hand-off summary words from %s", path)
        return cls(words)

    @classmethod
    def default(cls) -> SummaryWords:
        """The bundled file, read once on first use (for callers that are not given one)."""
        return _bundled()

    def phrase(self, *path: Any) -> str | None:
        """The words at `path` (section, key, ...), or None when the file has none there: a
        key that is not text (a stored value of any type) finds nothing."""
        value: Any = self._words
        for key in path:
            value = value.get(key) if isinstance(value, dict) and isinstance(key, str) else None
        return value if isinstance(value, str) else None

    def fill(self, *path: str, **values: str) -> str | None:
        """A template with its {placeholders} filled in; values are never read as templates."""
        template = self.phrase(*path)
        if template is None:
            return None
        return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)

    def number(self, key: str, default: int) -> int:
        value = self._words.get(key)
        return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else default


def _usable(words: Mapping[str, Any]) -> dict[str, Any]:
    """The file's sections with blank entries dropped, once at load, so a look-up per queue
    card is a dictionary read (the queue is rebuilt on every change)."""
    kept: dict[str, Any] = {}
    for key, value in words.items():
        if isinstance(value, Mapping):
            kept[str(key)] = _usable(value)
        elif isinstance(value, str) and value.strip():
            kept[str(key)] = value
        elif isinstance(value, int) and not isinstance(value, bool):
            kept[str(key)] = value
    return kept


@functools.cache
def _bundled() -> SummaryWords:
    return SummaryWords.load(DEFAULT_FILE)


def _text(value: Any, limit: int) -> str | None:
    """A customer's or the shop's text, trimmed to `limit`; None when it is not text."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1].rstrip() + "…"


def _number(value: Any) -> str | None:
    return value if isinstance(value, str) and NUMBER.fullmatch(value) else None


def _score(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def slots_of(summary: Any) -> dict[str, Any]:
    slots = summary.get("slots") if isinstance(summary, dict) else None
    return slots if isinstance(slots, dict) else {}


def _intents(summary: Any) -> list[str]:
    """The intents the bot understood, oldest first, the one at the hand-off last."""
    if not isinstance(summary, dict):
        return []
    recent = summary.get("recent_intents")
    found = [i for i in recent if isinstance(i, str)] if isinstance(recent, list) else []
    latest = summary.get("intent")
    if isinstance(latest, str) and (not found or found[-1] != latest):
        found.append(latest)
    return found


def _reason(summary: Any, reason: str | None) -> str | None:
    stored = summary.get("reason") if isinstance(summary, dict) else None
    return reason or (stored if isinstance(stored, str) else None)


def wants_line(summary: Any, words: SummaryWords, reason: str | None = None) -> str:
    """One line: what the customer wants ("Wants a refund for a damaged item, order #10005533"):
    the complaint's category and outcome, else the latest topic the bot understood, else why a
    person was asked for. Only the order number comes from the customer, and only when it
    looks like one."""
    slots = slots_of(summary)
    category = words.phrase("categories", slots.get("complaint_category"))
    outcome = words.phrase("outcomes", slots.get("desired_outcome"))
    line = None
    if category and outcome:
        line = words.fill("wants", "complaint", outcome=outcome, category=category)
    elif category:
        line = words.fill("wants", "complaint_without_outcome", category=category)
    elif outcome:
        line = words.fill("wants", "outcome_only", outcome=outcome)
    if line is None:
        candidates = [*reversed(_intents(summary)), slots.get("order_request")]
        line = next((p for p in (words.phrase("topics", c) for c in candidates) if p), None)
    if line is None:
        line = words.phrase("wants", "unclear", _reason(summary, reason)) or words.phrase("wants", "unclear", "other") or ""
    order = _number(slots.get("order_number"))
    if order:
        line = words.fill("wants", "with_order", wants=line, order=order) or line
    return line


def _mood_key(score: float) -> str:
    """Bands of the stored VADER scores (-1 to 1; actions/sentiment.py calls -0.6 strongly
    negative), as keys of `moods`."""
    if score <= -0.6:
        return "very_negative"
    if score <= -0.3:
        return "negative"
    if score < 0.3:
        return "neutral"
    return "positive"


def _mood(summary: Any, words: SummaryWords) -> str | None:
    if not isinstance(summary, dict):
        return None
    now, lowest = _score(summary.get("sentiment")), _score(summary.get("sentiment_min"))
    if now is None:
        return None
    feeling = words.phrase("moods", _mood_key(now))
    if feeling and lowest is not None and _mood_key(lowest) != _mood_key(now) and lowest < now:
        worst = words.phrase("moods", _mood_key(lowest))
        if worst:
            return words.fill("moods", "earlier", now=feeling, worst=worst.lower()) or feeling
    return feeling


def _order(slots: Mapping[str, Any], words: SummaryWords) -> str | None:
    number = _number(slots.get("order_number"))
    if number is None:
        return None
    if slots.get("order_verified") is not True:
        return words.fill("order", "unverified", number=number) or number
    items = _text(slots.get("order_summary"), MAX_ITEMS)
    status = words.phrase("statuses", slots.get("order_status"))
    if items and status:
        return words.fill("order", "verified", number=number, items=items, status=status)
    if status:
        return words.fill("order", "verified_without_items", number=number, status=status)
    return number


def _tried(summary: Any, words: SummaryWords, reason: str | None) -> str | None:
    done = _unique(words.phrase("tried", key) for key in [*_intents(summary), reason])
    if not done:
        return None
    joined = (words.phrase("separator") or ", ").join(done)
    return joined[0].upper() + joined[1:]


def _unique(phrases: Iterable[str | None]) -> list[str]:
    seen: list[str] = []
    for phrase in phrases:
        if phrase and phrase not in seen:
            seen.append(phrase)
    return seen


def _contact(slots: Mapping[str, Any], words: SummaryWords) -> str | None:
    contact = slots.get("contact")
    if contact == "chat":
        return words.phrase("contact", "chat")
    return _text(contact, MAX_CONTACT)


def _said(slots: Mapping[str, Any], words: SummaryWords) -> str | None:
    said = _text(slots.get("complaint_description"), words.number("said_length", 200))
    return words.fill("said", text=said) if said else None


def human_summary(summary: Any, words: SummaryWords, *, reason: str | None = None,
                  ticket_number: str | None = None, promised_at: str | None = None) -> dict[str, Any]:
    """What the console shows: the one line, then labelled facts ({key, label, text}; the
    promised time comes as `at`, an ISO time the console shows with how long is left)."""
    slots, why = slots_of(summary), _reason(summary, reason)
    stored_ticket = summary.get("ticket") if isinstance(summary, dict) else None
    values: list[tuple[str, str | None]] = [
        ("why", words.phrase("reasons", why)),
        ("mood", _mood(summary, words)),
        ("order", _order(slots, words)),
        ("ticket", _number(ticket_number) or _number(stored_ticket)),
        ("promised", promised_at),
        ("contact", _contact(slots, words)),
        ("tried", _tried(summary, words, why)),
        ("said", _said(slots, words)),
    ]
    # A fact whose label the file lacks is not shown: removing a label hides that fact.
    facts = [
        {"key": key, "label": label, "at" if key == "promised" else "text": value}
        for key, value in values if value and (label := words.phrase("labels", key))
    ]
    return {"wants": wants_line(summary, words, why), "facts": facts}


def customer_in(summary: Any) -> tuple[str | None, str | None]:
    """The name and tier the bot learnt (a verified order's customer), when no row says more."""
    slots = slots_of(summary)
    tier = slots.get("customer_tier")
    if not isinstance(tier, str) and isinstance(summary, dict):
        tier = summary.get("customer_tier")
    return _text(slots.get("customer_name"), MAX_NAME), tier if isinstance(tier, str) else None


def tier_words(tier: str | None, words: SummaryWords) -> str | None:
    return words.phrase("tiers", tier)
