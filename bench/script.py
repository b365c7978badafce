"""What a simulated customer says: a greeting, two or three routine questions and a whole
complaint, answered with the form's buttons the way the web widget sends them (the button's
title as text, its payload for the bot). Each step may name the button the bot should offer
in reply, so a run can tell when the bot went off script."""
from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Step:
    text: str
    payload: str | None = None
    expect_button: str | None = None

    @property
    def for_bot(self) -> str:
        """What Rasa receives: the payload of a button press, else the typed text."""
        return self.payload or self.text


ROUTINE = (
    "what payment methods do you accept",
    "how long does delivery take",
    "what is your refund policy",
    "which delivery options do you have",
    "is there a fee if I cancel an order",
)

COMPLAINT = (
    Step("I want to make a complaint", expect_button="/deny"),
    Step("10005533", expect_button='/inform{"complaint_category":"damaged_item"}'),
    Step("Damaged item", '/inform{"complaint_category":"damaged_item"}'),
    Step("The desk lamp came with a bent arm and the switch is loose",
         expect_button='/inform{"desired_outcome":"replacement"}'),
    Step("A replacement", '/inform{"desired_outcome":"replacement"}'),
    Step("maria.lopez@example.com", expect_button="/affirm"),
    Step("Yes", "/affirm", expect_button='/inform{"rating":"5"}'),
    Step("5 - Excellent", '/inform{"rating":"5"}'),
    Step("No", "/deny"),
)


def conversation(rng: random.Random) -> list[Step]:
    """One scripted conversation; `rng` varies which routine questions are asked."""
    routine = [Step(text) for text in rng.sample(ROUTINE, rng.choice((2, 3)))]
    return [Step("hello"), *routine, *COMPLAINT]
