"""Reading ticket numbers and matching the contact given with a ticket."""
from caredesk.db.models import Ticket
from actions.ticket_status import contact_matches, ticket_number


def test_ticket_numbers_as_customers_type_them() -> None:
    assert ticket_number("any news on cd100042?") == "CD-100042"
    assert ticket_number("CD-100042") == "CD-100042"
    assert ticket_number("ticket 100042") is None, "a bare number could be an order"


def test_the_contact_matches_by_email_or_the_phones_last_digits() -> None:
    by_email = Ticket(contact="Maria.Lopez@example.com", contact_kind="email")
    assert contact_matches(by_email, "it was maria.lopez@example.com")
    assert not contact_matches(by_email, "maria.lopez@example.org")
    by_phone = Ticket(contact="+49 151 5550 1001", contact_kind="phone")
    assert contact_matches(by_phone, "0151 5550 1001")
    assert not contact_matches(by_phone, "0151 5550 1002")
    in_chat = Ticket(contact="webchat conversation c_x", contact_kind="chat")
    assert not contact_matches(in_chat, "webchat conversation c_x"), "a chat ticket is proved by its chat only"
