"""Retention: conversations idle for longer than RETENTION_DAYS are erased the way one
customer is (bot/privacy/erase.py), and older resolved or closed tickets are anonymised.
A conversation with a hand-off still open or a ticket not yet resolved is never touched.

Several gateways may run the job at once: on PostgreSQL a transaction-level advisory lock lets
one of them work and the others skip that round; on SQLite the second waits for the single
writer and then finds nothing left; each conversation is claimed by its first write
(erase._pseudonymise)."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import exists, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from caredesk.db.models import AuditEntry, Conversation, Handoff, Message, Ticket, utcnow
from bot.privacy import tracker
from bot.privacy.erase import ERASED_MODE, LIVE_MODES, anonymise_tickets, new_reference, scrub
from bot.privacy.find import ERASED, OPEN_HANDOFF, OPEN_TICKET

logger = logging.getLogger(__name__)
BATCH = 50  # conversations per transaction: short write locks, so live chats never wait long
CANDIDATES = 1000  # idle conversations looked for at once
# Between batches: SQLite's waiting writers (the chats) poll for the lock every few ms and
# must get their turn before the next batch takes it again.
PAUSE_SECONDS = 0.05
INTERVAL_SECONDS = 3600
ADVISORY_LOCK = 0x43617265  # "Care": one purging gateway at a time on PostgreSQL


class _NothingToDo(Exception):
    """Raised inside a transaction to roll it back (its audit row too)."""


class _Busy(_NothingToDo):
    """Another gateway holds the purge lock: this round stops."""


def _open_work(conversation_id: Any) -> Any:
    """A hand-off still open, or a ticket not yet resolved, on the conversation."""
    return exists().where(Handoff.conversation_id == conversation_id, Handoff.status.in_(OPEN_HANDOFF)) | \
        exists().where(Ticket.conversation_id == conversation_id, Ticket.status.in_(OPEN_TICKET))


async def _idle_conversations(session: AsyncSession, cutoff: dt.datetime, limit: int,
                              among: list[str] | None = None) -> list[str]:
    """Gateway conversations whose last line (or, without lines, last change) is older than
    the cutoff and that nobody is working on. One indexed look-up per conversation."""
    last_line = select(func.max(Message.created_at)).where(Message.conversation_id == Conversation.id) \
        .scalar_subquery()
    query = select(Conversation.id).where(
        Conversation.mode.not_in((ERASED_MODE, *LIVE_MODES)),
        func.coalesce(last_line, Conversation.updated_at) < cutoff,
        ~_open_work(Conversation.id))
    if among is not None:
        query = query.where(Conversation.id.in_(among))
    return list((await session.scalars(query.order_by(Conversation.id).limit(limit))).all())


async def _rasa_only(session: AsyncSession, tracker_engine: AsyncEngine | None, cutoff: dt.datetime,
                     senders: list[str]) -> list[str]:
    """Of Rasa's idle conversations, those only Rasa has (its REST channel, `make shell`):
    no gateway conversation, no open work, and still idle."""
    if not senders:
        return []
    kept = set((await session.scalars(select(Conversation.id).where(Conversation.id.in_(senders)))).all())
    for column in (Handoff.conversation_id, Ticket.conversation_id):
        kept.update((await session.scalars(select(column).where(column.in_(senders), _open_work(column)))).all())
    newest = await tracker.newest_events(tracker_engine, [s for s in senders if s not in kept])
    return [s for s in senders if s not in kept and newest.get(s, 0.0) < cutoff.timestamp()]


async def _locked(session: AsyncSession) -> bool:
    """Take the purge lock for this transaction (PostgreSQL); False when another gateway has it."""
    if session.bind.dialect.name != "postgresql":
        return True
    return bool(await session.scalar(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}))


async def _erase_batch(sessions: Any, tracker_engine: AsyncEngine | None, cutoff: dt.datetime,
                       batch: list[str], *, rasa_only: bool) -> dict[str, int] | None:
    """Erase what is still idle of one batch in one transaction (per database); None when
    another gateway holds the lock."""
    reference = new_reference()
    try:
        async with sessions.begin() as session:
            entry = AuditEntry(actor="system", action="privacy_purge", target=f"erased:{reference}", detail={})
            session.add(entry)  # the first statement writes: SQLite's write lock before the re-check
            await session.flush()
            if not await _locked(session):
                raise _Busy
            # Checked again inside the transaction: a customer may have written in between.
            if rasa_only:
                still = await _rasa_only(session, tracker_engine, cutoff, batch)
            else:
                still = await _idle_conversations(session, cutoff, len(batch), among=batch)
            if not still:
                raise _NothingToDo
            ticket_ids = list((await session.scalars(select(Ticket.id).where(Ticket.conversation_id.in_(still)))).all())
            events = await tracker.delete_events(tracker_engine, still)
            counts = await scrub(session, set(still), ticket_ids, set(), reference)
            counts["tracker_events"] = events
            entry.detail = {"retention": True, **counts}
    except _Busy:
        return None
    except _NothingToDo:
        return {}
    return counts


async def _anonymise_old_tickets(sessions: Any, cutoff: dt.datetime) -> int:
    """Resolved or closed tickets older than the cutoff whose conversation is still kept."""
    total = 0
    while True:
        async with sessions() as session:
            ids = list((await session.scalars(select(Ticket.id).where(
                Ticket.status.not_in(OPEN_TICKET), Ticket.contact != ERASED,
                func.coalesce(Ticket.closed_at, Ticket.resolved_at, Ticket.updated_at) < cutoff)
                .order_by(Ticket.id).limit(BATCH))).all())
        if not ids:
            return total
        try:
            async with sessions.begin() as session:
                entry = AuditEntry(actor="system", action="privacy_purge", target=None, detail={})
                session.add(entry)
                await session.flush()
                if not await _locked(session):
                    raise _NothingToDo
                still = list((await session.scalars(select(Ticket.id).where(
                    Ticket.id.in_(ids), Ticket.status.not_in(OPEN_TICKET), Ticket.contact != ERASED))).all())
                if not still:
                    raise _NothingToDo
                tickets, notes = await anonymise_tickets(session, still)
                entry.detail = {"retention": True, "tickets": tickets, "notes": notes}
        except _NothingToDo:
            return total
        total += tickets


async def purge(sessions: Any, tracker_engine: AsyncEngine | None, days: int, *,
                now: dt.datetime | None = None) -> dict[str, int]:
    """Apply the retention period once; the totals of what was erased. `days` 0: nothing."""
    totals = {"conversations": 0, "messages": 0, "tracker_events": 0, "tickets": 0, "handoffs": 0,
              "feedback": 0, "notes": 0}
    if days <= 0:
        return totals
    cutoff = (now or utcnow()) - dt.timedelta(days=days)

    def add(counts: dict[str, int]) -> None:
        for key, value in counts.items():
            totals[key] += value

    while True:  # the gateway's conversations, CANDIDATES at a time
        async with sessions() as session:
            candidates = await _idle_conversations(session, cutoff, CANDIDATES)
        erased_any = False
        for start in range(0, len(candidates), BATCH):
            counts = await _erase_batch(sessions, tracker_engine, cutoff, candidates[start:start + BATCH],
                                        rasa_only=False)
            if counts is None:
                return totals  # another gateway is purging
            add(counts)
            erased_any = erased_any or bool(counts)
            await asyncio.sleep(PAUSE_SECONDS)
        if len(candidates) < CANDIDATES or not erased_any:
            break
    # Conversations only Rasa has: its events are the only trace of them (one scan of them).
    senders = await tracker.idle_senders(tracker_engine, cutoff, 10_000)
    for start in range(0, len(senders), BATCH):
        counts = await _erase_batch(sessions, tracker_engine, cutoff, senders[start:start + BATCH], rasa_only=True)
        if counts is None:
            return totals
        add(counts)
        await asyncio.sleep(PAUSE_SECONDS)
    totals["tickets"] += await _anonymise_old_tickets(sessions, cutoff)
    return totals


async def retention_job(sessions: Any, tracker_engine: AsyncEngine | None, days: int,
                        interval: float = INTERVAL_SECONDS) -> None:
    """Run `purge` now and then every `interval` seconds until cancelled; a failed round is
    logged and tried again next time."""
    while True:
        try:
            totals = await purge(sessions, tracker_engine, days)
            if any(totals.values()):
                logger.info("Retention (%s days): erased %s", days, totals)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("Retention round failed; trying again in %s s", interval)
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def running(sessions: Any, tracker_engine: AsyncEngine | None, days: int) -> AsyncIterator[None]:
    """For the app's cleanup_ctx: the job runs while the gateway does."""
    if days <= 0:
        logger.info("Retention off (RETENTION_DAYS=0): conversations are kept until erased")
        yield
        return
    logger.info("Retention: conversations idle for more than %s days are erased, hourly", days)
    task = asyncio.create_task(retention_job(sessions, tracker_engine, days), name="caredesk-retention")
    try:
        yield
    finally:
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
