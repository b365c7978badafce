"""What a customer's message may say to the engine.

Rasa reads a message that starts with `/` as an intent with entities (`/restart`,
`/track_order{"email": ...}`), so whatever reaches its channel is a command unless the gateway
makes sure it is not. Typed text is always text. A button's payload counts only when it is one
of the buttons the bot offered in the conversation's latest turn; anything else is routed as
the words on the button. Intents that only CareDesk itself may send (the end of a hand-off,
Rasa's session and restart intents) never come from a customer, even on a button."""
from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Set
from typing import Any

# Rasa's own intents and ours that mean "the system says so", never "the customer says so".
INTERNAL_INTENTS = frozenset({"handoff_ended", "restart", "back", "session_start", "nlu_fallback"})
_INTENT = re.compile(r"/([^{@\s]+)")


def intent_of(payload: str) -> str | None:
    """The intent a payload names (`/affirm` -> affirm), or None when it names none."""
    match = _INTENT.match(payload.strip())
    return match.group(1) if match else None


def as_text(text: str) -> str:
    """Typed words as Rasa must read them: as words. Leading slashes go (Rasa strips the
    whitespace around a message itself); nothing else changes, and the transcript keeps what
    the customer typed."""
    stripped = text.strip()
    plain = stripped.lstrip("/").lstrip()
    return plain if plain else stripped.replace("/", " ").strip() or "?"


def offered_payloads(turn: Iterable[list[dict[str, Any]] | None]) -> set[str]:
    """The payloads of the buttons in one bot turn (its lines' button lists)."""
    return {str(button.get("payload")) for buttons in turn for button in buttons or []
            if isinstance(button, dict) and button.get("payload")}


def accepted(payload: str | None, offered: Set[str]) -> str | None:
    """The payload when the bot offered it in its latest turn and it is no internal intent."""
    if payload is None or payload not in offered:
        return None
    intent = intent_of(payload)
    return payload if intent is not None and intent not in INTERNAL_INTENTS else None


def command(payload: str) -> str:
    """A channel's own command (Telegram's /start, /help, /human mapped to an intent): the
    channel chose it, but an internal intent is refused all the same."""
    intent = intent_of(payload)
    if intent is None or intent in INTERNAL_INTENTS:
        raise ValueError(f"not a customer command: {payload!r}")
    return payload


def client_key(kind: str, value: str) -> str:
    """Who sent a message (an address, a Telegram chat), as the actions' limits on guessing
    count it: a digest, so Rasa's tracker store never holds the address itself."""
    return hashlib.sha256(f"{kind}:{value}".encode("utf-8", "replace")).hexdigest()[:32]
