"""The gateway's memory of each conversation's latest offered buttons (bot/offers.py)."""
from bot.offers import Offers


def test_a_customer_line_starts_a_turn_and_the_bots_lines_add_to_it() -> None:
    offers = Offers()
    offers.new_turn("c1")
    assert offers.get("c1") == frozenset()
    offers.add("c1", frozenset({"/affirm"}))
    offers.add("c1", frozenset({"/deny"}))
    assert offers.get("c1") == {"/affirm", "/deny"}
    offers.new_turn("c1")
    assert offers.get("c1") == frozenset(), "answered: the old buttons are spent"


def test_a_conversation_it_never_saw_stays_unknown() -> None:
    offers = Offers()
    offers.add("c2", frozenset({"/affirm"}))  # a turn whose customer line another gateway stored
    assert offers.get("c2") is None and "c2" not in offers


def test_it_forgets_the_least_recently_used_first() -> None:
    offers = Offers(size=2)
    for name in ("a", "b"):
        offers.new_turn(name)
    offers.add("a", frozenset({"/x"}))  # "a" used again: "b" is now the oldest
    offers.new_turn("c")
    assert "b" not in offers and offers.get("a") == {"/x"} and "c" in offers
