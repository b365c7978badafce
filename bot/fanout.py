"""What one gateway must tell the others when several run side by side (GATEWAY_REDIS_URL):
the frames for customers' and agents' sockets, and which agents have a console open.

Every frame the Hub sends is also published, in an envelope naming this gateway, on one Redis
channel; every gateway delivers what it receives to its own sockets and skips its own
envelopes (it delivered them already). Publishing never waits on Redis: envelopes go to a
bounded outbox that a task sends in pipelined batches, so a slow or lost Redis never holds up
a customer's reply on this gateway. Lost frames are not lost messages: every line is in the
transcript, and a widget or console that reconnects reads it again (see `on_resync`).

Presence is one Redis hash: each gateway writes the agents of its open consoles (usernames,
names and who is away: bot/presence.py) with a deadline PRESENCE_SECONDS ahead (by Redis's clock), refreshes it every third of that and at
once when a console opens or closes, and reads the others' in the same script. A killed
gateway's agents count until their deadline passes.

Why Redis and not PostgreSQL's LISTEN/NOTIFY: Redis already holds the Rasa locks and the
limits in production; NOTIFY payloads stop at 8000 bytes (a queue or a transcript frame can be
larger), each gateway would hold one more database connection just to listen, and the
embedded default (SQLite) has nothing like it. See docs/gateways.md."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.asyncio import Redis

from bot import presence
from bot.presence import Seen

logger = logging.getLogger(__name__)
PRESENCE_SECONDS = 15.0  # a gateway's consoles count this long after its last refresh
PRESENCE_GAP = 0.1  # seconds at least between two presence writes: a console flipping its status cannot flood Redis
MAX_OUTBOX = 10_000  # envelopes waiting for Redis; beyond, the oldest are dropped
BATCH = 200  # envelopes per pipelined PUBLISH round trip
FIRST_RETRY, MAX_RETRY = 0.5, 30.0  # seconds between subscribe attempts while Redis fails

# KEYS[1]: the presence hash. ARGV: this gateway's field, its deadline in ms from now, then its
# entry as JSON (bot/presence.py; "" when no console is open here). Returns the other live
# gateways' entries, as stored. Gateways written before presence statuses stored only `agents`
# and read only that: the entry keeps it.
PRESENCE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
if ARGV[3] ~= '' then
  local mine = cjson.decode(ARGV[3])
  mine.until_ms = now + ttl
  redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(mine))
else
  redis.call('HDEL', KEYS[1], ARGV[1])
end
local others = {}
local all = redis.call('HGETALL', KEYS[1])
for i = 1, #all, 2 do
  if all[i] ~= ARGV[1] then
    local entry = cjson.decode(all[i + 1])
    if entry.until_ms < now then
      redis.call('HDEL', KEYS[1], all[i])
    else
      others[#others + 1] = all[i + 1]
    end
  end
end
redis.call('PEXPIRE', KEYS[1], ttl * 4)
return others
"""

Receive = Callable[[dict[str, Any]], Awaitable[None]]


def connect(url: str, name: str = "caredesk-gateway") -> tuple[Redis, Redis]:
    """Two clients: one that publishes and fails fast, and one for the subscription, which
    waits as long as it likes for the next message (keepalive notices a dead peer). `name`
    is what Redis's CLIENT LIST shows for them."""
    publisher: Redis = Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0, client_name=name)
    subscriber: Redis = Redis.from_url(url, socket_connect_timeout=1.0, socket_keepalive=True,
                                       client_name=f"{name}-subscriber")
    return publisher, subscriber


