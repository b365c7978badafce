import pytest
from sqlalchemy import select

from caredesk.db.models import Feedback, Handoff
from actions.feedback import ActionGoodbye, ActionSaveFeedback, ValidateFeedbackForm, read_rating
from actions.handoff import ActionHandoff
from actions.tickets import ActionSubmitComplaint
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.test_tickets import COMPLAINT
from tests.actions.trackers import carried_out, responses, tracker


@pytest.mark.parametrize(
    ("said", "rating"),
    [("5", 5), ("4/5", 4), ("I'd give it a 3", 3), ("two", 2), ("0", None), ("great", None), ("10", None)],
)
def test_ratings_are_read_from_buttons_and_words(said: str, rating: int | None) -> None:
    assert read_rating(said) == rating


async def test_invalid_rating_is_asked_again_politely(domain) -> None:
    dispatcher = CollectingDispatcher()
    t = tracker("meh", extracted={"rating": "meh"}, active_loop="feedback_form")
    events = await ValidateFeedbackForm().run(dispatcher, t, domain)
    assert responses(dispatcher) == ["utter_rating_invalid"]
    assert {"event": "slot", "timestamp": None, "name": "rating", "value": None} in events


async def saved(sessions) -> list[Feedback]:
    async with sessions() as session:
        return list((await session.scalars(select(Feedback))).all())


async def test_rating_is_stored_with_ticket_handoff_and_channel(sessions, company) -> None:
    await ActionSubmitComplaint(sessions=sessions, company=company).run(
        CollectingDispatcher(), tracker("yes", "affirm", slots=COMPLAINT, sender_id="c-1"), {}
    )
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company).run(
        asked, tracker("human", "contact_human_agent", sender_id="c-1"), {}
    )
    handoff_id = float((await carried_out(sessions, asked, "c-1")).id)
    async with sessions() as session:
        from caredesk.db.models import Ticket
        ticket = await session.scalar(select(Ticket))
    dispatcher = CollectingDispatcher()
    slots = {"rating": "5", "feedback_comment": "very kind", "ticket_number": ticket.number, "handoff_id": handoff_id}
    reset = await ActionSaveFeedback(sessions=sessions).run(
        dispatcher, tracker("very kind", slots=slots, sender_id="c-1", channel="telegram"), {}
    )
    [row] = await saved(sessions)
    assert (row.conversation_id, row.channel, row.rating, row.comment) == ("c-1", "telegram", 5, "very kind")
    assert row.ticket_id == ticket.id and row.handoff_id == int(handoff_id)
    assert row.subject == "bot" and row.agent_username is None
    assert responses(dispatcher) == ["utter_feedback_thanks_high"]
    assert {e["name"]: e["value"] for e in reset} == {"rating": None, "feedback_comment": None}


async def test_low_rating_without_comment(sessions) -> None:
    dispatcher = CollectingDispatcher()
    await ActionSaveFeedback(sessions=sessions).run(
        dispatcher, tracker("no", "deny", slots={"rating": "2", "feedback_comment": "none"}), {}
    )
    [row] = await saved(sessions)
    assert row.rating == 2 and row.comment is None and row.ticket_id is None and row.handoff_id is None
    assert responses(dispatcher) == ["utter_feedback_thanks_low"]


async def test_after_a_hand_off_the_persons_part_is_asked_first(domain) -> None:
    dispatcher = CollectingDispatcher()
    after = {"rate_agent": True, "agent_name": "Dana Weiss"}
    events = await ValidateFeedbackForm().run(dispatcher, tracker("", slots=after, active_loop="feedback_form"), domain)
    assert {"event": "slot", "timestamp": None, "name": "requested_slot", "value": "agent_rating"} in events
    # A typed answer counts; then the bot's part is asked.
    typed = tracker("4", slots={**after, "requested_slot": "agent_rating"}, active_loop="feedback_form")
    events = await ValidateFeedbackForm().run(CollectingDispatcher(), typed, domain)
    slots = {e["name"]: e["value"] for e in events}
    assert slots["agent_rating"] == "4" and slots["requested_slot"] == "rating"
    # Words that are no rating are asked again; stopping is no answer at all.
    dispatcher = CollectingDispatcher()
    vague = tracker("she was ok", slots={**after, "requested_slot": "agent_rating"}, active_loop="feedback_form")
    events = await ValidateFeedbackForm().run(dispatcher, vague, domain)
    assert responses(dispatcher) == ["utter_rating_invalid"]
    assert {e["name"]: e["value"] for e in events}["requested_slot"] == "agent_rating"
    stop = tracker("stop", "stop", slots={**after, "requested_slot": "agent_rating"}, active_loop="feedback_form")
    events = await ValidateFeedbackForm().run(CollectingDispatcher(), stop, domain)
    assert "agent_rating" not in {e["name"] for e in events if e["value"] is not None}
    # Without a hand-off only the one question is asked.
    events = await ValidateFeedbackForm().run(CollectingDispatcher(), tracker("", active_loop="feedback_form"), domain)
    assert not [e for e in events if e["name"] == "requested_slot" and e["value"] == "agent_rating"]


