"""Who "one customer" is: from one thing an admin knows about them (an email address, a phone
number, a ticket number, a conversation id or a Telegram chat id) to every conversation and
ticket that belongs to them. Shown before anything is exported or erased."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from caredesk.db import repository
from caredesk.db.models import Conversation, Customer, Feedback, Handoff, Message, Note, Ticket
from bot.privacy import tracker

KINDS = ("email", "phone", "ticket", "conversation", "telegram")
TELEGRAM_PREFIX = "tg_"  # bot/channels/telegram.py names a chat's conversation tg_<chat id>
OPEN_HANDOFF = ("waiting", "claimed")
OPEN_TICKET = ("open", "in_progress")
MAX_VALUE = 254
ERASED = "[erased]"  # what an erased ticket's description and contact say
PSEUDONYM_PREFIX = "erased_"  # an erased conversation's remains are kept under erased_<random>
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class BadQuery(ValueError):
    """What was asked cannot name a customer (unknown kind, empty or malformed value)."""


@dataclass(frozen=True)
class Query:
    kind: str
    value: str

    @classmethod
    def parse(cls, kind: str, value: str) -> "Query":
        value = value.strip()
        if kind not in KINDS:
            raise BadQuery(f"ask by one of: {', '.join(KINDS)}")
        if not value or len(value) > MAX_VALUE:
            raise BadQuery(f"give a {kind} of 1 to {MAX_VALUE} characters")
        if kind == "email":
            value = value.lower()
            if not _EMAIL.match(value):
                raise BadQuery("that is not an email address")
        elif kind == "phone" and not 7 <= len(digits(value)) <= 15:
            raise BadQuery("a phone number has 7 to 15 digits")
        elif kind == "telegram" and not re.fullmatch(r"-?\d{1,20}", value):
            raise BadQuery("a Telegram chat id is a whole number")
        return cls(kind, value)

    @property
    def target(self) -> str:
        """How the audit log names what was asked."""
        return f"{self.kind}:{self.value}"[:255]


@dataclass
class Subject:
    """Everything found for one customer."""

    query: Query
    customer: Customer | None = None
    conversation_ids: set[str] = field(default_factory=set)
    tickets: list[Ticket] = field(default_factory=list)
    # Emails and phone numbers found with them (what an erasure must leave nowhere).
    contacts: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return self.customer is None and not self.conversation_ids and not self.tickets


def digits(value: str) -> str:
    return re.sub(r"\D", "", value)


def email_in(text: str, email: str) -> bool:
    """`email` as a whole address in `text` (not the tail of a longer one)."""
    return re.search(r"(?<![\w.+%-])" + re.escape(email) + r"(?![\w-]|\.\w)", text.lower()) is not None


def _like(value: str) -> str:
    return "%" + value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def same_phone(a: str, b: str) -> bool:
    """Phone numbers are stored as typed ("+49 151 5550 1002", "0151 55501002"): the same
    number when the digits match, or their last nine do (a country or trunk prefix apart)."""
    x, y = digits(a), digits(b)
    return x == y or (len(x) >= 9 and len(y) >= 9 and x[-9:] == y[-9:])


async def _tickets_by_phone(session: AsyncSession, phone: str) -> list[Ticket]:
    rows = await session.scalars(select(Ticket).where(Ticket.contact_kind == "phone"))
    return [t for t in rows.all() if same_phone(t.contact, phone)]


async def _customer(session: AsyncSession, query: Query) -> Customer | None:
    if query.kind == "email":
        return await session.scalar(select(Customer).where(func.lower(Customer.email) == query.value))
    if query.kind == "phone":
        for customer in (await session.scalars(select(Customer).where(Customer.phone.is_not(None)))).all():
            if same_phone(customer.phone or "", query.value):
                return customer
    return None


async def find_subject(session: AsyncSession, query: Query, tracker_engine: AsyncEngine | None) -> Subject:
    """Collect the customer's record, tickets and conversations. Tickets belong to them by
    customer id or by contact; conversations through their tickets, the ids given, and (for an
    email) the transcripts and Rasa events where they typed it."""
    subject = Subject(query)
    tickets: dict[int, Ticket] = {}
    if query.kind in ("email", "phone"):
        subject.contacts.add(query.value)
        subject.customer = customer = await _customer(session, query)
        if customer is not None:
            subject.contacts.update(c for c in (customer.email.lower(), customer.phone) if c)
            for ticket in (await session.scalars(select(Ticket).where(Ticket.customer_id == customer.id))).all():
                tickets[ticket.id] = ticket
        emails = {c for c in subject.contacts if "@" in c}
        if emails:
            for ticket in (await session.scalars(select(Ticket).where(func.lower(Ticket.contact).in_(emails)))).all():
                tickets[ticket.id] = ticket
        for phone in subject.contacts - emails:
            for ticket in await _tickets_by_phone(session, phone):
                tickets[ticket.id] = ticket
        for email in emails:
            rows = await session.execute(select(Message.conversation_id, Message.text).where(
                Message.sender == "customer", func.lower(Message.text).like(_like(email), escape="\\")))
            subject.conversation_ids.update(cid for cid, text in rows.all() if email_in(text, email))
            subject.conversation_ids.update(
                sender for sender, data in await tracker.events_mentioning(tracker_engine, email) if email_in(data, email))
    elif query.kind == "ticket":
        try:
            ticket = await repository.ticket_by_number(session, query.value)
        except repository.TicketNotFound:
            ticket = None
        if ticket is not None:
            tickets[ticket.id] = ticket
    else:
        conversation_id = query.value if query.kind == "conversation" else TELEGRAM_PREFIX + query.value
        if await _known(session, conversation_id, tracker_engine):
            subject.conversation_ids.add(conversation_id)
    subject.conversation_ids.update(t.conversation_id for t in tickets.values())
    # The tickets of those conversations are theirs too (a complaint written for someone else
    # in the same chat is still this chat's content).
    if subject.conversation_ids:
        for ticket in (await session.scalars(
                select(Ticket).where(Ticket.conversation_id.in_(subject.conversation_ids)))).all():
            tickets[ticket.id] = ticket
    # What an erasure left (anonymous rows) is no one's any more: erasing again changes nothing.
    subject.conversation_ids = {c for c in subject.conversation_ids if not c.startswith(PSEUDONYM_PREFIX)}
    subject.tickets = sorted((t for t in tickets.values() if t.contact != ERASED), key=lambda t: t.id)
    subject.contacts.update(t.contact.lower() if "@" in t.contact else t.contact
                            for t in subject.tickets if t.contact_kind in ("email", "phone"))
    return subject


async def _known(session: AsyncSession, conversation_id: str, tracker_engine: AsyncEngine | None) -> bool:
    """The id is a conversation somewhere: the gateway's, a ticket's, a hand-off's, a rating's,
    a note's, or only Rasa's (REST and `make shell` conversations)."""
    for column in (Conversation.id, Ticket.conversation_id, Handoff.conversation_id,
                   Feedback.conversation_id, Note.conversation_id):
        if await session.scalar(select(column).where(column == conversation_id).limit(1)) is not None:
            return True
    counts = await tracker.count_events(tracker_engine, [conversation_id])
    return bool(counts.get(conversation_id))
