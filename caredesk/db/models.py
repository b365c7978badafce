"""Tables of CareDesk. Every change to them is an Alembic migration in migrations/."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, CheckConstraint, DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, also on SQLite, which forgets the zone."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware UTC datetime")
        return value.astimezone(dt.timezone.utc)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Base(AsyncAttrs, DeclarativeBase):
    type_annotation_map = {dt.datetime: UTCDateTime, dict[str, Any]: JSON}


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True, index=True)
    name: Mapped[str] = mapped_column(String(120))
    phone: Mapped[str | None] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(16), default="regular")  # vip, regular, new
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    orders: Mapped[list[Order]] = relationship(back_populates="customer")


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True, index=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    status: Mapped[str] = mapped_column(String(16))  # processing, shipped, delivered, cancelled
    items: Mapped[str] = mapped_column(Text)
    total_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    placed_at: Mapped[dt.datetime]
    shipped_at: Mapped[dt.datetime | None]
    delivered_at: Mapped[dt.datetime | None]
    estimated_delivery: Mapped[dt.datetime | None]
    carrier: Mapped[str | None] = mapped_column(String(40))
    tracking_code: Mapped[str | None] = mapped_column(String(40))
    shipping_address: Mapped[str] = mapped_column(Text)
    payment_method: Mapped[str] = mapped_column(String(40))
    invoice_number: Mapped[str | None] = mapped_column(String(30))
    refund_status: Mapped[str | None] = mapped_column(String(16))  # requested, paid
    refund_cents: Mapped[int | None] = mapped_column(Integer)
    refund_requested_at: Mapped[dt.datetime | None]
    refund_paid_at: Mapped[dt.datetime | None]
    cancelled_at: Mapped[dt.datetime | None]

    customer: Mapped[Customer] = relationship(back_populates="orders")


TICKET_STATUSES = ("open", "in_progress", "resolved", "closed")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        CheckConstraint(
            "status in ('open', 'in_progress', 'resolved', 'closed')", name="ticket_status"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True, index=True)
    channel: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)  # the customer panel
    contact: Mapped[str] = mapped_column(String(254))
    contact_kind: Mapped[str] = mapped_column(String(8))  # email, phone, chat (reply in the conversation)
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    order_number: Mapped[str | None] = mapped_column(String(20))
    desired_outcome: Mapped[str] = mapped_column(String(32))
    sentiment: Mapped[float | None]
    severity: Mapped[str] = mapped_column(String(20))
    priority: Mapped[str] = mapped_column(String(8))
    priority_score: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="open")
    promised_response_at: Mapped[dt.datetime]
    first_response_at: Mapped[dt.datetime | None]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    resolved_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    # Who should work it when no chat of it is live (bot/console/assign.py); the Inbox's "mine".
    assignee_username: Mapped[str | None] = mapped_column(String(64), index=True)
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", name="fk_tickets_team_id"))

    customer: Mapped[Customer | None] = relationship()
    events: Mapped[list[TicketEvent]] = relationship(
        back_populates="ticket", order_by="TicketEvent.id", cascade="all, delete-orphan"
    )


class TicketEvent(Base):
    """The ticket's history: creation, status changes, escalations, notes."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # created, status_changed, escalated, note
    actor: Mapped[str] = mapped_column(String(64))  # bot, customer, agent:<name>
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="events")


class Handoff(Base):
    """A request for a human: the agent queue reads these, highest priority first."""

    __tablename__ = "handoffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    # asked, not_understood, negative_sentiment, churn_threat, reply_in_chat, bot_unavailable
    reason: Mapped[str] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(8))
    priority_score: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="waiting")  # waiting, claimed, ended
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    promised_response_at: Mapped[dt.datetime]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    claimed_at: Mapped[dt.datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))  # the agent's name, as customers see it
    agent_username: Mapped[str | None] = mapped_column(String(64))  # who claimed it (ratings are kept per agent)
    ended_at: Mapped[dt.datetime | None]
    # Why it ended without a person, if it did: "bot_back" (the fault that queued it cleared
    # before anyone claimed it, and the bot answered instead), "customer_back" (the customer
    # went back to the assistant while waiting).
    end_reason: Mapped[str | None] = mapped_column(String(32))
    # When the customer was asked to rate this hand-off: one hand-off ends in one rating, once.
    rating_asked_at: Mapped[dt.datetime | None]
    # The team it waits for (its members see it first in the queue); None: anyone's.
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", name="fk_handoffs_team_id"))

    ticket: Mapped[Ticket | None] = relationship()


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        CheckConstraint("rating between 1 and 5", name="feedback_rating"),
        # A hand-off's agent part and bot part are each rated at most once.
        Index("uq_feedback_handoff_subject", "handoff_id", "subject", unique=True,
              sqlite_where=text("handoff_id IS NOT NULL"), postgresql_where=text("handoff_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(255), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    rating: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # What the rating is about: "bot" or "agent" (the person who took over; rated apart, so
    # each part of a handed-over conversation is measured). "whole" before migration 0003.
    subject: Mapped[str] = mapped_column(String(8), default="bot")
    agent_username: Mapped[str | None] = mapped_column(String(64), index=True)


class Conversation(Base):
    """One customer conversation as the gateway routes it. Its id is Rasa's sender id."""

    __tablename__ = "conversations"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8), default="bot")  # bot, queued, agent
    agent_username: Mapped[str | None] = mapped_column(String(64), index=True)  # the Inbox's "mine"
    agent_name: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # The web chat resumes a conversation with a secret the widget keeps (only its SHA-256 is
    # stored here), until it expires: the conversation id alone opens nothing.
    resume_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True, index=True)
    resume_expires_at: Mapped[dt.datetime | None]


