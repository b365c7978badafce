import pytest
from actions.complaints import ActionAcknowledgeComplaint, ValidateComplaintForm
from actions.validation import question_asked
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import responses, tracker


async def acknowledge(text: str, domain=None, **slots):
    dispatcher = CollectingDispatcher()
    events = await ActionAcknowledgeComplaint().run(dispatcher, tracker(text, "complaint", slots=slots), domain or {})
    return responses(dispatcher), {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_first_reply_acknowledges_as_strongly_as_the_customer_feels() -> None:
    furious, _ = await acknowledge("This is disgusting, the worst service ever, I am absolutely furious!!!")
    annoyed, _ = await acknowledge("my parcel is late again, so annoying")
    calm, _ = await acknowledge("I want to make a complaint")
    assert furious == ["utter_complaint_empathy_strong"]
    assert annoyed == ["utter_complaint_empathy_mild"]
    assert calm == ["utter_complaint_empathy_neutral"]


async def test_a_threat_to_leave_gets_the_strongest_acknowledgement() -> None:
    said, _ = await acknowledge("fine, I will never order from you again")
    assert said == ["utter_complaint_empathy_strong"]


async def test_a_long_story_is_not_asked_for_again() -> None:
    text = ("The blender I ordered as order 10005533 arrived with a cracked jug and it leaks "
            "everywhere when I use it, I am really disappointed")
    _, slots = await acknowledge(text)
    assert slots["complaint_description"] == text
    assert slots["complaint_category"] == "damaged_item"
    assert slots["order_number"] == "10005533"


async def test_what_went_wrong_is_not_asked_when_it_was_said_or_chosen(domain) -> None:
    _, slots = await acknowledge("I was charged twice", domain)
    assert slots["complaint_category"] == "billing_error" and slots["category_label"] == "there's a mistake in what you were charged"
    assert "complaint_description" not in slots, "a short opening is no story: that is still asked"
    dispatcher = CollectingDispatcher()
    button = tracker('/complaint{"complaint_category":"billing_error"}', "complaint",
                     entities=[{"entity": "complaint_category", "value": "billing_error"}])
    events = await ActionAcknowledgeComplaint().run(dispatcher, button, domain)
    assert {e["name"]: e["value"] for e in events if e["event"] == "slot"}["complaint_category"] == "billing_error"
    _, slots = await acknowledge("I want to make a complaint", domain)
    assert "complaint_category" not in slots


async def test_a_short_opening_starts_a_fresh_complaint() -> None:
    _, slots = await acknowledge("complaint", complaint_description="old story", ticket_number="CD-100001",
                                 order_verified=True, order_email="maria.lopez@example.com")
    assert slots["complaint_description"] is None and slots["ticket_number"] is None
    assert slots["contact"] == "maria.lopez@example.com"


async def validate(domain, text: str, intent: str = "inform", slots=None, **extracted):
    dispatcher = CollectingDispatcher()
    t = tracker(text, intent, slots=slots, extracted=extracted, active_loop="complaint_form")
    events = await ValidateComplaintForm().run(dispatcher, t, domain)
    return responses(dispatcher), {e["name"]: e["value"] for e in events if e["event"] == "slot"}


async def test_category_from_button_or_from_words(domain) -> None:
    _, slots = await validate(domain, "", complaint_category="wrong_item")
    assert slots["complaint_category"] == "wrong_item"
    _, slots = await validate(domain, "the courier was really rude to me", complaint_category="the courier was really rude to me")
    assert slots["complaint_category"] == "staff_behaviour"
    _, slots = await validate(domain, "hard to say", complaint_category="hard to say")
    assert slots["complaint_category"] == "other"


async def test_a_story_told_as_what_went_wrong_is_not_asked_for_again(domain) -> None:
    story = "My kettle arrived with a big crack in it and leaks water everywhere"
    _, slots = await validate(domain, story, complaint_category=story)
    assert slots["complaint_category"] == "damaged_item" and slots["complaint_description"] == story
    assert slots.get("requested_slot") != "complaint_description"
    # A short answer is only the category; a story already told is kept.
    _, slots = await validate(domain, "it's late", complaint_category="it's late")
    assert slots["complaint_category"] == "late_delivery" and "complaint_description" not in slots
    told = {"complaint_description": "the parcel never came"}
    _, slots = await validate(domain, "the parcel is still not here after three weeks", slots=told,
                              complaint_category="the parcel is still not here after three weeks")
    assert slots.get("complaint_description", "the parcel never came") == "the parcel never came"


async def test_outcome_from_words(domain) -> None:
    _, slots = await validate(domain, "i just want my money back", desired_outcome="i just want my money back")
    assert slots["desired_outcome"] == "refund" and slots["outcome_label"] == "a refund"


async def test_the_restatement_words_come_from_the_domain(domain) -> None:
    _, slots = await validate(domain, "", complaint_category="late_delivery")
    assert slots["category_label"] == "your delivery is late"
    _, slots = await validate(domain, "", desired_outcome="other")
    assert slots["outcome_label"] == "us to look into it"
    # A trainer's rewording is what the customer reads.
    edited = {**domain, "responses": {**domain["responses"],
                                      "utter_label_refund": [{"text": "your money back"}],
                                      "utter_label_damaged_item": [{"text": "something broke in transit"}]}}
    _, slots = await validate(edited, "refund please", desired_outcome="refund please")
    assert slots["outcome_label"] == "your money back"
    story = "The lamp from order 10005533 arrived broken and cracked all over, and I am really upset about it"
    _, slots = await acknowledge(story, edited)
    assert slots["category_label"] == "something broke in transit"


async def test_a_deleted_label_response_still_restates(domain, caplog) -> None:
    trimmed = {**domain, "responses": {k: v for k, v in domain["responses"].items() if k != "utter_label_wrong_item"}}
    _, slots = await validate(trimmed, "", complaint_category="wrong_item")
    assert slots["complaint_category"] == "wrong_item" and slots["category_label"] == "wrong item"
    assert "utter_label_wrong_item" in caplog.text


async def test_contact_must_be_an_email_or_a_phone(domain) -> None:
    said, slots = await validate(domain, "tomorrow", contact="tomorrow")
    assert said == ["utter_contact_invalid"] and slots["contact"] is None
    _, slots = await validate(domain, "mail me at Jo@Example.org", contact="mail me at Jo@Example.org")
    assert slots["contact"] == "jo@example.org"
    _, slots = await validate(domain, "+49 151 5550 1001", contact="+49 151 5550 1001")
    assert slots["contact"] == "+49 151 5550 1001"


@pytest.mark.parametrize(("said", "intent"), [
    ("chat", "inform"), ("just reply here please", "inform"), ("no", "deny"), ("I'd rather not say", "inform"),
])
async def test_the_reply_can_be_in_the_chat_instead(domain, said: str, intent: str) -> None:
    said_back, slots = await validate(domain, said, intent, contact=said)
    assert said_back == [] and slots["contact"] == "chat"


async def test_no_order_is_a_valid_answer(domain) -> None:
    said, slots = await validate(domain, "no", "deny", order_number="none")
    assert said == [] and slots["order_number"] == "none"
    said, slots = await validate(domain, "I don't have it to hand", order_number="I don't have it to hand")
    assert said == [] and slots["order_number"] == "none", "the complaint is never held up"
    _, slots = await validate(domain, "it was #10005533", order_number="it was #10005533")
    assert slots["order_number"] == "10005533"


FILLED = {"order_number": "10005533", "complaint_category": "damaged_item", "category_label": "an item arrived damaged",
          "complaint_description": "broken", "desired_outcome": "refund", "outcome_label": "a refund",
          "contact": "jo@example.org"}


def next_question(domain, slots: dict) -> str | None:
    """What Rasa's form asks next when the validation leaves it to the domain's order."""
    required = domain["forms"]["complaint_form"]["required_slots"]
    return next((name for name in required if slots.get(name) is None), None)


async def test_confirmation_no_asks_which_part_and_only_that_part_is_asked_again(domain) -> None:
    said, slots = await validate(domain, "no", "deny", slots=FILLED, complaint_confirmed=False)
    assert said == [] and slots["complaint_fixing"] is True and slots["complaint_confirmed"] is None
    assert slots["requested_slot"] == "complaint_fix", "asks which part, not everything again"
    fixing = {**FILLED, "complaint_fixing": True}
    for answer, part, cleared in (
        ("outcome", "outcome", ("desired_outcome", "outcome_label")),
        ("the bit about what happened", "description", ("complaint_description",)),
        ("my email is wrong", "contact", ("contact",)),
        ("category", "category", ("complaint_category", "category_label")),
    ):
        said, slots = await validate(domain, answer, slots=fixing, complaint_fix=answer)
        assert said == [], part
        assert all(slots[name] is None for name in cleared), part
        assert [name for name in FILLED if name in slots] == list(cleared), "the rest is kept"
        assert slots["complaint_fixing"] is False and "requested_slot" not in slots
        assert next_question(domain, {**fixing, **slots}) == cleared[0]


async def test_a_typed_answer_to_which_part_is_read_and_a_stop_is_left_to_the_rules(domain) -> None:
    asked = {**FILLED, "complaint_fixing": True, "requested_slot": "complaint_fix"}
    said, slots = await validate(domain, "my email is wrong", slots=asked)
    assert said == [] and slots["contact"] is None and slots["complaint_fix"] is None
    assert next_question(domain, {**asked, **slots}) == "contact"
    said, slots = await validate(domain, "forget it", "stop", slots=asked)
    assert said == [] and "contact" not in slots and "complaint_fix" not in slots


async def test_all_of_it_or_an_unplaceable_answer_goes_through_the_complaint_again(domain) -> None:
    fixing = {**FILLED, "complaint_fixing": True}
    for answer in ("all", "hmm not sure"):
        said, slots = await validate(domain, answer, slots=fixing, complaint_fix=answer)
        assert said == ["utter_complaint_correction"]
        assert slots["complaint_category"] is None and slots["complaint_description"] is None
        assert slots["desired_outcome"] is None and next_question(domain, {**fixing, **slots}) == "complaint_category"
        assert "contact" not in slots and "order_number" not in slots, "what reaches them stays"


async def test_a_yes_or_an_addition_at_the_restatement(domain) -> None:
    said, slots = await validate(domain, "yes", "affirm", slots=FILLED, complaint_confirmed=True)
    assert said == [] and slots["complaint_confirmed"] is True and slots["complaint_fixing"] is False
    said, slots = await validate(domain, "it was also two days late", complaint_confirmed="it was also two days late",
                                 slots=FILLED)
    assert said == ["utter_complaint_addition_noted"]
    assert slots["complaint_description"] == "broken\nit was also two days late"
    assert slots["complaint_confirmed"] is None


async def test_slots_the_acknowledgement_cleared_are_asked_not_guessed(domain) -> None:
    """Right before the form starts, the trailing slot events are the acknowledgement's
    resets; they must stay empty (no "other" category, no unasked-for "invalid" message)."""
    earlier = {"complaint_category": "late_delivery", "complaint_description": "late again",
               "desired_outcome": "refund", "contact": "jo@example.org", "complaint_confirmed": True}
    _, cleared = await acknowledge("I want to make a complaint", **earlier)
    assert cleared == {name: None for name in earlier}, "only what was set is cleared"
    said, slots = await validate(domain, "I want to make a complaint", "complaint", **cleared)
    assert said == []
    assert all(slots[name] is None for name in ("complaint_category", "complaint_description",
                                                "desired_outcome", "contact", "complaint_confirmed"))


async def test_a_routine_question_instead_of_the_order_number_is_answered_and_asked_again(domain) -> None:
    asked = "how long does delivery take?"
    said, slots = await validate(domain, asked, "delivery_period", order_number=asked)
    assert said == ["utter_delivery_period"] and slots["order_number"] is None
    # A number wins over the question; a greeting is not a question to answer here.
    said, slots = await validate(domain, "it's 10005533, how long does delivery take?", "delivery_period",
                                 order_number="it's 10005533, how long does delivery take?")
    assert said == [] and slots["order_number"] == "10005533"
    said, slots = await validate(domain, "hi there", "greet", order_number="hi there")
    assert said == [] and slots["order_number"] == "none"


def test_only_a_confident_routine_question_counts_as_one(domain) -> None:
    replies = domain["responses"]

    def asked(name: str, confidence: float = 0.95) -> str | None:
        return question_asked({"intent": {"name": name, "confidence": confidence}}, replies)

    assert asked("check_payment_methods") == "utter_check_payment_methods"
    assert asked("check_payment_methods", 0.5) is None, "a hesitant guess is taken as an answer"
    assert asked("out_of_scope") is None and asked("goodbye") is None
    assert asked("inform") is None, "an intent without its own reply is no routine question"
    assert question_asked({}, replies) is None
