"""How the customer feels (VADER), and whether they threaten to leave."""
from __future__ import annotations

import re
from functools import lru_cache
from dataclasses import dataclass

from rasa_sdk import Tracker
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

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


@lru_cache(maxsize=4096)
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


@dataclass(frozen=True)
class Mood:
    """How the conversation has felt so far: the latest typed message's score, the lowest, and
    whether the customer threatened to leave."""

    latest: float | None
    lowest: float | None
    churn_threat: bool


def mood_of(tracker: Tracker, *extra_texts: str) -> Mood:
    """Scored from the conversation's own messages at the moment an action needs it (a ticket,
    a hand-off). A slot mapping did this on every message before, which cost Rasa a round trip
    to the action server per message (docs/benchmark.md); the result is the same."""
    scores: list[float] = []
    churn = False
    for event in tracker.events:
        if event.get("event") != "user":
            continue
        text = event.get("text") or ""
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        churn = churn or intent == "threaten_to_leave" or mentions_leaving(text)
        if text and not text.startswith("/"):
            scores.append(score(text))
    for text in extra_texts:
        churn = churn or mentions_leaving(text)
        if text:
            scores.append(score(text))
    return Mood(scores[-1] if scores else None, min(scores) if scores else None, churn)
