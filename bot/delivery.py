"""An agent's reply on a ticket whose chat has ended reaches the customer where they are.

The line is stored in the transcript first, in its own unit of work, so nothing that fails
afterwards loses it: the widget shows it when it next opens (live, if it is open now, on any
gateway); a Telegram customer gets it as a push; and a customer who left an email address
(the ticket's contact, else the address of the customer record the ticket belongs to) gets
it by email. What was done on each channel is kept as a ticket event of kind "delivery"
("email: failed (SMTPConnectError: ...)"), which the console shows in the ticket's history
(and privacy export and erase already cover). An email the SMTP server did not take is tried
again a few times (RETRY_DELAYS), in this gateway's memory.

Only a conversation nobody is chatting in qualifies: with the assistant again ("bot") or
ended by an agent ("closed", bot/lifecycle.py). This module reads the state, never writes it."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Protocol

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from caredesk.db import repository
from caredesk.db.models import Conversation, Message, Ticket, utcnow
from caredesk.mail import InvalidAddress, Mailer, MailError, Outgoing, valid_address
from bot import lifecycle, store, waiting
from bot.console.queue import conversation_detail, conversation_ticket
from bot.emails import EmailTexts
from bot.hub import Hub

logger = logging.getLogger(__name__)

AFTER_CHAT = lifecycle.WITH_THE_BOT  # nobody is chatting: the assistant has it, or an agent closed it
EVENT = "delivery"  # the ticket event that records each channel's result
MAX_DETAIL = 200
# Seconds after which an email the SMTP server did not take is tried again (then the agent,
# who sees each try in the ticket's history, decides).
RETRY_DELAYS = (60.0, 300.0, 900.0)


class NotAfterChat(Exception):
    """The conversation is not one to reach this way: someone is chatting in it (queued or with
    a person), it has no ticket, or it does not exist."""


class Pusher(Protocol):
    """A channel that sends one stored line now and raises when it could not (Telegram)."""

    async def push(self, conversation: str, message: dict[str, Any]) -> None: ...


@dataclass(frozen=True)
class Attempt:
    channel: str  # webchat, telegram, email
    result: str  # live, stored, sent, failed, off
    detail: str = ""

    def note(self) -> str:
        detail = f" ({self.detail[:MAX_DETAIL]})" if self.detail else ""
        return f"{self.channel}: {self.result}{detail}"


@dataclass(frozen=True)
class Reached:
    """What became of one reply: its transcript line, its ticket and each channel's attempt."""

    message_id: int
    ticket_number: str | None
    attempts: tuple[Attempt, ...]
    channel: str = "webchat"  # the conversation's
    mode: str = "bot"  # the conversation's state when the line was stored

    @property
    def failed(self) -> tuple[Attempt, ...]:
        return tuple(a for a in self.attempts if a.result in ("failed", "off"))


Also = Callable[[AsyncSession, Ticket], Awaitable[None]]


