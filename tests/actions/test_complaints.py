from actions.complaints import ActionAcknowledgeComplaint, ValidateComplaintForm
from actions.validation import question_asked
from rasa_sdk.executor import CollectingDispatcher
from tests.actions.trackers import responses, tracker


async def acknowledge(text: str, **slots):
    dispatcher = CollectingDispatcher()
    events = await ActionAcknowledgeComplaint().run(dispatcher, tracker(text, "complaint", slots=slots), {})
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


async def test_outcome_from_words(domain) -> None:
    _, slots = await validate(domain, "i just want my money back", desired_outcome="i just want my money back")
    assert slots["desired_outcome"] == "refund" and slots["outcome_label"] == "a refund"


async def test_contact_must_be_an_email_or_a_phone(domain) -> None:
    said, slots = await validate(domain, "tomorrow", contact="tomorrow")
    assert said == ["utter_contact_invalid"] and slots["contact"] is None
    _, slots = await validate(domain, "mail me at Jo@Example.org", contact="mail me at Jo@Example.org")
    assert slots["contact"] == "jo@example.org"
    _, slots = await validate(domain, "+49 151 5550 1001", contact="+49 151 5550 1001")
    assert slots["contact"] == "+49 151 5550 1001"


async def test_no_order_is_a_valid_answer(domain) -> None:
    said, slots = await validate(domain, "no", "deny", order_number="none")
    assert said == [] and slots["order_number"] == "none"
    said, slots = await validate(domain, "I don't have it to hand", order_number="I don't have it to hand")
    assert said == [] and slots["order_number"] == "none", "the complaint is never held up"
    _, slots = await validate(domain, "it was #10005533", order_number="it was #10005533")
    assert slots["order_number"] == "10005533"


async def test_confirmation_no_starts_over_and_additions_are_kept(domain) -> None:
    said, slots = await validate(domain, "no", "deny", complaint_confirmed=False,
                                 slots={"contact": "jo@example.org", "complaint_description": "broken"})
    assert said == ["utter_complaint_correction"]
    assert slots["complaint_description"] is None and slots["complaint_category"] is None
    assert "contact" not in slots  # the contact they gave stays
    said, slots = await validate(domain, "it was also two days late", complaint_confirmed="it was also two days late",
                                 slots={"complaint_description": "broken"})
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