@pytest.mark.parametrize(("said", "intent"), [("/deny", "deny"), ("no thanks", "deny"), ("I'd rather not", "inform")])
async def test_no_thanks_to_the_rating_ends_it_without_asking_again(domain, said: str, intent: str) -> None:
    dispatcher = CollectingDispatcher()
    t = tracker(said, intent, extracted={"rating": said}, active_loop="feedback_form")
    events = await ValidateFeedbackForm().run(dispatcher, t, domain)
    slots = {e["name"]: e["value"] for e in events}
    assert responses(dispatcher) == [] and slots["rating"] == "skipped" and slots["feedback_comment"] == "none"
    assert slots.get("requested_slot") is None, "nothing more is asked"
    # Declining the person's rating declines both.
    after = {"rate_agent": True, "agent_name": "Dana", "requested_slot": "agent_rating"}
    t = tracker(said, intent, slots=after, active_loop="feedback_form")
    slots = {e["name"]: e["value"] for e in await ValidateFeedbackForm().run(CollectingDispatcher(), t, domain)}
    assert slots["agent_rating"] == slots["rating"] == "skipped"
    # A number is never read as a no, whatever the intent.
    t = tracker("no, 2", "deny", extracted={"rating": "no, 2"}, active_loop="feedback_form")
    slots = {e["name"]: e["value"] for e in await ValidateFeedbackForm().run(CollectingDispatcher(), t, domain)}
    assert slots["rating"] == "2"


async def test_a_declined_rating_stores_nothing(sessions) -> None:
    dispatcher = CollectingDispatcher()
    slots = {"rating": "skipped", "agent_rating": "skipped", "feedback_comment": "none"}
    await ActionSaveFeedback(sessions=sessions).run(dispatcher, tracker("no", "deny", slots=slots), {})
    assert await saved(sessions) == [] and responses(dispatcher) == []


async def handed_back(sessions, company, sender: str) -> float:
    asked = CollectingDispatcher()
    await ActionHandoff(sessions=sessions, company=company).run(
        asked, tracker("human", "contact_human_agent", sender_id=sender), {}
    )
    handoff_id = float((await carried_out(sessions, asked, sender)).id)
    async with sessions.begin() as session:
        handoff = await session.get(Handoff, int(handoff_id))
        handoff.status, handoff.claimed_by, handoff.agent_username = "ended", "Dana Weiss", "dana"
    return handoff_id


async def test_the_persons_part_and_the_bots_part_are_stored_apart(sessions, company) -> None:
    handoff_id = await handed_back(sessions, company, "c-2")
    dispatcher = CollectingDispatcher()
    slots = {"agent_rating": "5", "rating": "2", "feedback_comment": "Dana sorted it, the bot did not get me",
             "handoff_id": handoff_id, "rate_agent": True, "agent_name": "Dana Weiss"}
    reset = await ActionSaveFeedback(sessions=sessions).run(dispatcher, tracker("x", slots=slots, sender_id="c-2"), {})
    rows = sorted(await saved(sessions), key=lambda r: r.subject)
    assert [(r.subject, r.rating, r.agent_username) for r in rows] == [("agent", 5, "dana"), ("bot", 2, None)]
    assert rows[0].comment == "Dana sorted it, the bot did not get me" and rows[1].comment is None
    assert {r.handoff_id for r in rows} == {int(handoff_id)} and {r.conversation_id for r in rows} == {"c-2"}
    assert responses(dispatcher) == ["utter_feedback_thanks_low"], "one low part goes to the team lead"
    assert {e["name"]: e["value"] for e in reset} == dict.fromkeys(
        ["rating", "agent_rating", "feedback_comment", "rate_agent", "agent_name"])


async def test_a_rating_given_before_stopping_is_kept(sessions, company) -> None:
    handoff_id = await handed_back(sessions, company, "c-3")
    dispatcher = CollectingDispatcher()
    slots = {"agent_rating": "4", "handoff_id": handoff_id, "rate_agent": True}
    await ActionSaveFeedback(sessions=sessions).run(dispatcher, tracker("stop", "stop", slots=slots, sender_id="c-3"), {})
    [row] = await saved(sessions)
    assert (row.subject, row.rating, row.agent_username) == ("agent", 4, "dana")
    assert responses(dispatcher) == ["utter_feedback_thanks_high"]
    dispatcher = CollectingDispatcher()
    await ActionSaveFeedback(sessions=sessions).run(dispatcher, tracker("stop", "stop", sender_id="c-4"), {})
    assert len(await saved(sessions)) == 1 and responses(dispatcher) == []


async def test_goodbye_is_personal_when_we_know_the_name() -> None:
    dispatcher = CollectingDispatcher()
    await ActionGoodbye().run(dispatcher, tracker("bye", "goodbye", slots={"customer_name": "Maria"}), {})
    assert responses(dispatcher) == ["utter_goodbye_named"]
    assert dispatcher.messages[0]["customer_name"] == "Maria"
    dispatcher = CollectingDispatcher()
    await ActionGoodbye().run(dispatcher, tracker("bye", "goodbye"), {})
    assert responses(dispatcher) == ["utter_goodbye"]
