from actions.sentiment import level, mentions_leaving, mood_of, score
from actions.session import ActionSessionStart
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import tracker, user_event


async def test_session_start_loads_company_facts_and_keeps_what_the_customer_said(company, domain) -> None:
    t = tracker("hi", "greet", slots={"customer_name": "Maria", "shop_name": "Old Name"})
    events = await ActionSessionStart(company=company).run(CollectingDispatcher(), t, domain)
    assert events[0] == SessionStarted() and events[-1] == ActionExecuted("action_listen")
    slots = {e["name"]: e["value"] for e in events if e["event"] == "slot"}
    assert slots["shop_name"] == "Northwind Goods"
    assert slots["customer_name"] == "Maria"
    assert slots["delivery_options"].startswith("- Standard")
    assert slots["return_window_days"] == "30"
    # every fact the replies use is a slot in the domain
    assert set(company.slot_values()) <= set(domain["slots"])


def test_sentiment_levels() -> None:
    assert level(score("This is the worst, most disgusting service, I am furious and disgusted")) == "strong"
    assert level(score("a bit disappointed, the box was dented")) == "mild"
    assert level(score("hello, what are your opening hours")) == "neutral"
    assert score("/inform{\"rating\":\"5\"}") == 0.0


def test_threats_to_leave_are_noticed() -> None:
    assert mentions_leaving("I'll take my business elsewhere")
    assert mentions_leaving("this is the last time i order here")
    assert not mentions_leaving("I'd like to leave a review")


def test_mood_is_read_from_the_whole_conversation() -> None:
    history = [
        user_event("This is the worst service, I am furious and disgusted", "complain"),
        user_event('/inform{"rating":"1"}', "inform"),
    ]
    mood = mood_of(tracker("thanks, that's great", "thank", history=history))
    assert mood.latest is not None and mood.latest > 0.5, "the latest typed message"
    assert mood.lowest is not None and mood.lowest <= -0.6, "the lowest of the conversation"
    assert not mood.churn_threat
    assert mood_of(tracker('/inform{"rating":"5"}', "inform")) == type(mood)(None, None, False), "buttons carry no feeling"


def test_a_threat_to_leave_anywhere_in_the_conversation_counts() -> None:
    by_intent = tracker("ok", "affirm", history=[user_event("you lost me", "threaten_to_leave")])
    by_words = tracker("thanks", "thank", history=[user_event("I will shop elsewhere from now on", "complain")])
    assert mood_of(by_intent).churn_threat and mood_of(by_words).churn_threat
    assert not mood_of(tracker("where is my parcel", "track_order")).churn_threat
    assert mood_of(tracker("ok", "affirm"), "I'll take my business elsewhere").churn_threat, "extra text counts too"
