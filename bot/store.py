"""Conversations and their transcript. Functions take `session` and never commit."""
from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from actions.db.models import Conversation, Message


def new_conversation_id() -> str:
    return "c_" + secrets.token_urlsafe(16)


async def conversation(session: AsyncSession, conversation_id: str) -> Conversation | None:
    return await session.get(Conversation, conversation_id)


async def open_conversation(
    session: AsyncSession, conversation_id: str | None, channel: str
) -> Conversation:
    """The conversation with that id, or a new one (unknown ids are never trusted blindly)."""
    if conversation_id:
        found = await session.get(Conversation, conversation_id)
        if found is not None and found.channel == channel:
            return found
    created = Conversation(id=new_conversation_id(), channel=channel, mode="bot")
    session.add(created)
    await session.flush()
    return created


async def ensure_conversation(session: AsyncSession, conversation_id: str, channel: str) -> Conversation:
    """A channel that names its own conversations (Telegram: one per chat)."""
    found = await session.get(Conversation, conversation_id)
    if found is None:
        found = Conversation(id=conversation_id, channel=channel, mode="bot")
        session.add(found)
        await session.flush()
    return found


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
) -> Message:
    message = Message(
        conversation_id=conversation_id,
        sender=sender,
        text=text,
        payload=payload,
        buttons=buttons or [],
        agent_name=agent_name,
        client_id=client_id,
    )
    session.add(message)
    await session.flush()
    return message


async def add_messages(
    session: AsyncSession, conversation_id: str, sender: str, lines: list[tuple[str, list[dict[str, Any]]]]
) -> list[Message]:
    """Several lines (text, buttons) of one sender in one INSERT round trip."""
    messages = [
        Message(conversation_id=conversation_id, sender=sender, text=text, buttons=buttons)
        for text, buttons in lines
    ]
    session.add_all(messages)
    await session.flush()
    return messages


async def for_routing(
    session: AsyncSession, conversation_id: str, client_id: str | None
) -> tuple[Conversation | None, Message | None]:
    """The conversation and, if this client_id was seen before, its stored message: what
    routing a new customer message needs, in one query."""
    if not client_id:
        return await conversation(session, conversation_id), None
    row = (
        await session.execute(
            select(Conversation, Message)
            .outerjoin(Message, and_(Message.conversation_id == Conversation.id, Message.client_id == client_id))
            .where(Conversation.id == conversation_id)
            .limit(1)
        )
    ).first()
    return (row[0], row[1]) if row else (None, None)


async def history(session: AsyncSession, conversation_id: str) -> list[Message]:
    return list(
        (
            await session.scalars(
                select(Message).where(Message.conversation_id == conversation_id).order_by(Message.id)
            )
        ).all()
    )


def message_frame(message: Message) -> dict[str, Any]:
    return {
        "id": message.id,
        "from": message.sender,
        "agent_name": message.agent_name,
        "text": message.text,
        "buttons": message.buttons or [],
        "at": message.created_at.isoformat(),
        "client_id": message.client_id,
    }