# Who is talking to the customer (Conversation.mode), and how it may change: bot/lifecycle.py
# is the one writer. "erased": a pseudonym's row (bot/privacy/erase.py), never routed.
STATES = ("bot", "queued", "agent")


class ConversationEvent(Base):
    """One change of who is talking to the customer: the conversation's history of states.
    Written only by bot/lifecycle.py, in the unit of work that makes the change."""

    __tablename__ = "conversation_events"
    __table_args__ = (Index("ix_conversation_events_conversation_id", "conversation_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # see bot/lifecycle.py TRANSITIONS (handed_over, claimed, resolved, reopened, ...)
    transition: Mapped[str] = mapped_column(String(24))
    from_state: Mapped[str] = mapped_column(String(8))
    to_state: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(80))  # bot, gateway, customer, agent:<username>
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoffs.id"))
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)


# What became of a customer line (Message.outcome). NULL: not yet handled, so the gateway
# sends it to the bot again (bot/redrive.py). "migrated": stored before outcomes were kept.
OUTCOMES = ("bot", "person", "fault", "refused", "migrated")
PENDING_LINES = text("sender = 'customer' AND outcome IS NULL")


class Message(Base):
    """The transcript: every line, stored before it is routed or delivered."""

    __tablename__ = "messages"
    __table_args__ = (
        # The customer lines still waiting for an outcome: what the re-drive looks for.
        Index("ix_messages_pending", "conversation_id", "id",
              sqlite_where=PENDING_LINES, postgresql_where=PENDING_LINES),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(ForeignKey("conversations.id"), index=True)
    sender: Mapped[str] = mapped_column(String(16))  # customer, bot, agent, system
    agent_name: Mapped[str | None] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    payload: Mapped[str | None] = mapped_column(Text)
    buttons: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    client_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # Customer lines only: bot (the bot answered), person (went to the agents: queued or with
    # an agent), fault (the bot could not answer; a bot_unavailable hand-off holds it),
    # refused (nothing to route: a photo), NULL (not handled yet). See OUTCOMES.
    outcome: Mapped[str | None] = mapped_column(String(12))


ROLES = ("admin", "lead", "agent", "trainer")


class Team(Base):
    """A group of agents (Delivery, Billing, ...) a chat or ticket can be given to."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Agent(Base):
    __tablename__ = "agents"
    __table_args__ = (CheckConstraint("role in ('admin', 'lead', 'agent', 'trainer')", name="agent_role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    role: Mapped[str] = mapped_column(String(16), default="agent", server_default="agent")
    team_id: Mapped[int | None] = mapped_column(ForeignKey("teams.id", name="fk_agents_team_id"))


class AgentSession(Base):
    """A console login. Only a hash of the cookie's token is stored."""

    __tablename__ = "agent_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    # Last request on this login (written at most once a minute): idle sessions end.
    last_seen_at: Mapped[dt.datetime | None]

    agent: Mapped[Agent] = relationship()


class Note(Base):
    """An agent's internal note on a conversation (and its ticket); customers never see it."""

    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[str] = mapped_column(String(64), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id"))
    author: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class AuditEntry(Base):
    """Who did what in the console or on the command line: sign-ins (failed ones too) and
    every agent action that changes something. Admins read it; nothing updates it."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # an agent's username, "cli" or "system"
    action: Mapped[str] = mapped_column(String(48))  # sign_in, sign_in_failed, claim, reply, ...
    target: Mapped[str | None] = mapped_column(String(255))  # conversation, ticket or agent
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    address: Mapped[str | None] = mapped_column(String(64))  # the client's address


class FailedCheck(Base):
    """A failed proof of identity (an order number and email that do not belong together, a
    ticket's contact that does not match), kept to limit guessing across conversations. The
    key is a SHA-256 of the normalised value, never the value itself."""

    __tablename__ = "failed_checks"
    __table_args__ = (Index("ix_failed_checks_kind_key_at", "kind", "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # order, email, ticket, client
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class CannedReply(Base):
    """A reply agents insert from the console's picker ("/" in the reply box). Admins and
    leads manage them in the console; migration 0007 seeded the first ones from
    bot/console/canned_replies.yml. Placeholders ({first_name}, ...) are filled per
    conversation by bot/console/placeholders.py."""

    __tablename__ = "canned_replies"
    __table_args__ = (
        CheckConstraint("length(text) between 1 and 2000", name="canned_reply_text"),
        CheckConstraint("length(shortcut) between 1 and 32", name="canned_reply_shortcut"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(32), unique=True)  # [a-z0-9_-]{1,32}
    title: Mapped[str] = mapped_column(String(80))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))  # an agent's username, or "migration"
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(64))
