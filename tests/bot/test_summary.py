"""The hand-off summary in a colleague's words (bot/console/summary.py): summaries built the way
actions/handoff.py builds them read as plain words, with no intent or slot names, and what the
texts file does not name is left out."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from actions.handoff import handoff_summary
from actions.sentiment import Mood
from bot.console.summary import SummaryWords, human_summary, wants_line
from tests.actions.trackers import tracker, user_event

WORDS = SummaryWords.default()
PROMISED = "2026-12-03T17:00:00+00:00"
# What must never reach an agent's eyes: raw intent or slot names, and the old "Intent:" rows.
RAW = re.compile(r"_|\bIntent:|\baffirm\b|\bdeny\b|\binform\b|complaint fixing|\bTrue\b|\bFalse\b|\bNone\b",
                 re.IGNORECASE)


def damaged_chair_complaint() -> dict[str, Any]:
    """A complaint confirmed and logged, then "can I talk to a human?" (slots as the forms set them)."""
    history = [
        user_event("my new chair arrived broken, I'm furious", "complaint"),
        user_event("the leg snapped the first time I sat on it", "inform"),
        user_event("/inform", "inform"),
        user_event("yes", "affirm"),
    ]
    t = tracker("can I talk to a human", "contact_human_agent", history=history, slots={
        "complaint_category": "damaged_item", "category_label": "an item arrived damaged",
        "complaint_description": "the leg snapped the first time I sat on it",
        "desired_outcome": "refund", "outcome_label": "a refund", "contact": "chat",
        "complaint_confirmed": True, "complaint_fixing": False, "complaint_fix": None,
        "ticket_number": "CD-100001", "promised_time": "by tomorrow (Friday) 13:00",
        "order_number": "10005533", "order_verified": True, "order_status": "delivered",
        "order_summary": "Oak dining chair", "order_email": "ada@example.com",
        "customer_name": "Ada", "customer_tier": "vip", "shop_name": "Northwind Goods", "verify_attempts": 0.0,
    })
    return handoff_summary(t, reason="asked", ticket_number="CD-100001", feeling=Mood(-0.4, -0.8, False))


def late_order_question() -> dict[str, Any]:
    history = [user_event("where is my order 10005533", "track_order"), user_event("no", "deny")]
    t = tracker("a person please", "contact_human_agent", history=history,
                slots={"order_request": "track_order", "order_number": "10005533", "order_verified": None})
    return handoff_summary(t, reason="asked", ticket_number=None, feeling=Mood(-0.1, -0.5, False))


def two_misses() -> dict[str, Any]:
    history = [user_event("hi", "greet"), user_event("blorp zzz", "nlu_fallback")]
    t = tracker("qwx vvv", "nlu_fallback", history=history)
    return handoff_summary(t, reason="not_understood", ticket_number=None, feeling=Mood(0.0, 0.0, False))


def shown(human: dict[str, Any]) -> str:
    """Every word the console would show: the line, the labels and the texts."""
    return "\n".join([human["wants"], *(f'{f["label"]}: {f.get("text", "")}' for f in human["facts"])])


@pytest.mark.parametrize("build", [damaged_chair_complaint, late_order_question, two_misses])
def test_realistic_summaries_read_as_plain_words(build) -> None:  # type: ignore[no-untyped-def]
    summary = build()
    human = human_summary(summary, WORDS, reason=summary["reason"], promised_at=PROMISED)
    text = shown(human)
    assert not RAW.search(text), text
    for name in [*summary["slots"], *summary["recent_intents"]]:
        if "_" in name:  # the raw name, and the old console's prettified one ("Complaint fixing")
            assert name.replace("_", " ").lower() not in text.lower(), name
    assert "\n" not in human["wants"] and len(human["wants"]) < 120


def test_a_complaint_says_what_they_want_about_which_order() -> None:
    human = human_summary(damaged_chair_complaint(), WORDS, reason="asked", promised_at=PROMISED)
    assert human["wants"] == "Wants a refund for a damaged item, order #10005533"
    facts = {f["key"]: f.get("text", f.get("at")) for f in human["facts"]}
    assert facts == {
        "why": "They asked for a person",
        "mood": "Upset now, very upset earlier",
        "order": "10005533: Oak dining chair (delivered)",
        "ticket": "CD-100001",
        "promised": PROMISED,
        "contact": "Here in the chat",
        "tried": "Took the complaint",
        "said": "“the leg snapped the first time I sat on it”",
    }
    assert [f["label"] for f in human["facts"]][:2] == ["Why a person", "Mood"]


def test_a_question_names_its_topic_and_an_unverified_order_stays_a_number() -> None:
    human = human_summary(late_order_question(), WORDS, reason="asked")
    assert human["wants"] == "Wants to know where their order is, order #10005533"
    facts = {f["key"]: f["text"] for f in human["facts"]}
    assert facts["order"] == "10005533, not verified"
    assert facts["tried"] == "Looked up the order"
    assert "promised" not in facts


def test_two_misses_say_so_in_words() -> None:
    human = human_summary(two_misses(), WORDS, reason="not_understood")
    assert human["wants"] == "The bot could not tell what they need: read their last messages"
    assert {f["key"]: f["text"] for f in human["facts"]}["tried"] == "Asked them to rephrase"


def test_unknown_intents_slots_and_values_are_left_out() -> None:
    summary = {"reason": "a_new_reason", "intent": "ask_about_unicorns", "recent_intents": ["ask_about_unicorns"],
               "slots": {"favourite_colour": "teal", "complaint_category": "space_weather", "desired_outcome": "a pony",
                         "order_status": "lost_in_space", "order_number": "not an order number!",
                         "contact": {"nested": "dict"}},
               "sentiment": "very bad", "sentiment_min": None}
    human = human_summary(summary, WORDS, reason="a_new_reason")
    text = shown(human)
    for raw in ("unicorn", "favourite", "teal", "space", "pony", "lost", "not an order", "nested", "very bad"):
        assert raw not in text.lower(), raw
    assert human == {"wants": "Not clear yet: read the conversation", "facts": []}


@pytest.mark.parametrize("stored", [
    {}, None, [], "text", {"slots": "x", "recent_intents": "track_order", "intent": 7, "sentiment": float("nan")},
    {"reason": "bot_unavailable", "intent": None, "recent_intents": [], "recent_messages": ["hello?"], "slots": {},
     "sentiment": None, "sentiment_min": None, "ticket": None, "customer_tier": None, "first_line": 12},
    {"reason": "asked", "intent": "track_order", "slots": {"order_number": "10005533"}},  # an old row: no recent_intents
])
def test_old_erased_and_odd_summaries_still_render(stored: Any) -> None:
    human = human_summary(stored, WORDS, reason="asked", ticket_number="CD-100002")
    assert human["wants"] and not RAW.search(shown(human))
    assert {"key": "ticket", "label": "Ticket", "text": "CD-100002"} in human["facts"]
    json.dumps(human)


def test_the_words_come_from_the_texts_file(tmp_path: Path) -> None:
    file = tmp_path / "words.yml"
    file.write_text("wants:\n  complaint: 'Möchte {outcome} wegen {category}'\n  with_order: '{wants} (Bestellung {order})'\n"
                    "categories: {damaged_item: eines beschädigten Artikels}\noutcomes: {refund: eine Erstattung}\n"
                    "labels: {why: Warum}\nreasons: {asked: Wollte einen Menschen}\n", encoding="utf-8")
    words = SummaryWords.load(file)
    summary = damaged_chair_complaint()
    assert wants_line(summary, words) == "Möchte eine Erstattung wegen eines beschädigten Artikels (Bestellung 10005533)"
    assert human_summary(summary, words, reason="asked")["facts"] == [
        {"key": "why", "label": "Warum", "text": "Wollte einen Menschen"}]


def test_a_placeholder_in_customer_text_is_not_filled_in() -> None:
    summary = {"slots": {"complaint_description": "my name is {text} and {wants}"}}
    facts = human_summary(summary, WORDS)["facts"]
    assert facts == [{"key": "said", "label": "In their words", "text": "“my name is {text} and {wants}”"}]


def test_the_texts_file_names_only_real_intents_codes_and_reasons() -> None:
    """A misspelt key would silently never match: every key is an intent of domain.yml, a
    complaint code of the forms, a hand-off reason or an order status."""
    import yaml

    from actions.complaints import CATEGORY_LABELS, OUTCOME_LABELS
    from bot.console.summary import DEFAULT_FILE
    from caredesk.handoff_request import REASONS
    from caredesk.settings import PROJECT_ROOT

    texts = yaml.safe_load(DEFAULT_FILE.read_text(encoding="utf-8"))
    intents = set(yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))["intents"])
    assert set(texts["topics"]) <= intents
    assert set(texts["tried"]) <= intents | set(REASONS)
    assert set(texts["categories"]) == set(CATEGORY_LABELS) and set(texts["outcomes"]) == set(OUTCOME_LABELS)
    assert set(texts["reasons"]) == set(REASONS) and set(texts["wants"]["unclear"]) == {*REASONS, "other"}
    assert set(texts["statuses"]) == {"processing", "shipped", "delivered", "cancelled"}
