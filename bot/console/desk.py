"""What an agent can do with a conversation: open, claim, reply, note, change the ticket's
status, and hand back to the bot. Each action is checked here, once, for every client: the
role (bot/console/roles.py) and who owns the chat. Each change is written to the audit log in
the same unit of work."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
from typing import Any, Callable

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from caredesk.db import repository
from caredesk.db.models import Conversation, Note, Ticket, utcnow
from bot import lifecycle, outcomes, store
from bot.console import audit
from bot.console.placeholders import unfilled
from bot.console.queue import conversation_detail, conversation_ticket, queue_items
from bot.console.summary import SummaryWords
from bot.console.roles import can, claimed_by_other, may_work_on
from bot.delivery import AFTER_CHAT, Attempt, Delivery, NotAfterChat
from bot.hub import AgentConnection, Hub
from bot.router import MAX_TEXT, Router

logger = logging.getLogger(__name__)
QUEUE_INTERVAL = 0.5  # seconds: the consoles get the queue at most this often
RATE = "/review"  # the gateway's own intent: the bot asks for a rating (data/rules/feedback.yml)


class DeskError(Exception):
    """Something the agent should be told, in words."""


class CannotChange(DeskError):
    """The ticket's status cannot move that way (a closed ticket stays closed)."""


async def change_ticket_status(session: AsyncSession, ticket: Ticket, status: str, *, username: str,
                               address: str | None, detail: dict[str, Any]) -> None:
    """A ticket's status changed by an agent, with its audit row, in the caller's unit of work
    (from a chat and from the Inbox alike). CannotChange when the status may not move so."""
    before = ticket.status
    try:
        await repository.change_ticket_status(session, ticket, status, actor=f"agent:{username}")
    except repository.InvalidStatusChange:
        raise CannotChange(f"A {before.replace('_', ' ')} ticket can't become {status.replace('_', ' ')}.") from None
    audit.record(session, username, "ticket_status", ticket.number, {**detail, "from": before, "to": status},
                 address)


