from sqlalchemy import select

from caredesk.db.models import Order
from actions.orders import ActionAnswerOrder, ActionAskOrderNumber, ValidateOrderLookupForm
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import responses, tracker
from tests.conftest import FIXED_NOW


async def validate(sessions, domain, **kwargs):
    dispatcher = CollectingDispatcher()
    action = ValidateOrderLookupForm(sessions=sessions)
    events = await action.run(dispatcher, tracker(active_loop="order_lookup_form", **kwargs), domain)
    return dispatcher, {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_right_number_and_email_verify_the_order(sessions, domain) -> None:
    dispatcher, slots = await validate(
        sessions, domain, text="maria.lopez@example.com",
        slots={"order_number": "10005533", "order_request": "track_order"},
        extracted={"order_email": "Maria.Lopez@example.com"},
    )
    assert slots["order_verified"] is True
    assert slots["order_number"] == "10005533"
    assert slots["order_status"] == "shipped"
    assert slots["customer_name"] == "Maria"
    assert slots["customer_tier"] == "regular"
    assert responses(dispatcher) == []


async def test_wrong_pair_reveals_nothing_and_asks_again(sessions, domain) -> None:
    # An existing order with someone else's email, and a number that does not exist at all,
    # get the very same answer.
    answers = []
    for number, email in (("10005533", "tom.becker@example.com"), ("99999999", "maria.lopez@example.com")):
        dispatcher, slots = await validate(
            sessions, domain, text=email, slots={"order_number": number}, extracted={"order_email": email}
        )
        assert slots["order_number"] is None and slots["order_email"] is None
        assert slots["order_verified"] is False
        assert "order_status" not in slots and "customer_name" not in slots
        answers.append(responses(dispatcher))
    assert answers[0] == answers[1] == ["utter_order_not_verified"]


async def test_third_wrong_pair_stops_asking_and_offers_a_person(sessions, domain) -> None:
    dispatcher, slots = await validate(
        sessions, domain, text="x@example.com",
        slots={"order_number": "10005533", "verify_attempts": 2.0},
        extracted={"order_email": "x@example.com"},
    )
    assert responses(dispatcher) == ["utter_order_verification_failed"]
    assert slots["order_number"] == "unverified" and slots["order_verified"] is False


async def test_garbage_order_number_is_refused_politely(sessions, domain) -> None:
    dispatcher, slots = await validate(sessions, domain, text="my order", extracted={"order_number": "my order"})
    assert responses(dispatcher) == ["utter_order_number_invalid"]
    assert slots["order_number"] is None


async def test_answers_that_are_no_email_end_the_look_up_after_three(sessions, domain) -> None:
    story = "I ordered it on the 2nd and was told 3 days, nothing has come"
    attempts = 0.0
    said = []
    for _ in range(3):
        dispatcher, slots = await validate(sessions, domain, text=story, slots={"order_number": "10005533",
                                           "verify_attempts": attempts}, extracted={"order_email": story})
        said.append(responses(dispatcher))
        attempts = slots["verify_attempts"]
    assert said == [["utter_email_invalid"], ["utter_email_invalid"], ["utter_order_verification_failed"]]
    assert slots["order_number"] == slots["order_email"] == "unverified", "the form ends instead of asking forever"
    # The same for answers that are no order number.
    dispatcher, slots = await validate(sessions, domain, text="dunno", slots={"verify_attempts": 2.0},
                                       extracted={"order_number": "dunno"})
    assert responses(dispatcher) == ["utter_order_verification_failed"] and slots["order_number"] == "unverified"


async def test_a_routine_question_instead_of_the_order_number_gets_its_answer(sessions, domain) -> None:
    asked = "which payment methods do you take"
    dispatcher, slots = await validate(sessions, domain, text=asked, intent="check_payment_methods",
                                       extracted={"order_number": asked})
    assert responses(dispatcher) == ["utter_check_payment_methods"]
    assert slots["order_number"] is None and slots["order_verified"] is False


async def test_cancelling_asks_for_a_yes_only_while_it_can_be_cancelled(sessions, domain) -> None:
    action = ValidateOrderLookupForm(sessions=sessions)
    required = domain["forms"]["order_lookup_form"]["required_slots"]
    base = {"order_request": "cancel_order", "order_verified": True}
    processing = tracker(slots={**base, "order_status": "processing"})
    shipped = tracker(slots={**base, "order_status": "shipped"})
    tracking = tracker(slots={**base, "order_status": "processing", "order_request": "track_order"})
    assert "cancel_confirmed" in await action.required_slots(required, CollectingDispatcher(), processing, domain)
    assert "cancel_confirmed" not in await action.required_slots(required, CollectingDispatcher(), shipped, domain)
    assert "cancel_confirmed" not in await action.required_slots(required, CollectingDispatcher(), tracking, domain)


async def answer(sessions, company, domain, **slots):
    dispatcher = CollectingDispatcher()
    action = ActionAnswerOrder(sessions=sessions, company=company, clock=lambda: FIXED_NOW)
    base = {"order_verified": True, "order_email": "maria.lopez@example.com"}
    events = await action.run(dispatcher, tracker(slots={**base, **slots}), domain)
    return dispatcher, events


async def order_row(sessions, number: str) -> Order:
    async with sessions() as session:
        return await session.scalar(select(Order).where(Order.number == number))


async def test_tracking_a_shipped_order_gives_carrier_and_tracking(sessions, company, domain) -> None:
    dispatcher, _ = await answer(sessions, company, domain, order_number="10005533", order_request="track_order")
    [message] = dispatcher.messages
    assert message["response"] == "utter_order_shipped"
    assert message["carrier"] == "DHL" and message["tracking_code"] == "JD014600003826401"


async def test_confirmed_cancellation_cancels_the_order_in_the_database(sessions, company, domain) -> None:
    dispatcher, events = await answer(
        sessions, company, domain, order_number="10004821", order_request="cancel_order",
        cancel_confirmed=True,
    )
    assert responses(dispatcher) == ["utter_cancel_done"]
    assert dispatcher.messages[0]["amount"] == "EUR 89.90"
    order = await order_row(sessions, "10004821")
    assert order.status == "cancelled" and order.refund_status == "requested"
    assert order.refund_cents == 8990 and order.cancelled_at == FIXED_NOW
    assert SlotSet("cancel_confirmed", None) in events


async def test_declined_cancellation_keeps_the_order(sessions, company, domain) -> None:
    dispatcher, _ = await answer(
        sessions, company, domain, order_number="10004821", order_request="cancel_order",
        cancel_confirmed=False,
    )
    assert responses(dispatcher) == ["utter_cancel_kept"]
    assert (await order_row(sessions, "10004821")).status == "processing"


async def test_a_shipped_order_is_not_cancelled(sessions, company, domain) -> None:
    dispatcher, _ = await answer(
        sessions, company, domain, order_number="10005533", order_request="cancel_order",
        cancel_confirmed=True,
    )
    assert responses(dispatcher) == ["utter_cancel_shipped"]
    assert (await order_row(sessions, "10005533")).status == "shipped"


async def test_refund_invoice_and_change_answers_follow_the_order(sessions, company, domain) -> None:
    tom = {"order_email": "tom.becker@example.com"}
    cases = [
        ({"order_number": "10002200", "order_request": "track_refund", **tom}, "utter_refund_requested"),
        ({"order_number": "10003310", "order_request": "track_refund", **tom}, "utter_refund_none"),
        ({"order_number": "10003310", "order_request": "change_order", **tom}, "utter_change_order_too_late"),
        ({"order_number": "10004821", "order_request": "change_order"}, "utter_change_order_processing"),
        ({"order_number": "10003310", "order_request": "get_invoice", **tom}, "utter_invoice_copy"),
        ({"order_number": "10003310", "order_request": "check_invoice", **tom}, "utter_invoice_details"),
    ]
    for slots, expected in cases:
        dispatcher, _ = await answer(sessions, company, domain, **slots)
        assert responses(dispatcher) == [expected], slots
    dispatcher, _ = await answer(sessions, company, domain, order_number="10003310",
                                 order_request="check_invoice", **tom)
    assert dispatcher.messages[0]["invoice_number"].startswith("INV-")


async def test_unverified_answer_says_nothing_more_and_forgets_the_attempt(sessions, company, domain) -> None:
    dispatcher, events = await answer(
        sessions, company, domain, order_number="unverified", order_verified=False, order_request="track_order"
    )
    assert dispatcher.messages == []
    assert SlotSet("order_number", None) in events and SlotSet("order_email", None) in events


async def asked(text: str, intent: str) -> list[str]:
    dispatcher = CollectingDispatcher()
    await ActionAskOrderNumber().run(dispatcher, tracker(text, intent, active_loop="order_lookup_form"), {})
    return responses(dispatcher)


async def test_an_upset_customer_hears_sympathy_before_the_first_question() -> None:
    ask = "utter_ask_order_lookup_form_order_number"
    assert await asked("where is my order", "track_order") == [ask]
    assert await asked("my order hasn't arrived and I'm really annoyed, it's been two weeks",
                       "track_order") == ["utter_order_empathy_mild", ask]
    assert await asked("this is a disgrace, cancel my order, I will never order from you again",
                       "cancel_order") == ["utter_order_empathy_strong", ask]
    # Asked again after a wrong answer: no second apology.
    assert await asked("I hate this, I don't know it", "inform") == [ask]
