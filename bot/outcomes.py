"""What became of each customer line, and the lines still waiting for one.

A customer line is stored before it is routed; its outcome (caredesk/db/models.py OUTCOMES) is
set in the same transaction that stores the bot's answer, or that hands it to a person. A
line left without one (the gateway died in between, or the bot could not answer) is found
here and sent to the bot again (bot/redrive.py). Setting an outcome is conditional, so of two
gateways that answer one line only the first stores the answer. Functions take a connection
and never commit: the caller owns the unit of work."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, and_, bindparam, func, literal_column, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from caredesk.db.models import Conversation, Handoff, Message, Ticket

_messages: Table = Message.__table__  # type: ignore[assignment]
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
_handoffs: Table = Handoff.__table__  # type: ignore[assignment]
_tickets: Table = Ticket.__table__  # type: ignore[assignment]

# Spelled as the partial index ix_messages_pending is (no bound parameter), so that both
# databases know the index covers the query.
_PENDING = and_(_messages.c.sender == literal_column("'customer'"), _messages.c.outcome.is_(None))
_WITH_THE_BOT = and_(_conversations.c.id == _messages.c.conversation_id,
                     _conversations.c.mode.in_((literal_column("'bot'"), literal_column("'closed'"))))
_SETTLE = (
    update(_messages)
    .where(_messages.c.id == bindparam("line_id"), _messages.c.outcome.is_(None))
    .values(outcome=bindparam("outcome"))
)
# Lines stored in a window: not too young (their answer may still be on its way), not too old
# (the customer has long moved on; the line stays in the transcript for people to read).
_IN_WINDOW = and_(_messages.c.created_at < bindparam("before"), _messages.c.created_at >= bindparam("not_before"))
# The oldest line of one conversation still waiting for the bot, in the window.
_NEXT_PENDING = (
    select(_messages.c.id, _messages.c.text, _messages.c.payload, _conversations.c.channel)
    .select_from(_messages.join(_conversations, _WITH_THE_BOT))
    .where(_PENDING, _messages.c.conversation_id == bindparam("conversation_id"), _IN_WINDOW)
    .order_by(_messages.c.id)
    .limit(1)
)
_LINE = (
    select(_messages.c.text, _messages.c.payload, _conversations.c.channel)
    .select_from(_messages.join(_conversations, _conversations.c.id == _messages.c.conversation_id))
    .where(_messages.c.id == bindparam("line_id"), _messages.c.sender == "customer")
)
# Conversations with the bot that hold a line stored before `before` and still without outcome.
_WAITING_CONVERSATIONS = (
    select(_messages.c.conversation_id, func.min(_messages.c.id).label("first"))
    .select_from(_messages.join(_conversations, _WITH_THE_BOT))
    .where(_PENDING, _IN_WINDOW)
    .group_by(_messages.c.conversation_id)
    .order_by(func.min(_messages.c.id))
    .limit(bindparam("limit"))
)
# Queued because the bot could not answer, and no person has claimed it: oldest first.
_RETURNABLE = (
    select(_handoffs.c.id, _handoffs.c.conversation_id, _handoffs.c.summary, _tickets.c.number.label("ticket"))
    .select_from(
        _handoffs.join(_conversations, _conversations.c.id == _handoffs.c.conversation_id)
        .outerjoin(_tickets, _tickets.c.id == _handoffs.c.ticket_id)
    )
    .where(_handoffs.c.reason == "bot_unavailable", _handoffs.c.status == "waiting", _conversations.c.mode == "queued")
    .order_by(_handoffs.c.id)
    .limit(bindparam("limit"))
)


@dataclass(frozen=True)
class Pending:
    """A customer line the bot has not answered yet, as the bot must read it again."""

    id: int
    conversation_id: str
    text: str
    payload: str | None
    channel: str


@dataclass(frozen=True)
class Returnable:
    """A bot_unavailable hand-off no person has claimed, and the line it started with."""

    handoff_id: int
    conversation_id: str
    first_line: int | None
    ticket: str | None


def message_id(line_id: int) -> str:
    """The id Rasa keeps with the line's UserUttered: sent again, it is not answered twice."""
    return f"cd-{line_id}"


async def settle(connection: AsyncConnection, line_id: int, outcome: str) -> bool:
    """Give the line its outcome unless it has one already. False: someone else answered it
    (another gateway, an earlier attempt), so its answer must not be stored again."""
    result = await connection.execute(_SETTLE, {"line_id": line_id, "outcome": outcome})
    return result.rowcount == 1  # type: ignore[attr-defined, no-any-return]


async def settle_waiting(connection: AsyncConnection | AsyncSession, conversation_id: str, outcome: str) -> int:
    """Every line of the conversation still waiting gets `outcome` (a person takes the chat:
    what the customer wrote is theirs to answer, never the bot's after the hand-back)."""
    result = await connection.execute(
        update(_messages).where(_messages.c.conversation_id == conversation_id, _PENDING).values(outcome=outcome))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Window:
    """Which waiting lines a pass sends again: stored in [not_before, before)."""

    not_before: dt.datetime
    before: dt.datetime


async def next_pending(connection: AsyncConnection, conversation_id: str, window: Window) -> Pending | None:
    params = {"conversation_id": conversation_id, "before": window.before, "not_before": window.not_before}
    row = (await connection.execute(_NEXT_PENDING, params)).first()
    if row is None:
        return None
    return Pending(row.id, conversation_id, row.text, row.payload, row.channel)


async def line(connection: AsyncConnection, line_id: int) -> tuple[str, str | None, str] | None:
    """A customer line's text, payload and channel."""
    row = (await connection.execute(_LINE, {"line_id": line_id})).first()
    return None if row is None else (row.text, row.payload, row.channel)


async def waiting_conversations(connection: AsyncConnection, window: Window, limit: int) -> list[str]:
    """Conversations with the bot holding a line stored in `window` and without outcome, the
    longest waiting first."""
    params = {"before": window.before, "not_before": window.not_before, "limit": limit}
    result = await connection.execute(_WAITING_CONVERSATIONS, params)
    return [row.conversation_id for row in result]


async def returnable(connection: AsyncConnection, limit: int) -> list[Returnable]:
    result = await connection.execute(_RETURNABLE, {"limit": limit})
    return [Returnable(row.id, row.conversation_id, _first_line(row.summary), row.ticket) for row in result]


def _first_line(summary: Any) -> int | None:
    value = summary.get("first_line") if isinstance(summary, dict) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


async def reopen_lines(connection: AsyncConnection, conversation_id: str, first_line: int | None) -> None:
    """The conversation is back with the bot after a fault (bot/lifecycle.py bot_back): its
    lines since `first_line`, which went to the agents, wait for the bot again."""
    if first_line is None:
        return
    await connection.execute(
        update(_messages)
        .where(_messages.c.conversation_id == conversation_id, _messages.c.sender == "customer",
               _messages.c.id >= first_line, _messages.c.outcome.in_(("fault", "person")))
        .values(outcome=None)
    )
