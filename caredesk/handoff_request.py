"""What an action asks of the gateway when a person should take over: the reason, the
priority, the summary the agent reads first and the promised time the customer was told.

The action server only asks (a custom message in the bot's reply); the gateway's state
machine (bot/lifecycle.py) carries it out, creating the hand-off row and queueing the
conversation in one unit of work. So a hand-off crosses between the processes once, and its
row has one writer. A reply comes from Rasa, which listens on loopback for the token holder,
yet the request is still read field by field: a malformed one is dropped, never half-used."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from caredesk.triage import PRIORITIES

SIGNAL_KEY = "caredesk"
SIGNAL_VALUE = "handoff"
# Why a person takes over. bot_unavailable is the gateway's own (the engine failed).
REASONS = ("asked", "not_understood", "negative_sentiment", "churn_threat", "reply_in_chat", "bot_unavailable")
MAX_SUMMARY_CHARACTERS = 20_000


@dataclass(frozen=True)
class HandoffRequest:
    reason: str
    priority: str
    priority_score: int
    promised_response_at: dt.datetime
    summary: dict[str, Any] = field(default_factory=dict)
    ticket_id: int | None = None

    def to_message(self) -> dict[str, Any]:
        """The custom message an action sends with its reply (Rasa passes it on as is)."""
        return {
            SIGNAL_KEY: SIGNAL_VALUE,
            "request": {
                "reason": self.reason,
                "priority": self.priority,
                "priority_score": self.priority_score,
                "promised_response_at": self.promised_response_at.isoformat(),
                "summary": self.summary,
                "ticket_id": self.ticket_id,
            },
        }

    @classmethod
    def from_message(cls, custom: Any) -> HandoffRequest | None:
        """The request in a reply's custom message, or None when it holds none (or a bad one)."""
        if not isinstance(custom, dict) or custom.get(SIGNAL_KEY) != SIGNAL_VALUE:
            return None
        request = custom.get("request")
        if not isinstance(request, dict):
            return None
        reason, priority = request.get("reason"), request.get("priority")
        score, ticket_id = request.get("priority_score"), request.get("ticket_id")
        summary = request.get("summary")
        if reason not in REASONS or priority not in PRIORITIES:
            return None
        if not _is_int(score) or not 0 <= score <= 1000 or not (ticket_id is None or (_is_int(ticket_id) and ticket_id > 0)):
            return None
        if not isinstance(summary, dict) or len(repr(summary)) > MAX_SUMMARY_CHARACTERS:
            return None
        promised = _aware(request.get("promised_response_at"))
        if promised is None:
            return None
        return cls(reason, priority, int(score), promised, summary, ticket_id)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _aware(value: Any) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.astimezone(dt.timezone.utc) if parsed.tzinfo is not None else None