class Fanout:
    def __init__(self, client: Redis, subscriber: Redis, prefix: str, *, gateway_id: str | None = None,
                 presence_seconds: float = PRESENCE_SECONDS) -> None:
        self.id = gateway_id or secrets.token_hex(8)
        self.channel = f"{prefix}frames"
        self._client, self._subscriber = client, subscriber
        self._presence = client.register_script(PRESENCE)
        self._presence_key = f"{prefix}presence"
        self._presence_seconds = presence_seconds
        self._outbox: asyncio.Queue[bytes] = asyncio.Queue(MAX_OUTBOX)
        self._dropped = 0
        self._local_agents: Callable[[], set[str]] = set
        # What this gateway's consoles say (the Hub sets it when attached); without it, every
        # local agent is online.
        self.local_presence: Callable[[], dict[str, Seen]] | None = None
        self.on_presence: Callable[[], None] | None = None  # the other gateways' agents changed
        self._remote: dict[str, Seen] = {}
        self._remote_until = 0.0  # monotonic: the remote agents read are trusted until then
        self._presence_due = asyncio.Event()
        self._stopped = False
        self.subscribed = asyncio.Event()  # set while the subscription is live
        self.on_resync: Callable[[], Awaitable[None]] | None = None  # after an outage: refresh what may be stale

    def publish(self, kind: str, **fields: Any) -> None:
        """Queue an envelope for the other gateways; never waits, never raises."""
        data = json.dumps({"from": self.id, "kind": kind, **fields}, separators=(",", ":")).encode()
        while True:
            try:
                self._outbox.put_nowait(data)
                return
            except asyncio.QueueFull:
                self._outbox.get_nowait()
                self._dropped += 1
                if self._dropped == 1:
                    logger.warning("fan-out: Redis is behind; dropping the oldest frames for other gateways")

    def remote_agents(self) -> list[str]:
        """Usernames with a console open on another gateway (as last read from Redis)."""
        return sorted(self.remote_presence())

    def remote_presence(self) -> dict[str, Seen]:
        """The agents with a console open on another gateway, online or away (as last read)."""
        return self._remote if time.monotonic() < self._remote_until else {}

    def presence_changed(self) -> None:
        """A console opened or closed here: write presence now, and tell the others."""
        self._presence_due.set()

    async def run(self, receive: Receive, local_agents: Callable[[], set[str]]) -> None:
        """Send, receive and keep presence until cancelled. `receive` gets every other
        gateway's envelope; `local_agents` names the agents with a console open here."""
        self._local_agents = local_agents
        tasks = [asyncio.create_task(self._send()), asyncio.create_task(self._receive(receive)),
                 asyncio.create_task(self._keep_presence())]
        try:
            await asyncio.gather(*tasks)
        finally:
            # The loops also stop by this flag: a cancellation that lands inside the Redis
            # client can be lost on Python 3.10 (its read timeout swallows it now and then).
            self._stopped = True
            self._presence_due.set()
            for task in tasks:
                task.cancel()
            await asyncio.wait(tasks, timeout=5)

    async def _send(self) -> None:
        failing = False
        while True:
            batch = [await self._outbox.get()]
            while len(batch) < BATCH and not self._outbox.empty():
                batch.append(self._outbox.get_nowait())
            try:
                async with self._client.pipeline(transaction=False) as pipe:
                    for data in batch:
                        pipe.publish(self.channel, data)
                    await pipe.execute()
            except Exception as error:  # the transcript has them; local sockets got them
                if not failing:
                    logger.warning("fan-out: could not publish to Redis (%s); other gateways miss frames until "
                                   "it answers", type(error).__name__)
                failing = True
                continue
            if failing or self._dropped:
                logger.warning("fan-out: publishing again (%d frames dropped meanwhile)", self._dropped)
            failing, self._dropped = False, 0

    async def _receive(self, receive: Receive) -> None:
        """Subscribe, and again with back-off whenever the subscription breaks."""
        delay, broken = FIRST_RETRY, False
        while True:
            try:
                async with self._subscriber.pubsub(ignore_subscribe_messages=True) as pubsub:
                    await pubsub.subscribe(self.channel)
                    self.subscribed.set()
                    if broken:
                        logger.warning("fan-out: subscribed again")
                        await self._resync()
                    delay, broken = FIRST_RETRY, False
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._deliver(message["data"], receive)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.subscribed.clear()
                if not broken:
                    logger.warning("fan-out: the Redis subscription failed (%s); local sockets are still served, "
                                   "retrying", type(error).__name__)
                broken = True
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RETRY)

    async def _deliver(self, data: bytes, receive: Receive) -> None:
        try:
            envelope = json.loads(data)
            if not isinstance(envelope, dict) or envelope.get("from") == self.id:
                return
            if envelope.get("kind") == "presence":
                self._presence_due.set()
                return
            await receive(envelope)
        except Exception:  # one bad envelope never stops the others
            logger.exception("fan-out: could not deliver an envelope from another gateway")

    async def _resync(self) -> None:
        if self.on_resync is not None:
            try:
                await self.on_resync()
            except Exception:
                logger.exception("fan-out: could not refresh after the outage")

    def _mine(self) -> dict[str, Seen]:
        if self.local_presence is not None:
            return self.local_presence()
        return {username: Seen(username, presence.ONLINE) for username in self._local_agents()}

    async def _keep_presence(self) -> None:
        told: dict[str, Seen] | None = None
        while not self._stopped:
            mine = self._mine()
            try:
                others = await self._presence(keys=[self._presence_key], args=[
                    self.id, int(self._presence_seconds * 1000),
                    json.dumps(presence.entry(mine), separators=(",", ":")) if mine else ""])
                self._read_others(others)
            except Exception as error:
                logger.info("fan-out: presence not written (%s)", type(error).__name__)
            if told != mine:
                if told is not None:
                    self.publish("presence")
                told = mine
            await asyncio.sleep(PRESENCE_GAP)
            # Not wait_for: on Python 3.10 it can swallow a cancellation that comes as the event is set.
            due = asyncio.ensure_future(self._presence_due.wait())
            try:
                await asyncio.wait({due}, timeout=self._presence_seconds / 3)
            finally:
                due.cancel()
            self._presence_due.clear()

    def _read_others(self, others: list[Any]) -> None:
        views = []
        for raw in others:
            try:
                views.append(presence.read_entry(json.loads(raw)))
            except ValueError:
                logger.info("fan-out: a presence entry that is not JSON was skipped")
        before = self.remote_presence()
        self._remote = presence.merged(*views)
        self._remote_until = time.monotonic() + self._presence_seconds
        if self._remote != before and self.on_presence is not None:
            self.on_presence()

    async def forget_presence(self) -> None:
        """A stopping gateway's consoles stop counting at once (a killed one's when they expire)."""
        with contextlib.suppress(Exception):
            await self._client.hdel(self._presence_key, self.id)
