from sqlalchemy import select

from caredesk.db.models import Handoff
from actions.sentiment import score
from actions.handoff import ActionHandleFallback, ActionHandoff, ActionHandoffEnded
from rasa_sdk.events import ActionExecuted, ConversationPaused, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import carried_out, requests, responses, signals, tracker, user_event
from tests.conftest import FIXED_NOW


async def handoffs(sessions) -> list[Handoff]:
    async with sessions() as session:
        return list((await session.scalars(select(Handoff).order_by(Handoff.id))).all())


async def test_asking_for_a_person_asks_the_gateway_and_pauses_the_bot(sessions, company) -> None:
    history = [user_event("my order 10005533 is late and I am really annoyed", "track_order")]
    t = tracker("can I talk to a human", "contact_human_agent", history=history, sender_id="c-7",
                slots={"order_number": "10005533", "shop_name": "Northwind Goods"}, channel="webchat")
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(dispatcher, t, {})
    assert await handoffs(sessions) == [], "the action asks; only the gateway writes the hand-off"
    [request] = requests(dispatcher)
    assert request.promised_response_at > FIXED_NOW and request.ticket_id is None
    row = await carried_out(sessions, dispatcher, "c-7")
    assert (row.conversation_id, row.channel, row.reason, row.status) == ("c-7", "webchat", "asked", "waiting")
    assert row.summary["intent"] == "contact_human_agent"
    assert row.summary["recent_intents"] == ["track_order", "contact_human_agent"]
    assert row.summary["recent_messages"][0] == "my order 10005533 is late and I am really annoyed"
    assert row.summary["slots"] == {"order_number": "10005533"}
    assert row.summary["sentiment_min"] == score("my order 10005533 is late and I am really annoyed") < 0
    assert row.summary["sentiment"] == score("can I talk to a human")
    assert responses(dispatcher) == ["utter_handoff_requested"]
    assert dispatcher.messages[0]["promised_time"]
    assert events[0] == SlotSet("promised_time", dispatcher.messages[0]["promised_time"])
    assert events[-2:] == [ActionExecuted("action_listen"), ConversationPaused()]


async def test_the_terminal_chat_gets_no_raw_handoff_signal(sessions, company) -> None:
    t = tracker("can I talk to a human", "contact_human_agent", sender_id="shell-1", channel="cmdline")
    dispatcher = CollectingDispatcher()
    events = await ActionHandoff(sessions=sessions, company=company, clock=lambda: FIXED_NOW).run(dispatcher, t, {})
    assert responses(dispatcher) == ["utter_handoff_requested"] and signals(dispatcher) == []
    assert events[-1] == ConversationPaused(), "the bot stays silent, as it would with a gateway"


async def test_a_threat_to_leave_is_queued_first(sessions, company) -> None:
    action = ActionHandoff(sessions=sessions, company=company, clock=lambda: FIXED_NOW)
    calm_dispatcher, dispatcher = CollectingDispatcher(), CollectingDispatcher()
    await action.run(calm_dispatcher, tracker("I want a person", "contact_human_agent", sender_id="calm2"), {})
    await action.run(dispatcher, tracker("I'm going to a competitor", "threaten_to_leave", sender_id="angry"), {})
    [calm], [angry] = requests(calm_dispatcher), requests(dispatcher)
    assert angry.reason == "churn_threat" and angry.priority == "urgent"
    assert angry.priority_score > calm.priority_score
    assert angry.promised_response_at <= calm.promised_response_at
    assert responses(dispatcher) == ["utter_handoff_churn"]


async def test_first_fallback_asks_to_rephrase_second_brings_a_person(sessions, company) -> None:
    action = ActionHandleFallback(sessions=sessions, company=company, clock=lambda: FIXED_NOW)
    first = tracker("blorp zzz", "nlu_fallback", history=[user_event("hi", "greet")])
    dispatcher = CollectingDispatcher()
    assert await action.run(dispatcher, first, {}) == []
    assert responses(dispatcher) == ["utter_rephrase"]
    assert requests(dispatcher) == []

    missed = [user_event("hi", "greet"), user_event("blorp zzz", "nlu_fallback"),
              {"event": "action", "name": "action_handle_fallback"}, {"event": "action", "name": "action_listen"}]
    second = tracker("qwx vvv", "nlu_fallback", history=missed)
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, second, {})
    assert responses(dispatcher) == ["utter_handoff_not_understood"]
    [request] = requests(dispatcher)
    assert request.reason == "not_understood"
    assert events[-2:] == [ActionExecuted("action_listen"), ConversationPaused()]