class Desk:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        hub: Hub,
        router: Router,
        clock: Callable[[], dt.datetime] = utcnow,
        queue_interval: float = QUEUE_INTERVAL,
        *,
        delivery: Delivery | None = None,
        words: SummaryWords | None = None,
    ) -> None:
        self.sessions, self.hub, self.router, self.clock = sessions, hub, router, clock
        self.delivery = delivery  # replies after the chat ended (bot/delivery.py)
        self.words = words or SummaryWords.default()  # the hand-off summary's words
        self.queue_interval = queue_interval
        self._queue_changed = asyncio.Event()

    async def publish_queue(self) -> None:
        """Note that the queue changed, and return at once: this runs on every message in a
        queued conversation, and rebuilding the queue there made every customer wait for it.
        `feed_queue` sends the new queue to the consoles."""
        self._queue_changed.set()

    async def feed_queue(self) -> None:
        """Runs for the gateway's life (bot/console/feed.py): after a change, rebuild the queue
        once and send it to every console, at most every `queue_interval` seconds however many
        changes come in between, and only while a console is open (one that opens reads the
        queue itself)."""
        while True:
            await self._queue_changed.wait()
            self._queue_changed.clear()
            if not self.hub.consoles_open():
                continue
            try:
                await self.hub.to_agents({"type": "queue", "items": await self.queue()})
            except Exception:  # a database hiccup: try again after the pause, never stop feeding
                logger.exception("could not send the queue to the consoles")
                self._queue_changed.set()
            await asyncio.sleep(self.queue_interval)

    async def queue(self) -> list[dict]:
        async with self.sessions() as session:
            return await queue_items(session, self.clock(), self.words)

    async def show(self, agent: AgentConnection, conversation_id: str) -> None:
        if not can(agent, "conversations"):
            raise DeskError("Your role does not allow reading conversations.")
        async with self.sessions() as session:
            detail = await conversation_detail(session, conversation_id, self.words)
        if detail is None:
            raise DeskError("That conversation does not exist.")
        agent.watching = {conversation_id}
        await self.hub.send(agent.socket, {"type": "conversation", "conversation": detail})

    async def _refresh_watchers(self, conversation_id: str) -> None:
        async with self.sessions() as session:
            detail = await conversation_detail(session, conversation_id, self.words)
        await self.hub.to_watchers(conversation_id, {"type": "conversation", "conversation": detail})

    async def claim(self, agent: AgentConnection, conversation_id: str) -> None:
        if not can(agent, "work"):
            raise DeskError("Your role does not allow claiming conversations.")
        async with self.sessions.begin() as session:
            change = await self._claim(session, agent, conversation_id)
        if change is not None:  # None: it was this agent's already; they see it again
            await lifecycle.announce(self.hub, change)
            await self.router.say(
                conversation_id, "system",
                self.router.texts.say("utter_gateway_agent_joined", agent_name=agent.name),
            )
        await self.show(agent, conversation_id)
        await self.publish_queue()

    async def _claim(self, session: AsyncSession, agent: AgentConnection, conversation_id: str) -> lifecycle.Change | None:
        """Claim, or take over (leads and admins), through the state machine, in `session`."""
        handoff = await repository.open_handoff(session, conversation_id)
        conversation = await store.conversation(session, conversation_id)
        if handoff is None or conversation is None:
            raise DeskError("This conversation is not waiting for a person.")
        taken_from = None
        if handoff.status == "claimed" and conversation.agent_username == agent.username:
            return None
        if handoff.status == "claimed":
            if not can(agent, "work_any"):
                raise DeskError(f"{handoff.claimed_by} is already handling this conversation.")
            taken_from = conversation.agent_username
        try:
            change = await lifecycle.claim(session, conversation_id, handoff, username=agent.username,
                                           name=agent.name, now=self.clock(), taken_from=taken_from)
        except lifecycle.TooLate:
            raise DeskError("Someone else has just taken this conversation.") from None
        await outcomes.settle_waiting(session, conversation_id, "person")
        if handoff.ticket_id is not None:
            await repository.add_ticket_event(session, handoff.ticket_id, "claimed", actor=f"agent:{agent.username}")
        audit.record(session, agent.username, "claim", conversation_id,
                     {"took_over_from": taken_from} if taken_from else None, agent.address)
        return change

    @staticmethod
    def _check_owner(agent: AgentConnection, conversation: Conversation | None, *, claimed: bool) -> None:
        """Replies and resolving need a claimed chat (`claimed`); notes and ticket status do
        not. Either way a chat another agent claimed is theirs, unless a lead or admin acts."""
        if conversation is None:
            raise DeskError("That conversation does not exist.")
        if not may_work_on(agent, agent.username, conversation):
            if claimed_by_other(agent.username, conversation):
                raise DeskError(f"{conversation.agent_name or 'Another agent'} is handling this conversation; "
                                "only they or a team lead can change it.")
            raise DeskError("Your role does not allow this.")
        if claimed and (conversation.mode != "agent" or (
                conversation.agent_username != agent.username and not can(agent, "work_any"))):
            raise DeskError("Claim the conversation before you reply or resolve it.")

    async def _owned(self, agent: AgentConnection, conversation_id: str) -> None:
        async with self.sessions() as session:
            conversation = await store.conversation(session, conversation_id)
        self._check_owner(agent, conversation, claimed=True)

    async def send(self, agent: AgentConnection, conversation_id: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        if len(text) > MAX_TEXT:
            raise DeskError(f"Replies can be at most {MAX_TEXT} characters.")
        if unfilled(text):  # a canned reply's gap or placeholder must never reach a customer
            raise DeskError("Fill in the gaps marked \u27e6 \u27e7 (or the {placeholders}) before sending.")
        async with self.sessions() as session:
            conversation = await store.conversation(session, conversation_id)
            after_chat = conversation is not None and conversation.mode in AFTER_CHAT and (
                await conversation_ticket(session, conversation_id) is not None)
        if after_chat and self.delivery is not None:
            await self._reach(agent, conversation_id, text)
            return
        self._check_owner(agent, conversation, claimed=True)
        async with self.sessions.begin() as session:
            ticket = await conversation_ticket(session, conversation_id)
            if ticket is not None and ticket.first_response_at is None:
                ticket.first_response_at = self.clock()
            audit.record(session, agent.username, "reply", conversation_id, {"characters": len(text)}, agent.address)
        await self.router.say(conversation_id, "agent", text, agent_name=agent.name)
        if self.delivery is not None:  # the customer left an address while waiting: by email too
            copied = await self.delivery.copy_by_email(conversation_id, text, agent.name, actor=f"agent:{agent.username}")
            if copied is not None:
                await self._refresh_watchers(conversation_id)
                await self._tell_failures(agent.socket, (copied,))

    async def _reach(self, agent: AgentConnection, conversation_id: str, text: str) -> None:
        """A reply on a ticket whose chat has ended (nobody is chatting in it, so it is nobody's):
        stored, then sent wherever the customer can be reached; the agent is told of any
        channel it did not reach."""
        assert self.delivery is not None
        if not can(agent, "work"):
            raise DeskError("Your role does not allow this.")

        async def in_same_work(session: AsyncSession, ticket: Ticket) -> None:
            if ticket.first_response_at is None:
                ticket.first_response_at = self.clock()
            audit.record(session, agent.username, "reply", conversation_id,
                         {"characters": len(text), "after_chat": True, "ticket": ticket.number}, agent.address)

        try:
            reached = await self.delivery.reach(conversation_id, text, agent.name, actor=f"agent:{agent.username}",
                                                also=in_same_work)
        except NotAfterChat:
            raise DeskError("Claim the conversation before you reply or resolve it.") from None
        await self._refresh_watchers(conversation_id)
        await self._tell_failures(agent.socket, reached.attempts)

    async def _tell_failures(self, socket: web.WebSocketResponse | None, attempts: tuple[Attempt, ...]) -> None:
        failed = [a for a in attempts if a.result in ("failed", "off")]
        if failed and socket is not None:
            await self.hub.send(socket, {
                "type": "error",
                "text": "Your reply is kept in the transcript, but it did not reach the customer by "
                        + ", ".join(f"{a.channel} ({a.detail or a.result})" for a in failed) + ".",
            })

    async def tell_resolved(self, conversation_id: str, ticket: Ticket, *, agent_name: str, username: str,
                            socket: web.WebSocketResponse | None = None) -> None:
        """A ticket resolved while nobody is chatting in its conversation: the customer is told
        where they are (bot/delivery.py), and the bot (which has it: bot or closed) asks for the rating.
        In a live chat the agent says it themselves; nothing is sent."""
        if self.delivery is None:
            return
        text = self.router.texts.say("utter_gateway_ticket_resolved", agent_name=agent_name,
                                     ticket_number=ticket.number or "")
        try:
            reached = await self.delivery.reach(conversation_id, text, agent_name, actor=f"agent:{username}",
                                                sender="system", email="resolved", ticket_id=ticket.id)
        except NotAfterChat:
            return
        await self.router.prompt_bot(conversation_id, RATE, reached.channel)
        await self._refresh_watchers(conversation_id)
        await self._tell_failures(socket, reached.attempts)

    async def typing(self, agent: AgentConnection, conversation_id: str, on: bool) -> None:
        async with self.sessions() as session:
            conversation = await store.conversation(session, conversation_id)
        if conversation is not None and conversation.mode == "agent" and (
                conversation.agent_username == agent.username or can(agent, "work_any")):
            await self.hub.to_customer(
                conversation_id, {"type": "typing", "from": "agent", "agent_name": agent.name, "on": on}
            )

    async def note(self, agent: AgentConnection, conversation_id: str, text: str) -> None:
        text = text.strip()
        if not text:
            return
        async with self.sessions.begin() as session:
            self._check_owner(agent, await store.conversation(session, conversation_id), claimed=False)
            ticket = await conversation_ticket(session, conversation_id)
            session.add(Note(conversation_id=conversation_id, ticket_id=ticket.id if ticket else None,
                             author=agent.name, text=text))
            audit.record(session, agent.username, "note", conversation_id,
                         {"ticket": ticket.number} if ticket else None, agent.address)
        await self._refresh_watchers(conversation_id)

    async def ticket_status(self, agent: AgentConnection, conversation_id: str, status: str) -> None:
        async with self.sessions.begin() as session:
            self._check_owner(agent, await store.conversation(session, conversation_id), claimed=False)
            ticket = await conversation_ticket(session, conversation_id)
            if ticket is None:
                raise DeskError("This conversation has no ticket.")
            await change_ticket_status(session, ticket, status, username=agent.username, address=agent.address,
                                       detail={"conversation_id": conversation_id})
        await self._refresh_watchers(conversation_id)
        if status == "resolved":
            await self.tell_resolved(conversation_id, ticket, agent_name=agent.name, username=agent.username,
                                     socket=agent.socket)

    async def resolve(self, agent: AgentConnection, conversation_id: str, *, resolve: bool = True) -> None:
        """Done with it: the conversation is closed (`resolve`) or, unresolved, back with the
        assistant; the bot answers next and asks for the rating either way."""
        await self._owned(agent, conversation_id)
        if not await self.router.hand_back(conversation_id, actor=f"agent:{agent.username}", resolve=resolve):
            raise DeskError("This conversation has already been handed back.")
        async with self.sessions.begin() as session:
            audit.record(session, agent.username, "resolve" if resolve else "hand_back", conversation_id, None,
                         agent.address)
        await self._refresh_watchers(conversation_id)
