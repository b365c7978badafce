"""Every stored customer line is answered, once, even after a crash or a fault.

A line is stored before it is routed, and gets its outcome only with its answer (bot/outcomes.py).
When a gateway starts, every line of a conversation with the bot that has no outcome is sent
to the bot again, oldest first per conversation; while it runs, now and then, so are lines
older than `older_than` (a live message is still on its way, not lost). Sending a line again
is safe: Rasa answers a message id only once (engine/channel.py) and the gateway stores an
answer only for a line without outcome.

The same passes give conversations back to the bot after a fault: a conversation queued
because the bot could not answer (a bot_unavailable hand-off no person has claimed) has its
first line tried again, with back-off. When the bot answers, the fault has cleared: the
hand-off ends, the customer is told, and the lines they sent since are answered."""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator

from caredesk.db.models import utcnow
from caredesk.db.session import retry_if_reconnected
from bot import inbound, lifecycle, outcomes
from bot.rasa_client import RasaUnavailable
from bot.router import Router

logger = logging.getLogger(__name__)
BATCH = 200  # conversations looked at per pass
AT_ONCE = 4  # conversations re-driven side by side
FIRST_BACKOFF = 5.0  # seconds before a conversation queued by a fault is tried again
MAX_BACKOFF = 120.0


class Redriver:
    def __init__(self, router: Router, *, every: float, older_than: float, max_age_hours: float = 24.0) -> None:
        """`every`: seconds between passes (0: only the pass at start). `older_than`: seconds
        a line waits before a pass (other than the first) sends it again. `max_age_hours`: an
        older line is not answered any more (0: every line is)."""
        self.router = router
        self.every = every
        self.older_than = dt.timedelta(seconds=older_than)
        self.max_age = dt.timedelta(hours=max_age_hours) if max_age_hours > 0 else None
        self.first_pass_done = asyncio.Event()
        self._backoff = 0.0
        self._next_try = 0.0

    async def run(self) -> None:
        """The pass at start (every waiting line), then one every `every` seconds."""
        loop = asyncio.get_running_loop()
        try:
            await self._pass(dt.timedelta(0), loop.time())
        finally:
            self.first_pass_done.set()
        while self.every > 0:
            await asyncio.sleep(self.every)
            await self._pass(self.older_than, loop.time())

    async def _pass(self, older_than: dt.timedelta, now: float) -> None:
        try:
            await self.redrive(older_than)
            if now >= self._next_try:
                await self.give_back()
        except Exception:  # a failed pass (the database away) is retried by the next one
            logger.exception("a re-drive pass failed")

    async def redrive(self, older_than: dt.timedelta = dt.timedelta(0)) -> int:
        """Answer the waiting lines of every conversation with the bot. Returns how many
        conversations it went through."""
        window = self._window(older_than)

        async def find(_first_attempt: bool) -> list[str]:
            async with self.router.engine.connect() as connection:
                return await outcomes.waiting_conversations(connection, window, BATCH)

        conversations = await retry_if_reconnected(find)
        if conversations:
            logger.info("answering the waiting lines of %d conversation(s)", len(conversations))
        gate = asyncio.Semaphore(AT_ONCE)

        async def one(conversation_id: str) -> None:
            async with gate:
                await self.drain(conversation_id, window)

        await asyncio.gather(*(one(c) for c in conversations))
        return len(conversations)

    def _window(self, older_than: dt.timedelta) -> outcomes.Window:
        now = utcnow()
        return outcomes.Window(now - self.max_age if self.max_age else dt.datetime.min.replace(tzinfo=dt.timezone.utc),
                               now - older_than)

    async def drain(self, conversation_id: str, window: outcomes.Window | None = None) -> None:
        """Send one conversation's waiting lines in `window` (default: up to now) to the bot,
        oldest first, while it stays with the bot. An error in one conversation never stops
        another."""
        window = window or self._window(dt.timedelta(0))
        done: set[int] = set()
        try:
            while True:
                async def read(_first_attempt: bool) -> outcomes.Pending | None:
                    async with self.router.engine.connect() as connection:
                        return await outcomes.next_pending(connection, conversation_id, window)

                line = await retry_if_reconnected(read)
                if line is None or line.id in done:
                    return
                done.add(line.id)
                text = line.payload or inbound.as_text(line.text)
                await self.router.reopen(conversation_id)  # a line stored as a resolved chat reopened
                await self.router.ask_bot(conversation_id, text, line.channel, line_id=line.id)
        except Exception:
            logger.exception("could not answer the waiting lines of conversation %s", conversation_id)

    async def give_back(self) -> int:
        """Conversations queued by a fault go back to the bot once it answers again (their
        first line is the probe). On a failure, back off (doubling, up to MAX_BACKOFF)."""
        async def find(_first_attempt: bool) -> list[outcomes.Returnable]:
            async with self.router.engine.connect() as connection:
                return await outcomes.returnable(connection, BATCH)

        given = 0
        for handoff in await retry_if_reconnected(find):
            if handoff.first_line is None:
                continue  # nothing the customer waits for an answer to: a person follows up
            try:
                answered = await self._probe(handoff)
            except RasaUnavailable as error:
                self._backoff = min(MAX_BACKOFF, self._backoff * 2 or FIRST_BACKOFF)
                self._next_try = asyncio.get_running_loop().time() + self._backoff
                logger.info("the bot still cannot answer (%s); trying again in %.0f s", error, self._backoff)
                return given
            self._backoff, self._next_try = 0.0, 0.0
            if answered and await self._return(handoff):
                given += 1
        return given

    async def _probe(self, handoff: outcomes.Returnable) -> bool:
        """Send the hand-off's first line to the bot again (its message id makes this the
        line's one turn, or gives back the answer Rasa already gave). False: no such line."""
        assert handoff.first_line is not None

        async def read(_first_attempt: bool) -> tuple[str, str | None, str] | None:
            async with self.router.engine.connect() as connection:
                return await outcomes.line(connection, handoff.first_line)  # type: ignore[arg-type]

        found = await retry_if_reconnected(read)
        if found is None:
            return False
        text, payload, channel = found
        await self.router.rasa.send(handoff.conversation_id, payload or inbound.as_text(text),
                                    {"channel": channel}, message_id=outcomes.message_id(handoff.first_line))
        return True

    async def _return(self, handoff: outcomes.Returnable) -> bool:
        """End the hand-off, tell the customer, and answer what they sent since the fault."""
        try:
            async with self.router.transactions.begin() as connection:
                change = await lifecycle.bot_back(connection, handoff.conversation_id, handoff.handoff_id)
                if change is None:
                    return False  # a person claimed it meanwhile: theirs now
                await outcomes.reopen_lines(connection, handoff.conversation_id, handoff.first_line)
        except lifecycle.TooLate as error:
            logger.warning("hand-off %d stays with the agents: %s", handoff.handoff_id, error)
            return False
        await lifecycle.announce(self.router.hub, change)
        logger.info("conversation %s is back with the bot after a fault", handoff.conversation_id)
        texts = self.router.texts
        words = (texts.say("utter_gateway_bot_back_ticketed", ticket_number=handoff.ticket) if handoff.ticket
                 else texts.say("utter_gateway_bot_back"))
        await self.router.say(handoff.conversation_id, "system", words)
        await self.router.queue_changed()
        await self.drain(handoff.conversation_id)
        return True


@contextlib.asynccontextmanager
async def running(redriver: Redriver) -> AsyncIterator[None]:
    """The re-drive in the background for as long as the gateway runs."""
    task = asyncio.create_task(redriver.run())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
