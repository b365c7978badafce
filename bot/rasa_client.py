"""Talking to the Rasa server: its REST channel for messages (with the channel secret in a
header: engine/channel.py refuses a message without it), its HTTP API to resume a
conversation after a hand-off. Any failure is one typed error the router can handle.

Several Rasa processes can run side by side (RASA_PROCESSES): they share the SQL tracker store
and keep their conversation locks in Redis, so any of them can answer any conversation. Each
conversation still stays with one of them (that process keeps it in memory, so it need not
reload it for every message): a new conversation goes to the process with the fewest
messages in hand, ties (an idle stack) broken by a stable hash of its id. Hashing alone left
one process with 30 of 50 busy customers and the other with 20 now and then, and the first
one's customers waited half as long again. A process that refuses the connection (stopped,
restarting) is skipped for the next one.

A hung process (SIGSTOP, a stuck loop) accepts connections and never answers. Each request
has a deadline (`reply_timeout`, RASA_REPLY_TIMEOUT_SECONDS), after which the caller gets
RasaUnavailable and the router's fault path tells the customer a person will follow up. A
message the process may already have handled is sent again elsewhere only when it carries a
message id (the engine's channel then recognises a repeat and answers it once). The health
probes (bot/rasa_health.py) only steer: a process marked down gets no new conversations and
its conversations move to a healthy one. They do not cut requests short: under heavy load
(50 customers on a shared 2-core machine) a busy process missed 1 s probes now and then,
and cutting its requests would have handed those customers to people for nothing.

Each Rasa process gets at most `max_in_flight` messages at a time; the rest wait here, first
come first served. A Rasa process interleaves everything it was given on one event loop, so
a message that needs several action server calls rejoins the back of that queue after each
one: with 25 messages in a process, a complaint's confirmation took six times as long as a
routine question. Waiting here instead, in order, a message waits once and then runs nearly
alone; a handful in flight is enough to keep the CPU busy while others wait on the action
server or the database. A message that has been with Rasa for a second gives up its slot
(it is waiting on something slow), so slow actions never hold up everyone else."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import zlib
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiohttp

from bot.rasa_health import Health

logger = logging.getLogger(__name__)
MAX_HOMES = 100_000  # conversations whose process is remembered
SLOW_AFTER_SECONDS = 1.0  # a message with Rasa this long gives its slot to the next one
REPLY_TIMEOUT_SECONDS = 15.0  # RASA_REPLY_TIMEOUT_SECONDS; see README
CHANNEL_SECRET_HEADER = "X-CareDesk-Channel-Secret"  # as engine/channel.py expects


def engine_index(sender: str, engines: int) -> int:
    """Which of `engines` Rasa processes a conversation belongs to (stable across restarts)."""
    return zlib.crc32(sender.encode("utf-8")) % engines


class RasaUnavailable(RuntimeError):
    """Rasa (or the action server behind it) did not answer properly."""


class _NoAnswer(Exception):
    """A process had the request and gave no answer by the deadline: it may have handled
    the message, so only an idempotent request may go elsewhere."""


class _NotSent(Exception):
    """The process went down while the request waited for its slot: nothing was sent."""


class Slots:
    """At most `size` holders (0: no limit); the others wait strictly in arrival order. A
    freed slot is handed to the longest waiter directly (asyncio.Semaphore on Python 3.10 lets
    a newcomer take it first, and the woken waiter goes to the back of the queue)."""

    def __init__(self, size: int) -> None:
        self.limited = size > 0
        self.free = size
        self.load = 0  # holders and waiters
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout: float) -> None:
        """Raises asyncio.TimeoutError when no slot came within `timeout` seconds."""
        if not self.limited or (self.free > 0 and not self._waiters):
            self.free -= self.limited
            self.load += 1
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiters.append(waiter)
        self.load += 1
        timer = loop.call_later(timeout, lambda: waiter.done() or waiter.set_exception(asyncio.TimeoutError()))
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release()  # handed a slot just as we gave up: pass it on
            else:
                self.load -= 1  # release() skips a waiter that is done
            raise
        finally:
            timer.cancel()

    def release(self) -> None:
        self.load -= 1
        if not self.limited:
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self.free += 1


class RasaClient:
    def __init__(
        self, session: aiohttp.ClientSession, base_urls: str | Sequence[str], token: str,
        max_in_flight: int = 0, queue_timeout: float = 30.0, slow_after: float = SLOW_AFTER_SECONDS,
        channel_secret: str = "", reply_timeout: float = REPLY_TIMEOUT_SECONDS,
    ) -> None:
        """`max_in_flight` 0: no limit. `channel_secret`: CAREDESK_CHANNEL_SECRET.
        `reply_timeout`: seconds a process has to answer one request."""
        urls = base_urls.split(",") if isinstance(base_urls, str) else list(base_urls)
        self._bases = [url.strip().rstrip("/") for url in urls if url.strip()]
        if not self._bases:
            raise ValueError("no Rasa URL given")
        self._session = session
        self._token = token
        self._channel_headers = {CHANNEL_SECRET_HEADER: channel_secret} if channel_secret else {}
        self._queue_timeout = queue_timeout
        self._slow_after = slow_after
        self._reply_timeout = aiohttp.ClientTimeout(total=reply_timeout)
        self._slots = {base: Slots(max_in_flight) for base in self._bases}
        self._homes: OrderedDict[str, int] = OrderedDict()  # conversation -> its process
        self.health = Health(self._bases)

    def healthy(self) -> bool:
        """Whether any Rasa process is up (as far as the probes know)."""
        return self.health.any_up()

    async def watch_health(self, interval: float, timeout: float) -> None:
        """Probe the processes until cancelled (a task the app runs; see bot/rasa_health.py)."""
        await self.health.watch(self._session, interval, timeout)

    def engines_for(self, sender: str) -> list[str]:
        """The Rasa processes to try for this conversation, its own one first, then the other
        healthy ones; those marked down last (they are not tried while any other is up). A
        conversation whose process is down moves to a healthy one and stays there."""
        up = [i for i, base in enumerate(self._bases) if self.health.is_up(base)] or list(range(len(self._bases)))
        first = self._homes.get(sender)
        if first is None or first not in up:
            hashed = engine_index(sender, len(self._bases))
            moved = first is not None
            first = min(up, key=lambda i: (self._slots[self._bases[i]].load, i != hashed))
            if moved:
                logger.info("conversation %s moves to Rasa at %s (its process is down)", sender, self._bases[first])
            self._homes[sender] = first
            self._homes.move_to_end(sender)
            if len(self._homes) > MAX_HOMES:
                self._homes.popitem(last=False)  # a forgotten one is placed again, nothing lost
        else:
            self._homes.move_to_end(sender)
        rotated = self._bases[first:] + self._bases[:first]
        return sorted(rotated, key=lambda base: not self.health.is_up(base))  # stable: order kept

    async def _post(self, sender: str, path: str, what: str, *, resend: bool, **kwargs: Any) -> Any:
        """POST to the conversation's process. `resend`: the request is idempotent, so when a
        process had it and gave no answer, the next healthy one may get it too. While every
        process is marked down, all are tried as usual (the probes may be wrong)."""
        failed: list[str] = []
        any_up = self.health.any_up()
        for base in self.engines_for(sender):
            if any_up and not self.health.is_up(base):
                break  # only processes marked down are left
            try:
                async with self._turn_on(base, what):
                    if any_up and not self.health.is_up(base):
                        raise _NotSent()
                    answer = await self._request(base, path, what, **kwargs)
            except (aiohttp.ClientConnectorError, _NotSent) as error:
                # Nothing was delivered, so another process may take it without a duplicate.
                logger.warning("Rasa at %s %s; trying the next one", base,
                               f"refused the connection ({error})" if str(error) else "went down")
                failed.append(base)
                continue
            except _NoAnswer as error:
                if not resend:
                    raise RasaUnavailable(f"{what}: {error}") from error
                logger.warning("%s; it carries a message id, so the next process gets it", error)
                failed.append(base)
                continue
            except (aiohttp.ClientError, ValueError) as error:
                raise RasaUnavailable(f"{what}: {error or type(error).__name__}") from error
            if base != self._bases[self._homes.get(sender, 0)]:
                self._homes[sender] = self._bases.index(base)  # it answered: it keeps the conversation
            return answer
        raise RasaUnavailable(f"no Rasa process answered {what} ({', '.join(failed) or 'none up'})")

    async def _request(self, base: str, path: str, what: str, **kwargs: Any) -> Any:
        """One request; _NoAnswer when the process gave no answer by the deadline."""
        try:
            return await self._call(base, path, what, **kwargs)
        except (asyncio.TimeoutError, TimeoutError) as error:
            # asyncio.TimeoutError (what aiohttp raises) is not the built-in one on Python 3.10.
            raise _NoAnswer(f"Rasa at {base} gave no answer to {what} within "
                            f"{self._reply_timeout.total:g} s") from error

    async def _call(self, base: str, path: str, what: str, **kwargs: Any) -> Any:
        async with self._session.post(f"{base}{path}", timeout=self._reply_timeout, **kwargs) as response:
            if response.status != 200:
                raise RasaUnavailable(f"Rasa at {base} answered HTTP {response.status} to {what}")
            return await response.json(content_type=None)

    @contextlib.asynccontextmanager
    async def _turn_on(self, base: str, what: str) -> AsyncIterator[None]:
        """Hold one of `base`'s slots while the request takes, or until it has taken
        `slow_after` seconds: a message that long with Rasa waits on something slow (an
        action calling an outside service), not on the CPU, and must not hold up the rest."""
        slots = self._slots[base]
        try:
            await slots.acquire(self._queue_timeout)
        except asyncio.TimeoutError:
            raise RasaUnavailable(f"Rasa at {base} was busy for {self._queue_timeout:.0f} s; {what} was not sent")
        held = [True]

        def let_go() -> None:
            if held[0]:
                held[0] = False
                slots.release()

        timer = asyncio.get_running_loop().call_later(self._slow_after, let_go)
        try:
            yield
        finally:
            timer.cancel()
            let_go()

    async def send(
        self, sender: str, message: str, metadata: dict[str, Any], *, message_id: str | None = None,
    ) -> list[dict[str, Any]]:
        """The bot's replies to one message (empty while the conversation is paused). With a
        `message_id`, Rasa answers it once: sent again, it gives the same replies back
        (engine/channel.py), so a process that took the message and hung may be bypassed: the
        message goes to the next healthy process."""
        body: dict[str, Any] = {"sender": sender, "message": message, "metadata": metadata}
        if message_id is not None:
            body["message_id"] = message_id
        replies = await self._post(sender, "/webhooks/rest/webhook", "a message", json=body,
                                   headers=self._channel_headers, resend=message_id is not None)
        if not isinstance(replies, list):
            raise RasaUnavailable("Rasa answered something that is not a list of messages")
        return replies

    async def resume(self, sender: str) -> None:
        """Lift the pause the hand-off action set, so the bot answers again."""
        # Idempotent (a second resume event changes nothing), so it may go elsewhere.
        await self._post(sender, f"/conversations/{sender}/tracker/events", "resume", resend=True,
                         params={"token": self._token}, json={"event": "resume"})
