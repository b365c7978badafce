"""The Inbox: every conversation and ticket, found again after it leaves the queue.

One statement per page, on SQLite and PostgreSQL: the rows are the conversations the
gateway knows plus the conversations only a ticket names (a ticket written through Rasa's
own REST channel, or after the chat's row was pruned). Each row carries its latest ticket,
the customer that ticket (or an earlier one of the conversation) was linked to, its last
transcript line and its SLA state. Customers reach a conversation only through its tickets:
a chat that never produced a ticket has no known customer.

Views and filters are validated by the caller (bot/console/inbox_api.py); `search` trusts
the enums it is given and treats `q` as literal text."""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (ColumnElement, and_, case, exists, func, literal, or_, select, type_coerce, union)
from sqlalchemy.ext.asyncio import AsyncSession

from caredesk.db.models import Conversation, Customer, Handoff, Message, Ticket, UTCDateTime

logger = logging.getLogger(__name__)

VIEWS = ("all", "mine", "unassigned", "open", "waiting", "resolved")
SLA_STATES = ("none", "ok", "due_soon", "overdue", "met", "late")
OPEN_TICKET = ("open", "in_progress")
DONE_TICKET = ("resolved", "closed")
LIVE_MODES = ("queued", "agent")
CLOSED_MODE = "closed"  # resolved by an agent (bot/lifecycle.py)
HIDDEN_MODES = ("erased",)  # a pseudonym's remains (bot/privacy/erase.py)
DUE_SOON = dt.timedelta(hours=2)
SNIPPET = 160
PAGE, MAX_PAGE = 50, 200
TICKET_NUMBER = re.compile(r"^\s*CD-?(\d{1,12})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Filters:
    """Narrowing of a view; None means any. `customer_id` is the customer panel's own."""

    channel: str | None = None
    priority: str | None = None
    category: str | None = None
    sla: str | None = None
    agent: str | None = None
    customer_id: int | None = None


@dataclass(frozen=True)
class Cursor:
    """Where the previous page ended: its last row's activity and id (keyset paging)."""

    at: dt.datetime
    id: str

    def encode(self) -> str:
        return f"{self.at.isoformat()}|{self.id}"

    @staticmethod
    def decode(raw: str) -> Cursor:
        """ValueError for anything that is not a cursor this module wrote."""
        at, _, ident = raw.partition("|")
        moment = dt.datetime.fromisoformat(at)
        if moment.tzinfo is None or not ident or len(ident) > 64:
            raise ValueError("not a cursor")
        return Cursor(moment, ident)


def like_pattern(q: str) -> str:
    """`q` as a LIKE pattern that matches it literally anywhere (escape character `\\`)."""
    escaped = q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def ticket_number_of(q: str) -> str | None:
    """CD-100001, cd100001 or CD 100001 as the stored number; None when `q` is no number."""
    match = TICKET_NUMBER.match(q.replace(" ", "-", 1) if q.strip().upper().startswith("CD ") else q)
    return f"CD-{match.group(1)}" if match else None


def _latest(dialect: str, *columns: Any) -> ColumnElement[Any]:
    """The latest of several timestamps, none of them NULL (greatest() on PostgreSQL, the
    multi-argument max() on SQLite); typed so rows come back as aware datetimes."""
    chained = [func.coalesce(c, *[o for o in columns if o is not c]) for c in columns]
    latest = func.greatest(*chained) if dialect == "postgresql" else func.max(*chained)
    return type_coerce(latest, UTCDateTime())


def sla_state(now: dt.datetime) -> ColumnElement[str]:
    """ok / due_soon / overdue while the first answer is owed; met / late once it was given
    (an agent's first reply, or the ticket resolved or closed); none without a ticket."""
    answered = func.coalesce(Ticket.first_response_at, Ticket.resolved_at, Ticket.closed_at)
    return case(
        (Ticket.id.is_(None), literal("none")),
        (answered.is_not(None), case((answered <= Ticket.promised_response_at, literal("met")), else_=literal("late"))),
        (Ticket.promised_response_at < now, literal("overdue")),
        (Ticket.promised_response_at < now + DUE_SOON, literal("due_soon")),
        else_=literal("ok"),
    )


def _view(view: str, agent: str, last_sender: Any) -> ColumnElement[bool] | None:
    mode = Conversation.mode
    ticket_open = Ticket.status.in_(OPEN_TICKET)
    if view == "mine":  # chats I have, and tickets assigned to me whose chat nobody has
        return or_(Conversation.agent_username == agent,
                   and_(Ticket.assignee_username == agent, Conversation.agent_username.is_(None)))
    if view == "unassigned":
        return or_(mode == "queued", and_(ticket_open, Conversation.agent_username.is_(None),
                                          Ticket.assignee_username.is_(None)))
    if view == "open":
        return or_(mode.in_(LIVE_MODES), ticket_open)
    if view == "waiting":
        return and_(last_sender == "agent", or_(mode == "agent", ticket_open))
    if view == "resolved":
        return or_(mode == CLOSED_MODE, Ticket.status.in_(DONE_TICKET))
    return None  # "all"


def _matches(q: str, row_id: Any) -> ColumnElement[bool]:
    """Customer name, email or phone (of any ticket's customer, or the ticket's own contact),
    a ticket number exactly, the conversation id exactly, or words in the transcript."""
    pattern = like_pattern(q)
    tickets_of_row = Ticket.__table__.alias("qt")
    customers = Customer.__table__.alias("qc")
    messages = Message.__table__.alias("qm")
    people = (
        select(literal(1)).select_from(tickets_of_row.outerjoin(customers, customers.c.id == tickets_of_row.c.customer_id))
        .where(tickets_of_row.c.conversation_id == row_id)
        .where(or_(customers.c.name.ilike(pattern, escape="\\"), customers.c.email.ilike(pattern, escape="\\"),
                   customers.c.phone.ilike(pattern, escape="\\"), tickets_of_row.c.contact.ilike(pattern, escape="\\")))
    )
    said = select(literal(1)).select_from(messages).where(
        messages.c.conversation_id == row_id, messages.c.text.ilike(pattern, escape="\\"))
    found = [exists(people), exists(said), row_id == q.strip()]
    number = ticket_number_of(q)
    if number is not None:
        numbered = select(literal(1)).select_from(tickets_of_row).where(
            tickets_of_row.c.conversation_id == row_id, tickets_of_row.c.number == number)
        found.append(exists(numbered))
    return or_(*found)


async def search(session: AsyncSession, *, view: str = "all", q: str = "", filters: Filters | None = None,
                 agent: str, limit: int = PAGE, before: Cursor | None = None,
                 now: dt.datetime | None = None) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the inbox, latest activity first, and the cursor of the next page (None
    on the last page). `agent` is the username "mine" means."""
    filters = filters or Filters()
    now = now or dt.datetime.now(dt.timezone.utc)
    dialect = session.bind.dialect.name
    ids = union(select(Conversation.id.label("id")), select(Ticket.conversation_id.label("id"))).subquery("ids")
    per_ticket = (select(Ticket.conversation_id.label("cid"), func.max(Ticket.id).label("ticket_id"),
                         func.max(Ticket.customer_id).label("customer_id"))
                  .group_by(Ticket.conversation_id).subquery("per_ticket"))
    per_line = (select(Message.conversation_id.label("cid"), func.max(Message.id).label("message_id"))
                .group_by(Message.conversation_id).subquery("per_line"))
    last_line = Message.__table__.alias("last_line")
    per_handoff = (select(Handoff.conversation_id.label("cid"), func.max(Handoff.id).label("handoff_id"))
                   .group_by(Handoff.conversation_id).subquery("per_handoff"))
    last_handoff = Handoff.__table__.alias("last_handoff")
    handled_by = func.coalesce(Conversation.agent_username, Ticket.assignee_username, last_handoff.c.agent_username)
    activity = _latest(dialect, last_line.c.created_at, Conversation.updated_at, Ticket.updated_at).label("activity")
    sla = sla_state(now).label("sla")
    snippet = last_line.c.text
    if q:
        matching = Message.__table__.alias("hit")
        snippet = func.coalesce(
            select(matching.c.text).where(matching.c.conversation_id == ids.c.id,
                                          matching.c.text.ilike(like_pattern(q), escape="\\"))
            .order_by(matching.c.id.desc()).limit(1).correlate(ids).scalar_subquery(),
            last_line.c.text)
    query = (
        select(ids.c.id, Conversation.channel.label("conversation_channel"), Conversation.mode,
               Conversation.agent_username, Conversation.agent_name, Ticket.number, Ticket.status.label("ticket_status"),
               Ticket.priority, Ticket.category, Ticket.channel.label("ticket_channel"),
               Ticket.promised_response_at, Customer.id.label("customer_id"), Customer.name.label("customer_name"),
               Customer.tier, handled_by.label("handled_by"), last_line.c.sender.label("last_sender"), snippet.label("snippet"), activity, sla)
        .select_from(ids)
        .outerjoin(Conversation, Conversation.id == ids.c.id)
        .outerjoin(per_ticket, per_ticket.c.cid == ids.c.id)
        .outerjoin(Ticket, Ticket.id == per_ticket.c.ticket_id)
        .outerjoin(Customer, Customer.id == per_ticket.c.customer_id)
        .outerjoin(per_line, per_line.c.cid == ids.c.id)
        .outerjoin(last_line, last_line.c.id == per_line.c.message_id)
        .outerjoin(per_handoff, per_handoff.c.cid == ids.c.id)
        .outerjoin(last_handoff, last_handoff.c.id == per_handoff.c.handoff_id)
        .where(or_(Conversation.mode.is_(None), Conversation.mode.not_in(HIDDEN_MODES)))
    )
    condition = _view(view, agent, last_line.c.sender)
    if condition is not None:
        query = query.where(condition)
    if q:
        query = query.where(_matches(q, ids.c.id))
    query = _filtered(query, filters, sla, handled_by, ids.c.id)
    if before is not None:
        query = query.where(or_(activity < before.at, and_(activity == before.at, ids.c.id < before.id)))
    size = max(1, min(limit, MAX_PAGE))
    rows = (await session.execute(query.order_by(activity.desc(), ids.c.id.desc()).limit(size + 1))).all()
    page = [_row(row) for row in rows[:size]]
    cursor = Cursor(rows[size - 1].activity, rows[size - 1].id) if len(rows) > size else None
    return page, cursor


def _filtered(query: Any, filters: Filters, sla: Any, handled_by: Any, row_id: Any) -> Any:
    """`agent`: who has the conversation now or, once it left them, who claimed it last."""
    if filters.channel:
        query = query.where(func.coalesce(Conversation.channel, Ticket.channel) == filters.channel)
    if filters.priority:
        query = query.where(Ticket.priority == filters.priority)
    if filters.category:
        query = query.where(Ticket.category == filters.category)
    if filters.sla:
        query = query.where(sla == filters.sla)
    if filters.agent:
        query = query.where(handled_by == filters.agent)
    if filters.customer_id is not None:  # computed once, not per row
        tickets = Ticket.__table__.alias("ct")
        query = query.where(row_id.in_(select(tickets.c.conversation_id)
                                       .where(tickets.c.customer_id == filters.customer_id)))
    return query


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def state_of(mode: str | None, ticket_status: str | None) -> str:
    """One word for the row: the conversation's state, or the ticket's when only it exists."""
    if mode is not None:
        return mode
    return "ticket_" + (ticket_status or "unknown")


def _row(row: Any) -> dict[str, Any]:
    snippet = row.snippet or ""
    return {
        "conversation_id": row.id,
        "channel": row.conversation_channel or row.ticket_channel,
        "state": state_of(row.mode, row.ticket_status),
        "agent_username": row.agent_username,
        "agent_name": row.agent_name,
        "handled_by": row.handled_by,
        "customer": None if row.customer_id is None else {"id": row.customer_id, "name": row.customer_name,
                                                          "tier": row.tier},
        "ticket": None if row.number is None else {
            "number": row.number, "status": row.ticket_status, "priority": row.priority,
            "category": row.category, "promised_response_at": _iso(row.promised_response_at)},
        "sla": row.sla,
        "last_from": row.last_sender,
        "last_activity": _iso(row.activity),
        "snippet": snippet if len(snippet) <= SNIPPET else snippet[:SNIPPET - 1] + "…",
    }
