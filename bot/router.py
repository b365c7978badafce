"""Routes every customer message to whoever the conversation is with (bot/lifecycle.py
owns that state and every change of it).

Every inbound message is written to the transcript before anything else happens. With the
assistant it goes to Rasa and the replies are stored and delivered; when the bot's reply
asks for a person (a HandoffRequest), the state machine queues the conversation and
messages go to the agents only. If Rasa fails, the customer is told a person will follow up
and a queue entry (and, with no agent online, a ticket) makes sure someone does; when the fault
clears first, bot/redrive.py gives the conversation back to the bot. Each customer line gets
its outcome (bot/outcomes.py) in the transaction that stores its answer or hands it over."""
from __future__ import annotations

import logging
from typing import Any, Awaitable, Callable

import datetime as dt
from dataclasses import dataclass
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from caredesk.company import Company
from caredesk.db.models import utcnow
from caredesk.db.session import autocommit, retry_if_reconnected
from caredesk.handoff_request import HandoffRequest
from caredesk.triage import describe_deadline, prioritise, promised_response_at
from bot import inbound, lifecycle, no_agent, outcomes, store
from bot.hub import Hub
from bot.offers import Offers
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.texts import Texts

logger = logging.getLogger(__name__)

MAX_TEXT = 2000
HANDOFF_ENDED = "/handoff_ended"  # only ever sent by hand_back, never from a customer


@dataclass(frozen=True)
class Accepted:
    """A stored customer line and what the bot reads of it (its checked payload, or its words)."""

    conversation_id: str
    stored: store.Inbound
    for_bot: str


def _message_id(line_id: int | None) -> str | None:
    return None if line_id is None else outcomes.message_id(line_id)


