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

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from actions.db.models import (
    AuditEntry, Conversation, Feedback, Handoff, Message, Note, Ticket, TicketEvent,
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


async def _pseudonymise(session: AsyncSession, conversation_id: str, counts: dict[str, int]) -> str:
    """Move one conversation's remains to a new pseudonym and delete the rest."""
    pseudonym = PSEUDONYM_PREFIX + secrets.token_hex(12)
    # The first write on this conversation: a second eraser at the same time waits for this
    # one (PostgreSQL's row lock) and then finds nothing left to claim.
    claimed = await session.execute(update(Conversation).where(
        Conversation.id == conversation_id, Conversation.mode != ERASED_MODE).values(mode=ERASED_MODE))
    if claimed.rowcount:
        channel, created_at, updated_at = (await session.execute(select(
            Conversation.channel, Conversation.created_at, Conversation.updated_at)
            .where(Conversation.id == conversation_id))).one()
        await session.execute(insert(Conversation).values(
            id=pseudonym, channel=channel, mode=ERASED_MODE, created_at=created_at, updated_at=updated_at))
        last = await session.scalar(select(Message.id).where(
            Message.conversation_id == conversation_id, Message.sender == "customer")
            .order_by(Message.id.desc()).limit(1))
        if last is not None:
            await session.execute(update(Message).where(Message.id == last).values(
                conversation_id=pseudonym, text="", payload=None, buttons=[], client_id=None, agent_name=None))
        gone = await session.execute(delete(Message).where(Message.conversation_id == conversation_id))
        counts["messages"] += gone.rowcount or 0
        await session.execute(delete(Conversation).where(Conversation.id == conversation_id))
        counts["conversations"] += 1
    handoffs = await session.execute(update(Handoff).where(Handoff.conversation_id == conversation_id)
                                     .values(conversation_id=pseudonym, summary={}))
    counts["handoffs"] += handoffs.rowcount or 0
    feedback = await session.execute(update(Feedback).where(Feedback.conversation_id == conversation_id)
                                     .values(conversation_id=pseudonym, comment=None))
    counts["feedback"] += feedback.rowcount or 0
    await session.execute(update(Ticket).where(Ticket.conversation_id == conversation_id)
                          .values(conversation_id=pseudonym))
    notes = await session.execute(delete(Note).where(Note.conversation_id == conversation_id))
    counts["notes"] += notes.rowcount or 0
    # The audit log names conversations; it keeps the entries, under the pseudonym.
    for before, after in ((conversation_id, pseudonym), (f"conversation:{conversation_id}", f"conversation:{pseudonym}")):
        await session.execute(update(AuditEntry).where(AuditEntry.target == before).values(target=after))
    return pseudonym


async def scrub(session: AsyncSession, conversation_ids: set[str], ticket_ids: list[int],
                personal: set[str], reference: str) -> dict[str, int]:
    """Erase the conversations and anonymise the tickets in the caller's transaction.
    `personal`: emails, phone numbers and other values the audit log may name as a target."""
    counts = {"conversations": 0, "messages": 0, "tickets": 0, "handoffs": 0, "feedback": 0, "notes": 0}
    for conversation_id in sorted(conversation_ids):
        await _pseudonymise(session, conversation_id, counts)
        if conversation_id.startswith(TELEGRAM_PREFIX):
            personal.add(conversation_id[len(TELEGRAM_PREFIX):])
    counts["tickets"], notes = await anonymise_tickets(session, ticket_ids)
    counts["notes"] += notes
    targets = {f"{kind}:{value}"[:255] for kind in KINDS for value in personal}
    if targets:
        await session.execute(update(AuditEntry).where(AuditEntry.target.in_(sorted(targets)))
                              .values(target=f"erased:{reference}"))
    return counts


async def erase_customer(sessions: Any, query: Query, tracker_engine: AsyncEngine | None, *,
                         actor: str, address: str | None = None) -> Erasure:
    """Find the customer again and erase them: one transaction on CareDesk's database, one on
    Rasa's (first, so that a failure leaves CareDesk's rows to find and erase again).
    Erasing again finds nothing and changes nothing. Raises ErasureBlocked."""
    reference = new_reference()
    async with sessions.begin() as session:
        # The first statement writes, so on SQLite this transaction holds the write lock before
        # it reads: what it finds cannot change before it is erased.
        entry = AuditEntry(actor=actor, action="privacy_erase", target=f"erased:{reference}",
                           detail={"asked_by": query.kind}, address=address)
        session.add(entry)
        await session.flush()
        subject = await find_subject(session, query, tracker_engine)
        blocked = await live_conversations(session, subject.conversation_ids)
        if blocked:
            raise ErasureBlocked(blocked)
        events = await tracker.delete_events(tracker_engine, subject.conversation_ids)
        personal = set(subject.contacts) | {query.value}
        counts = await scrub(session, subject.conversation_ids, [t.id for t in subject.tickets], personal, reference)
        counts["tracker_events"] = events
        entry.detail = {"asked_by": query.kind, **counts}
    return Erasure(reference, counts)