class Delivery:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        hub: Hub,
        mailer: Mailer,
        emails: EmailTexts,
        telegram: Pusher | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        retry_delays: tuple[float, ...] = RETRY_DELAYS,
    ) -> None:
        self.sessions, self.hub, self.mailer, self.emails = sessions, hub, mailer, emails
        self.telegram, self.clock, self.retry_delays = telegram, clock, retry_delays
        self._retries: set[asyncio.Task[None]] = set()

    async def reach(self, conversation_id: str, text: str, agent_name: str, *, actor: str = "gateway",
                    also: Also | None = None, sender: str = "agent", email: str = "reply",
                    ticket_id: int | None = None) -> Reached:
        """Store `text` as `agent_name`'s line (or the desk's, `sender` "system"), then send it on
        every way the customer can be reached; the email is emails.yml's `email` kind.
        `also(session, ticket)` runs in the unit of work that stores the line (the desk's audit
        row). `ticket_id`: the ticket it is about (default: the conversation's). NotAfterChat
        when the conversation does not qualify."""
        async with self.sessions.begin() as session:
            # Locked on PostgreSQL until the line is stored: a hand-over that starts meanwhile
            # waits, so the line is never one of a chat that is live again.
            conversation = await session.get(Conversation, conversation_id, with_for_update=True)
            if conversation is None or conversation.mode not in AFTER_CHAT:
                raise NotAfterChat(conversation_id)
            if ticket_id is None:
                ticket = await conversation_ticket(session, conversation_id)
            else:
                ticket = await session.get(Ticket, ticket_id)
            if ticket is None:
                raise NotAfterChat(conversation_id)
            line = await store.add_message(session, conversation_id, sender, text,
                                           agent_name=agent_name if sender == "agent" else None)
            target = await _email_target(ticket)
            if also is not None:
                await also(session, ticket)
            channel, mode, ticket_id = conversation.channel, conversation.mode, ticket.id
            number, description = ticket.number, ticket.description
        frame = store.message_frame(line)
        attempts, again = [await self._chat(conversation_id, channel, frame)], None
        if target is not None:
            attempt, again = await self._email(email, target, agent_name=agent_name, reply=text,
                                               ticket_number=number or "", description=description)
            attempts.append(attempt)
        async with self.sessions.begin() as session:
            for attempt in attempts:
                await repository.add_ticket_event(session, ticket_id, EVENT, actor=actor, note=attempt.note())
        if again is not None:
            self._try_again(again, conversation_id, ticket_id, line.id, actor)
        for attempt in attempts:
            if attempt.result in ("failed", "off"):
                logger.warning("a reply on ticket %s was not sent by %s: %s", number, attempt.channel,
                               attempt.result if attempt.channel == "email" else attempt.note())
        return Reached(line.id, number, tuple(attempts), channel, mode)

    async def copy_by_email(self, conversation_id: str, text: str, agent_name: str, *, actor: str) -> Attempt | None:
        """An agent's line in a live chat (already stored and shown) also by email, when the
        customer asked for the reply by email while waiting (bot/waiting.py) and has not
        written since. None when not; the attempt is a ticket event either way."""
        async with self.sessions() as session:
            ticket = await conversation_ticket(session, conversation_id)
            if ticket is None or not await waiting.wants_email(session, ticket.id, conversation_id):
                return None
            target = await _email_target(ticket)
            ticket_id, number, description = ticket.id, ticket.number, ticket.description
        if target is None:
            return None
        attempt, _ = await self._email("reply", target, agent_name=agent_name, reply=text,
                                       ticket_number=number or "", description=description)
        async with self.sessions.begin() as session:
            await repository.add_ticket_event(session, ticket_id, EVENT, actor=actor, note=attempt.note())
        return attempt

    async def _chat(self, conversation_id: str, channel: str, frame: dict[str, Any]) -> Attempt:
        """The transcript line to the customer's chat: open widgets and consoles on every
        gateway; a Telegram chat by a push whose result is kept."""
        message = {"type": "message", "message": frame}
        await self.hub.to_customer(conversation_id, message, channels=False)
        await self.hub.to_watchers(conversation_id, {**message, "conversation_id": conversation_id})
        if channel != "telegram":
            return Attempt(channel, "live" if self.hub.has_customer(conversation_id) else "stored")
        if self.telegram is None:
            return Attempt("telegram", "off", "TELEGRAM_TOKEN is not set")
        try:
            await self.telegram.push(conversation_id, frame)
        except Exception as error:  # stored already: recorded for the agent, never raised
            return Attempt("telegram", "failed", type(error).__name__)
        return Attempt("telegram", "sent")

    async def _email(self, kind: str, target: tuple[str, str | None], **values: str) -> tuple[Attempt, Outgoing | None]:
        """The attempt, and the email when it is worth trying again later (the server failed)."""
        address, customer_name = target
        if not self.mailer.enabled:
            return Attempt("email", "off", "SMTP_HOST is not set"), None
        outgoing = self.emails.compose(kind, to=address, customer_name=customer_name, **values)
        try:
            await self.mailer.send(outgoing, self.clock())
        except InvalidAddress:
            return Attempt("email", "failed", "not a plain email address"), None
        except MailError as error:
            return Attempt("email", "failed", f"to {address}: {error}"), outgoing
        return Attempt("email", "sent", f"to {address}"), None

    def _try_again(self, outgoing: Outgoing, conversation_id: str, ticket_id: int, line_id: int, actor: str) -> None:
        if not self.retry_delays:
            return
        task = asyncio.create_task(self._retry(outgoing, conversation_id, ticket_id, line_id, actor))
        self._retries.add(task)
        task.add_done_callback(self._retries.discard)

    async def _retry(self, outgoing: Outgoing, conversation_id: str, ticket_id: int, line_id: int,
                     actor: str) -> None:
        """An email the SMTP server did not take, tried again after each of `retry_delays`, each
        try a ticket event; kept in this gateway's memory only (a restart forgets it)."""
        try:
            for number, delay in enumerate(self.retry_delays, 1):
                await asyncio.sleep(delay)
                async with self.sessions() as session:
                    if await session.get(Message, line_id) is None:
                        return  # erased meanwhile (privacy): nothing left to send
                try:
                    await self.mailer.send(outgoing, self.clock())
                    attempt = Attempt("email", "sent", f"to {outgoing.to}, try {number + 1}")
                except MailError as error:
                    attempt = Attempt("email", "failed", f"to {outgoing.to}, try {number + 1}: {error}")
                async with self.sessions.begin() as session:
                    await repository.add_ticket_event(session, ticket_id, EVENT, actor=actor, note=attempt.note())
                    detail = await conversation_detail(session, conversation_id)
                await self.hub.to_watchers(conversation_id, {"type": "conversation", "conversation": detail})
                if attempt.result == "sent":
                    return
            logger.warning("an email on ticket %s was not sent after %d tries; the agent sees why", ticket_id,
                           len(self.retry_delays) + 1)
        except Exception:  # the database away: the failure is on the ticket already
            logger.exception("trying an email again failed")

    async def close(self) -> None:
        """Stop the emails waiting to be tried again (the gateway stops)."""
        for task in list(self._retries):
            task.cancel()
        await asyncio.gather(*self._retries, return_exceptions=True)


async def _email_target(ticket: Ticket) -> tuple[str, str | None] | None:
    """Where the customer asked to be answered by email: the ticket's email contact, else the
    email of the customer record it belongs to; with the customer's name when known. A contact
    that is no plain address is returned as it is, so the mailer refuses it and the agent
    sees why (it would otherwise vanish without a word)."""
    customer = await ticket.awaitable_attrs.customer
    name = customer.name if customer is not None else None
    candidates = [c.strip() for c in (ticket.contact if ticket.contact_kind == "email" else None,
                                      customer.email if customer is not None else None) if c and c.strip()]
    for candidate in candidates:
        try:
            return valid_address(candidate), name
        except InvalidAddress:
            logger.warning("ticket %s has an email contact that is no plain address", ticket.number)
    return (candidates[0], name) if candidates else None