class Router:
    def __init__(
        self,
        sessions: async_sessionmaker,  # type: ignore[type-arg]
        rasa: RasaClient,
        hub: Hub,
        texts: Texts,
        company: Company,
        on_queue_change: Callable[[], Any] | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        engine: AsyncEngine,
    ) -> None:
        self.sessions = sessions
        # The per-message paths: Core statements on `engine` (made without a ping per
        # checkout; they retry on a lost connection instead), autocommit on PostgreSQL.
        self.engine = autocommit(engine)
        # A line's outcome and its answer are one unit of work: a real transaction.
        self.transactions = engine
        self.rasa = rasa
        self.hub = hub
        self.texts = texts
        self.company = company
        self.on_queue_change = on_queue_change
        self.clock = clock
        self.offers = Offers()  # the latest bot turn's buttons, so a press needs no query
        # After a hand-off is queued and announced: automatic assignment, when it is on.
        self.on_handed_over: Callable[[str], Awaitable[Any]] | None = None

    async def new_conversation(self, channel: str, resume_for: dt.timedelta) -> store.NewChat:
        """A new chat's conversation, on the per-message path (each attempt a fresh id)."""
        async def create(_first_attempt: bool) -> store.NewChat:
            async with self.engine.begin() as connection:
                return await store.new_conversation(connection, channel, resume_for)

        return await retry_if_reconnected(create)

    async def customer_message(
        self,
        conversation_id: str,
        text: str,
        *,
        payload: str | None = None,
        command: str | None = None,
        client_id: str | None = None,
        client: str | None = None,
    ) -> None:
        """Store and route one customer message. `payload`: the button the client says was
        pressed; it counts only if the bot offered it in its latest turn (bot/inbound.py).
        `command`: the channel's own mapping of a command to an intent (Telegram's /start).
        `client`: a key for the sender's address or chat, for the actions' guessing limits."""
        accepted = await self.accept(conversation_id, text, payload=payload, command=command, client_id=client_id)
        await self.route(accepted, client=client)

    async def accept(
        self, conversation_id: str, text: str, *, payload: str | None = None, command: str | None = None,
        client_id: str | None = None,
    ) -> Accepted:
        """Store a customer message (or find it, when its client_id was sent before), and
        nothing else: a channel that must store before it acknowledges (Telegram's webhook)
        routes it later with `route`. LookupError when the conversation does not exist."""
        if payload is not None:
            payload = await self._offered(conversation_id, payload)
        if command is not None:
            payload = inbound.command(command)

        async def store_it(first_attempt: bool) -> store.Inbound | None:
            async with self.engine.begin() as connection:
                return await store.store_inbound(
                    connection, conversation_id, text, payload, client_id, retrying=not first_attempt
                )

        stored = await retry_if_reconnected(store_it)
        if stored is None:
            raise LookupError(conversation_id)
        if not stored.repeated:
            self.offers.new_turn(conversation_id)
        return Accepted(conversation_id, stored, payload or inbound.as_text(text))

    async def route(self, accepted: Accepted, *, client: str | None = None) -> None:
        """Echo a stored customer line and send it where its conversation is (the bot, or
        the agents' queue). A line seen before is only confirmed again: it is routed once."""
        conversation_id, stored = accepted.conversation_id, accepted.stored
        frame = store.message_frame(stored.line)
        await self.hub.to_customer(conversation_id, {"type": "message", "message": frame})
        with_the_bot = stored.mode in lifecycle.WITH_THE_BOT
        if stored.repeated and not (stored.unanswered and with_the_bot):
            return  # a client resending after a reconnect what was routed already
        if not stored.repeated:
            await self.hub.to_watchers(
                conversation_id, {"type": "message", "conversation_id": conversation_id, "message": frame}
            )
        if with_the_bot:
            if stored.mode == lifecycle.CLOSED:
                await self.reopen(conversation_id)
            await self.ask_bot(conversation_id, accepted.for_bot, stored.channel, client=client,
                               line_id=stored.line.id)
        else:
            await self.queue_changed()

    async def _offered(self, conversation_id: str, payload: str) -> str | None:
        """The payload if the bot's latest turn offered it, else None (the words are routed)."""
        async def read(_first_attempt: bool) -> list[list[dict[str, Any]] | None]:
            async with self.engine.connect() as connection:
                return await store.latest_bot_turn(connection, conversation_id)

        offered = self.offers.get(conversation_id)
        if offered is None:
            offered = frozenset(inbound.offered_payloads(await retry_if_reconnected(read)))
        found = inbound.accepted(payload, offered)
        if found is None:
            logger.info("a button payload not offered in conversation %s was routed as text", conversation_id)
        return found

    async def record_customer_line(self, conversation_id: str, text: str, *, client_id: str | None = None) -> bool:
        """Keep something the customer sent that no one can route (a photo, a sticker). False
        when its client_id was stored before (a channel sending it again): nothing new."""
        async with self.sessions.begin() as session:
            if client_id is not None and await store.has_client_id(session, conversation_id, client_id):
                return False
            message = await store.add_message(session, conversation_id, "customer", text, outcome="refused",
                                              client_id=client_id)
        await self._publish(conversation_id, message)
        return True

    async def ask_bot(self, conversation_id: str, text: str, channel: str, *, client: str | None = None,
                      line_id: int | None = None) -> None:
        """Send `text` (already what the engine may read: see customer_message) to Rasa.
        `line_id`: the customer line it comes from (none for the gateway's own /handoff_ended);
        Rasa answers a line only once however often it is sent, and the line's outcome is set
        with its answer, so a line answered elsewhere meanwhile is neither stored nor shown."""
        await self.hub.to_customer(conversation_id, {"type": "typing", "from": "bot", "on": True})
        stored: list[store.Line] | None = []
        reached = True
        # Only what the actions read: Rasa keeps the metadata with each message and sends the
        # whole conversation to the action server for each call.
        metadata = {"channel": channel} if client is None else {"channel": channel, "client": client}
        try:
            try:
                replies = await self.rasa.send(conversation_id, text, metadata, message_id=_message_id(line_id))
            except RasaUnavailable as error:
                logger.error("Rasa unavailable for conversation %s: %s", conversation_id, error)
                replies, reached = [], False
            stored = await self._store_bot_replies(conversation_id, replies, line_id if reached else None)
        finally:
            # Sent after the replies are stored, so "typing off" and the replies leave in one
            # write (the Hub batches a socket's frames per pass of the event loop).
            await self.hub.to_customer(conversation_id, {"type": "typing", "from": "bot", "on": False})
        if stored is None:
            logger.info("line %s of conversation %s was answered elsewhere", line_id, conversation_id)
            return
        for message in stored:
            await self._publish(conversation_id, message)
        request = next(filter(None, (HandoffRequest.from_message(reply.get("custom")) for reply in replies)), None)
        if request is not None:
            await self._hand_over(conversation_id, request, None if reached else line_id)
        elif not reached:
            # The engine could not be reached, or failed: make sure a person follows up.
            await self._bot_unavailable(conversation_id, line_id)
        elif not replies:
            # Rasa answered, with nothing to say: not an outage, so no hand-off and no ticket.
            logger.warning("Rasa answered nothing in conversation %s", conversation_id)
            await self.say(conversation_id, "system", self.texts.say("utter_gateway_no_answer"))

    async def _store_bot_replies(
        self, conversation_id: str, replies: list[dict[str, Any]], line_id: int | None
    ) -> list[store.Line] | None:
        """All of a turn's replies in one INSERT, in order, with the outcome of the line they
        answer (`line_id`); the caller delivers them. None: the line had its answer already."""
        lines = []
        for reply in replies:
            text = reply.get("text") or ""
            buttons = [
                {"title": str(b.get("title", "")), "payload": str(b.get("payload", ""))}
                for b in reply.get("buttons") or []
            ]
            if text or buttons:
                lines.append((text, buttons))
        if not lines and line_id is None:
            return []

        async def store_them(_first_attempt: bool) -> list[store.Line] | None:
            async with self.transactions.begin() as connection:
                if line_id is not None and not await outcomes.settle(connection, line_id, "bot"):
                    return None
                return await store.insert_lines(connection, store.bot_rows(conversation_id, lines)) if lines else []

        stored = await retry_if_reconnected(store_them)
        if stored:
            self.offers.add(conversation_id, frozenset(inbound.offered_payloads(b for _, b in lines)))
        return stored

    async def say(self, conversation_id: str, sender: str, text: str, agent_name: str | None = None) -> None:
        async with self.sessions.begin() as session:
            message = await store.add_message(session, conversation_id, sender, text, agent_name=agent_name)
        await self._publish(conversation_id, message)

    async def _publish(self, conversation_id: str, message: store.Line) -> None:
        frame = store.message_frame(message)
        await self.hub.to_customer(conversation_id, {"type": "message", "message": frame})
        await self.hub.to_watchers(
            conversation_id, {"type": "message", "conversation_id": conversation_id, "message": frame}
        )

    async def _hand_over(self, conversation_id: str, request: HandoffRequest, line_id: int | None = None,
                         *, outcome: str = "person") -> bool:
        """Carry out a request for a person: the conversation waits in the queue. False when
        it was not with the bot (any more). The line `line_id`, one the bot did not answer,
        gets `outcome` in the same unit of work. With nobody online the customer is told so
        and gets a ticket (bot/no_agent.py)."""
        async with self.sessions.begin() as session:
            try:
                change, handoff = await lifecycle.hand_over(session, conversation_id, request, now=self.clock())
            except lifecycle.TooLate:  # the line is then with whoever has the conversation
                change = None
            if line_id is not None:
                await outcomes.settle(await session.connection(), line_id, outcome if change else "person")
            if change is None:
                logger.info("conversation %s was not with the bot: hand-off request not carried out", conversation_id)
                return False
            notice = await no_agent.notice(session, handoff, texts=self.texts, company=self.company,
                                           now=self.clock(), agents_online=self.hub.agents_online())
        await lifecycle.announce(self.hub, change, promised_time=self.promised_time(request.promised_response_at))
        if request.reason == "bot_unavailable":
            await self.say(conversation_id, "system", self.texts.say(
                "utter_gateway_bot_unavailable",
                promised_time=describe_deadline(request.promised_response_at, self.clock(), self.company)))
        if notice:
            await self.say(conversation_id, "system", notice)
        if change.channel == "telegram":  # the widget has a button for it; Telegram a command
            await self.say(conversation_id, "system", self.texts.say("utter_gateway_telegram_waiting"))
        await self.queue_changed()
        if self.on_handed_over is not None:
            await self.on_handed_over(conversation_id)
        return True

    async def _bot_unavailable(self, conversation_id: str, line_id: int | None = None) -> None:
        """A person follows up on what the bot could not answer; the line `line_id` is kept
        as the hand-off's first line, which goes back to the bot if the fault clears first."""
        now = self.clock()
        priority = prioritise(severity="formal_complaint", sentiment=None, tier=None)
        async with self.sessions() as session:
            recent = [m.text for m in (await store.history(session, conversation_id)) if m.sender == "customer"][-6:]
        request = HandoffRequest(
            reason="bot_unavailable", priority=priority.label, priority_score=priority.score,
            promised_response_at=promised_response_at(now, priority.label, self.company),
            summary={"reason": "bot_unavailable", "intent": None, "recent_intents": [], "recent_messages": recent,
                     "slots": {}, "sentiment": None, "sentiment_min": None, "ticket": None, "customer_tier": None,
                     "first_line": line_id},
        )
        await self._hand_over(conversation_id, request, line_id, outcome="fault")

    async def hand_back(self, conversation_id: str, *, actor: str = "gateway", resolve: bool = False) -> bool:
        """The agent is done (`resolve`: the conversation is closed) or gives it back: the bot
        answers again and asks for the rating, once. False when the conversation was not with
        an agent (a second click, another console)."""
        async with self.sessions.begin() as session:
            change = await lifecycle.hand_back(session, conversation_id, actor=actor, resolve=resolve,
                                               now=self.clock())
        if change is None:
            return False
        await lifecycle.announce(self.hub, change)
        await self.say(conversation_id, "system", self.texts.say("utter_gateway_agent_left"))
        await self.queue_changed()
        try:
            await self.rasa.resume(conversation_id)
        except RasaUnavailable as error:
            logger.error("could not resume conversation %s: %s", conversation_id, error)
        await self.ask_bot(conversation_id, HANDOFF_ENDED, change.channel or "webchat")
        return True

    async def prompt_bot(self, conversation_id: str, intent: str, channel: str) -> bool:
        """The gateway's own intent to a conversation with the assistant that nobody wrote in
        (the rating after a resolved ticket): the bot's answer is stored and delivered. If Rasa
        cannot be reached, that is all (False): the customer asked nothing, so no hand-off."""
        try:
            replies = await self.rasa.send(conversation_id, intent, {"channel": channel})
        except RasaUnavailable as error:
            logger.warning("the bot could not be asked %s in conversation %s: %s", intent, conversation_id, error)
            return False
        for message in await self._store_bot_replies(conversation_id, replies, None) or []:
            await self._publish(conversation_id, message)
        return True

    def promised_time(self, moment: dt.datetime | None) -> str | None:
        """When a person will answer, as the bot's own lines say it (the company's clock)."""
        return describe_deadline(moment, self.clock(), self.company) if moment is not None else None

    async def customer_back(self, conversation_id: str) -> bool:
        """The waiting customer asked to go on with the assistant (the widget's button): the
        hand-off ends unclaimed and the bot answers the next message. False when a person has
        it already, or it was not waiting."""
        async with self.sessions.begin() as session:
            change = await lifecycle.customer_back(session, conversation_id)
        if change is None:
            return False
        await lifecycle.announce(self.hub, change)
        await self.say(conversation_id, "system", self.texts.say("utter_gateway_customer_back"))
        await self.queue_changed()
        try:
            await self.rasa.resume(conversation_id)
        except RasaUnavailable as error:
            logger.error("could not resume conversation %s: %s", conversation_id, error)
        return True

    async def reopen(self, conversation_id: str) -> None:
        """A line for a closed conversation: it is with the bot again, before the bot reads
        the line (so a request for a person in the answer finds it with the bot)."""
        async def move(_first_attempt: bool) -> lifecycle.Change | None:
            async with self.transactions.begin() as connection:
                return await lifecycle.reopen(connection, conversation_id)

        change = await retry_if_reconnected(move)
        if change is not None:
            await lifecycle.announce(self.hub, change)

    async def queue_changed(self) -> None:
        if self.on_queue_change is not None:
            await self.on_queue_change()
