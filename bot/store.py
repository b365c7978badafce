"""Conversations and their transcript. Functions take a session or connection and never
commit: the caller owns the unit of work."""
from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import JSON, Row, Table, and_, bindparam, case, exists, func, insert, literal, null, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from caredesk.db.models import Conversation, Handoff, Message, UTCDateTime, utcnow

# The statements on the path of every message are built once, on the tables' columns rather
# than the ORM's attributes: building and compiling them per call cost the gateway more CPU
# than the database spent answering them (profiled: about 1.5 ms per customer message).
_messages: Table = Message.__table__  # type: ignore[assignment]
_conversations: Table = Conversation.__table__  # type: ignore[assignment]
# What a message frame shows; INSERT ... RETURNING these gives a line without an ORM object.
LINE_COLUMNS = tuple(
    _messages.c[name] for name in ("id", "sender", "agent_name", "text", "buttons", "created_at", "client_id")
)
_INSERT_LINES = insert(_messages).returning(*LINE_COLUMNS)
_NEW_CONVERSATION = insert(_conversations)
# Where a customer message goes (the conversation's mode and channel), and the line its
# client_id was stored as if the client sent it before (a NULL client_id matches nothing).
_ROUTE = (
    select(_conversations.c.mode, _conversations.c.channel, _messages.c.outcome, *LINE_COLUMNS)
    .select_from(_conversations.outerjoin(_messages, and_(
        _messages.c.conversation_id == _conversations.c.id, _messages.c.client_id == bindparam("client_id"),
    )))
    .where(_conversations.c.id == bindparam("conversation_id"))
    .limit(1)
)

# A customer message in one round trip: stored unless its conversation is missing or the
# client sent this client_id before, returning the line and where it goes. When it stores
# nothing, _ROUTE tells which of the two it was.
_THIS_CONVERSATION = _conversations.c.id == bindparam("conversation_id")
# A line for the bot has no outcome until the bot's answer is stored (bot/outcomes.py); one
# for a conversation with the agents went to a person as it was stored.
_OUTCOME_ON_ARRIVAL = (
    select(case((_conversations.c.mode.in_(("bot", "closed")), null()), else_=literal("person")))
    .where(_THIS_CONVERSATION).scalar_subquery()
)
_STORE_CUSTOMER_LINE = (
    insert(_messages)
    .from_select(
        ["conversation_id", "sender", "text", "payload", "buttons", "client_id", "created_at", "outcome"],
        select(
            bindparam("conversation_id", type_=_messages.c.conversation_id.type),
            literal("customer", type_=_messages.c.sender.type),
            bindparam("text", type_=_messages.c.text.type),
            bindparam("payload", type_=_messages.c.payload.type),
            bindparam("buttons", type_=JSON),
            bindparam("client_id", type_=_messages.c.client_id.type),
            bindparam("created_at", type_=UTCDateTime),
            _OUTCOME_ON_ARRIVAL,
        ).where(
            exists().where(_THIS_CONVERSATION),
            ~exists().where(
                _messages.c.conversation_id == bindparam("conversation_id"),
                _messages.c.client_id == bindparam("client_id"),
            ),
        ),
    )
    .returning(
        *LINE_COLUMNS,
        select(_conversations.c.mode).where(_THIS_CONVERSATION).scalar_subquery().label("mode"),
        select(_conversations.c.channel).where(_THIS_CONVERSATION).scalar_subquery().label("channel"),
    )
)
# The buttons of the bot's latest turn: its lines after the customer's latest line (read
# before the new line is stored). Only asked when a message claims to be a button press.
_LATEST_BOT_TURN = (
    select(_messages.c.buttons)
    .where(
        _messages.c.conversation_id == bindparam("conversation_id"),
        _messages.c.sender == "bot",
        _messages.c.id > select(func.coalesce(func.max(_messages.c.id), 0)).where(
            _messages.c.conversation_id == bindparam("conversation_id"), _messages.c.sender == "customer",
        ).scalar_subquery(),
    )
    .order_by(_messages.c.id)
)


class Line(Protocol):
    """A stored transcript line: a Message, or a row returned by the INSERT below."""

    id: int
    sender: str
    agent_name: str | None
    text: str
    buttons: list[dict[str, Any]] | None
    created_at: dt.datetime
    client_id: str | None


@dataclass(frozen=True)
class Inbound:
    """A customer message as routing needs it: stored (or seen before) and where it goes."""

    line: Line
    repeated: bool  # the client sent this client_id before: confirm again, route nothing
    mode: str
    channel: str
    # Sent before and still without an answer: the gateway that took it may have died with
    # it. Routed again; Rasa answers a line once and only one gateway stores the answer.
    unanswered: bool = False


def new_conversation_id() -> str:
    return "c_" + secrets.token_urlsafe(16)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True)
class NewChat:
    """A new web chat: its id, and the secret the widget keeps to resume it (never stored)."""

    conversation_id: str
    resume_token: str


async def conversation(session: AsyncSession, conversation_id: str) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


async def new_conversation(connection: AsyncConnection, channel: str, resume_for: dt.timedelta) -> NewChat:
    """A new conversation in one INSERT, without the ORM's unit of work: every chat that
    opens the widget makes one, and an ORM session cost it five round trips. Its resume token
    works for `resume_for` after the last (re)connect; only its digest is stored."""
    chat = NewChat(new_conversation_id(), secrets.token_urlsafe(24))
    await connection.execute(_NEW_CONVERSATION, {
        "id": chat.conversation_id, "channel": channel, "mode": "bot",
        "resume_token_hash": token_digest(chat.resume_token), "resume_expires_at": utcnow() + resume_for,
    })
    return chat


