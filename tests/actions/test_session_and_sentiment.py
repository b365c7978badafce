from actions.sentiment import ActionScoreSentiment, level, mentions_leaving, score
from actions.session import ActionSessionStart
from rasa_sdk.events import ActionExecuted, SessionStarted, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import tracker


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


async def test_every_message_updates_sentiment_and_keeps_the_lowest() -> None:
    action = ActionScoreSentiment()
    events = await action.run(CollectingDispatcher(), tracker("thanks, that's great", "thank", slots={"sentiment_min": -0.7}), {})
    values = {e["name"]: e["value"] for e in events}
    assert values["sentiment"] > 0.5 and values["sentiment_min"] == -0.7
    events = await action.run(CollectingDispatcher(), tracker("never order from you again", "threaten_to_leave"), {})
    assert SlotSet("churn_threat", True) in events
