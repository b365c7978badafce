"""How the customer feels, scored on every message (VADER), and whether they threaten to leave.

Runs as the custom slot mapping of `sentiment`, so Rasa calls it after each user message."""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from actions.base import float_slot

STRONGLY_NEGATIVE = -0.6
NEGATIVE = -0.3

LEAVING = re.compile(
    r"\b(never (again )?(order|buy|shop|use)|(go|going|switch|switching|move|moving) to "
    r"(a |your )?(competitor|another shop|another store|amazon|someone else|elsewhere)|"
    r"shop(ping)? elsewhere|take my (business|money) elsewhere|last time i (order|buy|shop)|"
    r"(close|closing|cancel|cancelling) (my|the) account for good|done with (you|this shop|"
    r"northwind)|lost (a|me as a) customer|won'?t be (back|ordering|buying))",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def score(text: str) -> float:
    """VADER compound score, -1 (very negative) to 1 (very positive)."""
    if not text or text.startswith("/"):
        return 0.0
    return float(_analyzer().polarity_scores(text)["compound"])


def level(compound: float) -> str:
    if compound <= STRONGLY_NEGATIVE:
        return "strong"
    if compound <= NEGATIVE:
        return "mild"
    return "neutral"


def mentions_leaving(text: str) -> bool:
    return bool(text) and LEAVING.search(text) is not None


class ActionScoreSentiment(Action):
    def name(self) -> str:
        return "action_score_sentiment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text") or ""
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        compound = score(text)
        lowest = float_slot(tracker, "sentiment_min")
        events: list[EventType] = [
            SlotSet("sentiment", compound),
            SlotSet("sentiment_min", compound if lowest is None else min(lowest, compound)),
        ]
        if intent == "threaten_to_leave" or mentions_leaving(text):
            events.append(SlotSet("churn_threat", True))
        return events