async def resumed(session: AsyncSession, token: str, channel: str, resume_for: dt.timedelta) -> Conversation | None:
    """The conversation this resume token opens, if it has not expired; each resume extends
    it. An expired or unknown token opens nothing (the widget then starts a new chat)."""
    now = utcnow()
    found = await session.scalar(select(Conversation).where(
        Conversation.resume_token_hash == token_digest(token), Conversation.channel == channel,
        Conversation.resume_expires_at > now,
    ))
    if found is not None:
        found.resume_expires_at = now + resume_for
    return found


async def promised_response_at(session: AsyncSession, conversation_id: str) -> dt.datetime | None:
    """When a person will answer a waiting conversation (its open hand-off's promise)."""
    return await session.scalar(
        select(Handoff.promised_response_at)
        .where(Handoff.conversation_id == conversation_id, Handoff.status == "waiting")
        .order_by(Handoff.id.desc()).limit(1)
    )


async def ensure_conversation(session: AsyncSession, conversation_id: str, channel: str) -> Conversation:
    """A channel that names its own conversations (Telegram: one per chat)."""
    found = await session.get(Conversation, conversation_id)
    if found is None:
        found = Conversation(id=conversation_id, channel=channel, mode="bot")
        session.add(found)
        await session.flush()
    return found


def _row(conversation_id: str, sender: str, text: str, buttons: list[dict[str, Any]] | None = None,
         **extra: Any) -> dict[str, Any]:
    return {"conversation_id": conversation_id, "sender": sender, "text": text, "buttons": buttons or [], **extra}


async def insert_lines(
    connection: AsyncConnection | AsyncSession, rows: list[dict[str, Any]]
) -> list[Row[Any]]:
    """Lines in one INSERT ... RETURNING round trip, without the ORM's unit of work: on the
    path of every message the ORM's bookkeeping costs more than the database does."""
    result = await connection.execute(_INSERT_LINES, rows)
    return list(result.all())


async def store_inbound(
    connection: AsyncConnection, conversation_id: str, text: str, payload: str | None,
    client_id: str | None, *, retrying: bool = False,
) -> Inbound | None:
    """Store a customer message, or find it when a reconnecting client sends it again. No
    transaction needed: a client_id is only ever resent after a reconnect, so the duplicate
    check cannot race with its own first copy. None when the conversation does not exist.
    `retrying`: the first attempt lost its connection, so a line found by its client_id may
    be that attempt's own and was never routed."""
    params = {"conversation_id": conversation_id, "client_id": client_id, "text": text, "payload": payload,
              "buttons": [], "created_at": utcnow()}
    stored = (await connection.execute(_STORE_CUSTOMER_LINE, params)).first()
    if stored is not None:
        return Inbound(line=stored, repeated=False, mode=stored.mode, channel=stored.channel)
    found = (await connection.execute(_ROUTE, params)).first()
    if found is None:
        return None
    if found.id is not None:
        return Inbound(line=found, repeated=not retrying, mode=found.mode, channel=found.channel,
                       unanswered=found.outcome is None)
    # Stored nothing, yet the conversation exists and the client_id is new: it was created
    # in between. Store it the plain way.
    outcome = None if found.mode in ("bot", "closed") else "person"
    (line,) = await insert_lines(
        connection, [_row(conversation_id, "customer", text, payload=payload, client_id=client_id, outcome=outcome)]
    )
    return Inbound(line=line, repeated=False, mode=found.mode, channel=found.channel)


async def has_client_id(session: AsyncSession, conversation_id: str, client_id: str) -> bool:
    found = await session.scalar(select(_messages.c.id).where(
        _messages.c.conversation_id == conversation_id, _messages.c.client_id == client_id).limit(1))
    return found is not None


async def latest_bot_turn(connection: AsyncConnection, conversation_id: str) -> list[list[dict[str, Any]] | None]:
    """The button lists of the bot's lines since the customer last wrote."""
    result = await connection.execute(_LATEST_BOT_TURN, {"conversation_id": conversation_id})
    return [row.buttons for row in result]


async def add_message(
    session: AsyncSession,
    conversation_id: str,
    sender: str,
    text: str,
    *,
    payload: str | None = None,
    buttons: list[dict[str, Any]] | None = None,
    agent_name: str | None = None,
    client_id: str | None = None,
    outcome: str | None = None,
) -> Line:
    """One line. A customer line routed elsewhere than to the bot carries its `outcome`."""
    (line,) = await insert_lines(
        session,
        [_row(conversation_id, sender, text, buttons, payload=payload, agent_name=agent_name, client_id=client_id,
              outcome=outcome)],
    )
    return line


def bot_rows(conversation_id: str, lines: list[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    return [_row(conversation_id, "bot", text, buttons) for text, buttons in lines]


async def history(session: AsyncSession, conversation_id: str) -> list[Message]:
    return list(
        (
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
            )
        ).all()
    )


def message_frame(message: Line) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": message.sender,
        "agent_name": message.agent_name,
        "text": message.text,
        "buttons": message.buttons or [],
        "at": message.created_at.isoformat(),
        "client_id": message.client_id,
    }
