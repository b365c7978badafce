"""Erasing one customer (and, through retention, old conversations).

What goes and what stays, so that nothing personal remains and the team lead's Reports still
add up:
- the transcript, internal notes and Rasa's tracker events are deleted;
- each conversation id (a Telegram conversation's id is the customer's chat id) is replaced
  everywhere by a random pseudonym `erased_...` that links to no one;
- tickets, hand-offs and ratings are kept as anonymous rows, because Reports count them:
  a ticket keeps its number, category, priority, status and times, but its description,
  contact and order number are replaced and its customer link and event notes removed; a
  hand-off keeps its reason, priority and times but loses its summary; a rating keeps its
  score but loses its comment;
- of the transcript, one empty line is kept per conversation (the customer's last, without its
  text, under the pseudonym): Reports count "conversations in which a customer wrote" from it.
The shop's own records (customers, orders) are not CareDesk's to erase and stay as they are.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from caredesk.db.models import (
    AuditEntry, Conversation, ConversationEvent, Feedback, Handoff, Message, Note, Ticket, TicketEvent,
)
from bot.privacy import tracker
from bot.privacy.find import ERASED, KINDS, OPEN_HANDOFF, PSEUDONYM_PREFIX, TELEGRAM_PREFIX, Query, find_subject

ERASED_MODE = "erased"  # conversations.mode of a pseudonym's row
LIVE_MODES = ("queued", "agent")


class ErasureBlocked(Exception):
    """A conversation is with a person (waiting in the queue or claimed): an agent would be
    answering a conversation that no longer exists. Resolve it in the console first."""

    def __init__(self, conversation_ids: list[str]) -> None:
        super().__init__(", ".join(conversation_ids))
        self.conversation_ids = conversation_ids


@dataclass(frozen=True)
class Erasure:
    reference: str  # names the erasure in the audit log (which keeps nothing else about it)
    counts: dict[str, int]


def new_reference() -> str:
    return secrets.token_hex(6)


async def live_conversations(session: AsyncSession, conversation_ids: set[str]) -> list[str]:
    """Those of the conversations that a person has in hand or that wait for one."""
    if not conversation_ids:
        return []
    ids = sorted(conversation_ids)
    waiting = set((await session.scalars(select(Handoff.conversation_id).where(
        Handoff.conversation_id.in_(ids), Handoff.status.in_(OPEN_HANDOFF)))).all())
    waiting.update((await session.scalars(select(Conversation.id).where(
        Conversation.id.in_(ids), Conversation.mode.in_(LIVE_MODES)))).all())
    return sorted(waiting)


async def anonymise_tickets(session: AsyncSession, ticket_ids: list[int]) -> tuple[int, int]:
    """Keep what Reports count, remove what the customer said and how to reach them.
    Returns (tickets, notes deleted)."""
    if not ticket_ids:
        return 0, 0
    result = await session.execute(update(Ticket).where(Ticket.id.in_(ticket_ids)).values(
        description=ERASED, contact=ERASED, order_number=None, customer_id=None))
    await session.execute(update(TicketEvent).where(TicketEvent.ticket_id.in_(ticket_ids)).values(note=None))
    notes = await session.execute(delete(Note).where(Note.ticket_id.in_(ticket_ids)))
    return result.rowcount or 0, notes.rowcount or 0


async def _pseudonymise(session: AsyncSession, pseudonyms: dict[str, str], counts: dict[str, int]) -> None:
    """Move the conversations' remains to their pseudonyms and delete the rest: a few
    statements for the whole set, however many conversations it has (retention erases
    thousands, and SQLite's write lock is held meanwhile)."""
    ids = sorted(pseudonyms)
    # The first write on the conversations: a second eraser at the same time waits for this
    # one (PostgreSQL's row locks) and then finds nothing left to claim.
    claimed = (await session.execute(
        update(Conversation).where(Conversation.id.in_(ids), Conversation.mode != ERASED_MODE)
        .values(mode=ERASED_MODE, updated_at=Conversation.updated_at)
        .returning(Conversation.id, Conversation.channel, Conversation.created_at, Conversation.updated_at),
        execution_options={"synchronize_session": False})).all()
    if claimed:
        mine = sorted(row.id for row in claimed)
        await session.execute(insert(Conversation), [
            {"id": pseudonyms[row.id], "channel": row.channel, "mode": ERASED_MODE, "created_at": row.created_at,
             "updated_at": row.updated_at} for row in claimed])
        last_lines = list((await session.scalars(
            select(func.max(Message.id)).where(Message.conversation_id.in_(mine), Message.sender == "customer")
            .group_by(Message.conversation_id))).all())
        if last_lines:
            await session.execute(
                update(Message).where(Message.id.in_(last_lines)).values(
                    conversation_id=case(pseudonyms, value=Message.conversation_id), text="", payload=None,
                    buttons=[], client_id=None, agent_name=None),
                execution_options={"synchronize_session": False})
        gone = await session.execute(delete(Message).where(Message.conversation_id.in_(mine)),
                                     execution_options={"synchronize_session": False})
        counts["messages"] += gone.rowcount or 0
        await session.execute(delete(Conversation).where(Conversation.id.in_(mine)),
                              execution_options={"synchronize_session": False})
        counts["conversations"] += len(mine)
    for model, key, values in ((Handoff, "handoffs", {"summary": {}}), (Feedback, "feedback", {"comment": None}),
                               (Ticket, None, {}), (ConversationEvent, None, {"detail": None})):
        result = await session.execute(
            update(model).where(model.conversation_id.in_(ids))
            .values(conversation_id=case(pseudonyms, value=model.conversation_id), **values),
            execution_options={"synchronize_session": False})
        if key:
            counts[key] += result.rowcount or 0
    notes = await session.execute(delete(Note).where(Note.conversation_id.in_(ids)),
                                  execution_options={"synchronize_session": False})
    counts["notes"] += notes.rowcount or 0


async def scrub(session: AsyncSession, conversation_ids: set[str], ticket_ids: list[int],
                personal: set[str], reference: str) -> dict[str, int]:
    """Erase the conversations and anonymise the tickets in the caller's transaction.
    `personal`: emails, phone numbers and other values the audit log may name as a target."""
    counts = {"conversations": 0, "messages": 0, "tickets": 0, "handoffs": 0, "feedback": 0, "notes": 0}
    pseudonyms = {c: PSEUDONYM_PREFIX + secrets.token_hex(12) for c in sorted(conversation_ids)}
    renamed: dict[str, str] = {}  # audit log targets: the entries stay, naming no one
    for start in range(0, len(pseudonyms), tracker.CHUNK):
        chunk = dict(list(pseudonyms.items())[start:start + tracker.CHUNK])
        await _pseudonymise(session, chunk, counts)
    for conversation_id, pseudonym in pseudonyms.items():
        renamed[conversation_id] = pseudonym
        renamed[f"conversation:{conversation_id}"] = f"conversation:{pseudonym}"
        if conversation_id.startswith(TELEGRAM_PREFIX):
            personal.add(conversation_id[len(TELEGRAM_PREFIX):])
    counts["tickets"], notes = await anonymise_tickets(session, ticket_ids)
    counts["notes"] += notes
    renamed.update({f"{kind}:{value}"[:255]: f"erased:{reference}" for kind in KINDS for value in personal})
    if renamed:  # one statement: the audit log has no index on its target
        await session.execute(update(AuditEntry).where(AuditEntry.target.in_(sorted(renamed)))
                              .values(target=case(renamed, value=AuditEntry.target)),
                              execution_options={"synchronize_session": False})
    return counts


async def erase_customer(sessions: Any, query: Query, tracker_engine: AsyncEngine | None, *,
                         actor: str, address: str | None = None) -> Erasure:
    """Find the customer and erase them: one transaction on CareDesk's database, one on
    Rasa's (first, so that a failure leaves CareDesk's rows to find and erase again).
    Erasing again finds nothing and changes nothing. Raises ErasureBlocked."""
    reference = new_reference()
    # Finding may scan the transcript (an email typed in a chat): done before the write
    # transaction, which on SQLite holds the one write lock every chat message needs.
    async with sessions() as session:
        subject = await find_subject(session, query, tracker_engine)
    async with sessions.begin() as session:
        # The first statement writes: on SQLite the write lock is held from here on, so what is
        # checked below cannot change before it is erased.
        entry = AuditEntry(actor=actor, action="privacy_erase", target=f"erased:{reference}",
                           detail={"asked_by": query.kind}, address=address)
        session.add(entry)
        await session.flush()
        ids = subject.conversation_ids
        blocked = await live_conversations(session, ids)
        if blocked:
            raise ErasureBlocked(blocked)
        # With the tickets opened in those conversations since they were found.
        ticket_ids = {t.id for t in subject.tickets}
        if ids:
            ticket_ids.update((await session.scalars(select(Ticket.id).where(
                Ticket.conversation_id.in_(sorted(ids)), Ticket.contact != ERASED))).all())
        events = await tracker.delete_events(tracker_engine, ids)
        personal = set(subject.contacts) | {query.value}
        counts = await scrub(session, ids, sorted(ticket_ids), personal, reference)
        counts["tracker_events"] = events
        entry.detail = {"asked_by": query.kind, **counts}
    return Erasure(reference, counts)
