import pytest
from sqlalchemy import select

from actions.db.models import Feedback
from actions.feedback import ActionGoodbye, ActionSaveFeedback, ValidateFeedbackForm, read_rating
from actions.handoff import ActionHandoff
from actions.tickets import ActionSubmitComplaint
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.test_tickets import COMPLAINT
from tests.actions.trackers import responses, tracker


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
    events = await ActionHandoff(sessions=sessions, company=company).run(
        CollectingDispatcher(), tracker("human", "contact_human_agent", sender_id="c-1"), {}
    )
    handoff_id = events[0]["value"]
    async with sessions() as session:
        from actions.db.models import Ticket
        ticket = await session.scalar(select(Ticket))
    dispatcher = CollectingDispatcher()
    slots = {"rating": "5", "feedback_comment": "very kind", "ticket_number": ticket.number, "handoff_id": handoff_id}
    reset = await ActionSaveFeedback(sessions=sessions).run(
        dispatcher, tracker("very kind", slots=slots, sender_id="c-1", channel="telegram"), {}
    )
    [row] = await saved(sessions)
    assert (row.conversation_id, row.channel, row.rating, row.comment) == ("c-1", "telegram", 5, "very kind")
    assert row.ticket_id == ticket.id and row.handoff_id == int(handoff_id)
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


async def test_goodbye_is_personal_when_we_know_the_name() -> None:
    dispatcher = CollectingDispatcher()
    await ActionGoodbye().run(dispatcher, tracker("bye", "goodbye", slots={"customer_name": "Maria"}), {})
    assert responses(dispatcher) == ["utter_goodbye_named"]
    assert dispatcher.messages[0]["customer_name"] == "Maria"
    dispatcher = CollectingDispatcher()
    await ActionGoodbye().run(dispatcher, tracker("bye", "goodbye"), {})
    assert responses(dispatcher) == ["utter_goodbye"]