async def test_an_answer_a_form_took_is_no_miss_whatever_its_intent(sessions, company) -> None:
    # An email address typed into the order look-up parses as nlu_fallback; the form used it.
    answered = [user_event("10005533", "inform"), {"event": "action", "name": "order_lookup_form"},
                user_event("maria.lopez@example.com", "nlu_fallback"), {"event": "action", "name": "order_lookup_form"},
                {"event": "action", "name": "action_answer_order"}, {"event": "action", "name": "action_listen"}]
    dispatcher = CollectingDispatcher()
    events = await ActionHandleFallback(sessions=sessions, company=company).run(
        dispatcher, tracker("asdkjh qwe zzz", "nlu_fallback", history=answered), {})
    assert responses(dispatcher) == ["utter_rephrase"] and events == []
    assert requests(dispatcher) == []


async def test_an_annoyed_miss_is_met_with_an_apology_and_a_person_offered(sessions, company) -> None:
    dispatcher = CollectingDispatcher()
    await ActionHandleFallback(sessions=sessions, company=company).run(
        dispatcher, tracker("you are useless", "nlu_fallback", history=[user_event("hi", "greet")]), {})
    assert responses(dispatcher) == ["utter_rephrase_upset"]
    assert requests(dispatcher) == [], "offered, not forced"


async def test_fallbacks_not_in_a_row_do_not_escalate(sessions, company) -> None:
    action = ActionHandleFallback(sessions=sessions, company=company)
    history = [user_event("blorp", "nlu_fallback"), user_event("track my order", "track_order")]
    dispatcher = CollectingDispatcher()
    await action.run(dispatcher, tracker("zzz", "nlu_fallback", history=history), {})
    assert responses(dispatcher) == ["utter_rephrase"]
    assert requests(dispatcher) == []


async def test_handoff_ended_asks_about_the_latest_handoff_and_leaves_its_state_alone(sessions, company) -> None:
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company).run(
        asked, tracker("human", "contact_human_agent", sender_id="c-9"), {}
    )
    await carried_out(sessions, asked, "c-9")
    dispatcher = CollectingDispatcher()
    events = await ActionHandoffEnded(sessions=sessions).run(
        dispatcher, tracker("/handoff_ended", "handoff_ended", sender_id="c-9"), {}
    )
    [row] = await handoffs(sessions)
    assert row.status == "waiting" and row.ended_at is None, "ending it is the gateway's (bot/lifecycle.py)"
    assert responses(dispatcher) == ["utter_handoff_ended"]
    # Nobody claimed it: no person's part to rate.
    assert events == [SlotSet("handoff_id", float(row.id)), SlotSet("rate_agent", False), SlotSet("agent_name", None)]


async def test_after_a_person_took_part_their_part_is_rated_apart(sessions, company) -> None:
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company).run(
        asked, tracker("human", "contact_human_agent", sender_id="c-10"), {}
    )
    await carried_out(sessions, asked, "c-10")
    async with sessions.begin() as session:
        handoff = (await handoffs(sessions))[0]
        claimed = await session.get(type(handoff), handoff.id)
        claimed.status, claimed.claimed_by, claimed.agent_username = "claimed", "Dana Weiss", "dana"
    events = await ActionHandoffEnded(sessions=sessions).run(
        CollectingDispatcher(),
        tracker("/handoff_ended", "handoff_ended", sender_id="c-10", slots={"rating": "2", "feedback_comment": "old"}),
        {},
    )
    slots = {e["name"]: e["value"] for e in events}
    assert slots["rate_agent"] is True and slots["agent_name"] == "Dana Weiss"
    assert slots["rating"] is None and slots["feedback_comment"] is None, "an earlier rating never carries over"
