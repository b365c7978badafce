"""Limits on the public surface: new chats, open sockets and messages per address, messages
per conversation and per Telegram chat, failed console sign-ins per address and per username.

Three kinds of check, each with the same interface on two backends (`MemoryBackend` here,
one gateway; `bot.limits_redis.RedisBackend`, shared by several gateways):
- a rate (`allow`): a token bucket (GCRA: one number per key), `count` per `seconds`, at
  most `burst` at once (so a flood's first second cannot dump a minute's worth on Rasa);
  several checks are taken together or not at all, so a refused message costs no quota;
- failures (`failure_wait`/`failed`/`forget`): after `count` failures within `seconds`,
  wait until the oldest of them is `seconds` old (the console sign-in pause);
- slots (`open_slot`/`close_slot`): at most `count` held at once (open sockets), each a lease
  that its gateway renews, so a crashed gateway's sockets stop counting when they expire.

A refused rate is remembered in memory until its wait is over (`known_wait`): a flood's repeats
are answered without asking the backend, and the web chat answers them with a bare 429. Only
more use can lengthen a wait, so a remembered refusal never refuses what the backend would allow.

A limiter never stops customers being served: when Redis fails, that check is made in memory
instead, the outage is logged once, and Redis is tried again a few seconds later."""
from __future__ import annotations

import logging
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

from bot.settings import LimitSettings

logger = logging.getLogger(__name__)
MAX_KEYS = 200_000  # memory backend: keys kept at most (oldest dropped first)
LEASE_SECONDS = 60.0  # an open socket's lease; renewed every third of it
RETRY_REDIS_SECONDS = 5.0  # after a Redis failure, memory only for this long
T = TypeVar("T")
EPSILON = 1e-6  # seconds: sums of float intervals must not refuse the last allowed message


@dataclass(frozen=True)
class Limit:
    """`count` per `seconds` under `name` (0: off); rates allow at most `burst` at once (0:
    `count`)."""

    name: str
    count: int
    seconds: float
    burst: int = 0

    @property
    def on(self) -> bool:
        return self.count > 0

    @property
    def interval(self) -> float:
        """A rate's steady pace: one every `interval` seconds."""
        return self.seconds / self.count

    @property
    def tolerance(self) -> float:
        """How far ahead of the steady pace a key may run: `burst` intervals."""
        return self.interval * (min(self.burst, self.count) if self.burst > 0 else self.count)


Check = tuple[Limit, str]


@dataclass
class Slot:
    """One open socket's place, released with `Limiter.close_slot`."""

    limit: Limit
    key: str
    token: str
    backend: "Backend" = field(repr=False)


class Backend(Protocol):
    async def allow(self, checks: Sequence[Check], now: float) -> float: ...
    async def failure_wait(self, checks: Sequence[Check], now: float) -> float: ...
    async def failed(self, checks: Sequence[Check], now: float) -> None: ...
    async def forget(self, check: Check) -> None: ...
    async def open_slot(self, check: Check, token: str, now: float, lease: float) -> bool: ...
    async def close_slot(self, check: Check, token: str) -> None: ...
    async def renew_slots(self, slots: Sequence[Slot], now: float, lease: float) -> None: ...


class MemoryBackend:
    """One process's counts. Bounded: at most MAX_KEYS keys per kind, the oldest dropped."""

    def __init__(self) -> None:
        # GCRA's "theoretical arrival", and the latest `now` counted (a check that read the
        # clock before another but comes after it is judged at that time: see limits_redis.ALLOW)
        self._arrival: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._slots: dict[str, set[str]] = {}

    @staticmethod
    def _key(limit: Limit, key: str) -> str:
        return f"{limit.name}:{key}"

    async def allow(self, checks: Sequence[Check], now: float) -> float:
        wait, updates = 0.0, []
        for limit, key in checks:
            name = self._key(limit, key)
            arrival, latest = self._arrival.get(name, (now, now))
            here = max(now, latest)
            arrival = max(arrival, here) + limit.interval
            wait = max(wait, arrival - limit.tolerance - here)
            updates.append((name, arrival, here))
        if wait > EPSILON:
            return wait
        for name, arrival, here in updates:
            self._arrival[name] = (arrival, here)
            self._arrival.move_to_end(name)
        while len(self._arrival) > MAX_KEYS:
            self._arrival.popitem(last=False)
        return 0.0

    async def failure_wait(self, checks: Sequence[Check], now: float) -> float:
        wait = 0.0
        for limit, key in checks:
            times = self._failures.get(self._key(limit, key))
            if times and len(times) >= limit.count:
                wait = max(wait, times[-limit.count] + limit.seconds - now)
        return wait

    async def failed(self, checks: Sequence[Check], now: float) -> None:
        for limit, key in checks:
            name = self._key(limit, key)
            times = self._failures.setdefault(name, deque(maxlen=limit.count))
            while times and now - times[0] >= limit.seconds:
                times.popleft()
            times.append(now)
            self._failures.move_to_end(name)
        while len(self._failures) > MAX_KEYS:
            self._failures.popitem(last=False)

    async def forget(self, check: Check) -> None:
        self._failures.pop(self._key(*check), None)

    async def open_slot(self, check: Check, token: str, now: float, lease: float) -> bool:
        held = self._slots.setdefault(self._key(*check), set())
        if len(held) >= check[0].count:
            return False
        held.add(token)
        return True

    async def close_slot(self, check: Check, token: str) -> None:
        name = self._key(*check)
        held = self._slots.get(name)
        if held is not None:
            held.discard(token)
            if not held:
                del self._slots[name]

    async def renew_slots(self, slots: Sequence[Slot], now: float, lease: float) -> None:
        """Nothing to renew: memory dies with the process that holds the sockets."""


class Limiter:
    """The gateway's named limits over one backend (Redis when configured, else memory),
    falling back to memory whenever Redis fails."""

    def __init__(self, settings: LimitSettings, shared: Backend | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        minute, quarter = 60.0, 15 * 60.0
        self.new_chats = Limit("chats", settings.chats_per_minute, minute, burst=10)
        self.connects = Limit("connects", settings.connects_per_minute, minute, burst=30)
        self.sockets = Limit("sockets", settings.sockets, LEASE_SECONDS)
        self.address_messages = Limit("address_messages", settings.address_messages_per_minute, minute, burst=30)
        # Per conversation the whole minute may come at once: Rasa takes one conversation's
        # messages one at a time anyway, and a quick customer tapping buttons is no flood.
        self.chat_messages = Limit("chat_messages", settings.chat_messages_per_minute, minute)
        self.telegram_messages = Limit("telegram", settings.telegram_messages_per_minute, minute)
        self.telegram_notice = Limit("telegram_notice", 1, minute)
        self.signin_address = Limit("signin_address", settings.signin_failures_per_address, quarter)
        self.signin_username = Limit("signin_username", settings.signin_failures_per_username, quarter)
        self.memory = MemoryBackend()
        self.shared = shared
        self.clock = clock
        self._redis_down_until = 0.0
        self._open: dict[str, Slot] = {}
        self._refused: OrderedDict[tuple[str, ...], float] = OrderedDict()  # checks -> refused until

    @property
    def backend_name(self) -> str:
        return "redis" if self.shared is not None else "memory"

    def _backend(self) -> Backend:
        if self.shared is None or time.monotonic() < self._redis_down_until:
            return self.memory
        return self.shared

    def _redis_failed(self, error: Exception) -> None:
        if self._redis_down_until == 0.0:
            logger.warning("limits: Redis failed (%s); counting in memory until it answers again",
                           type(error).__name__)
        self._redis_down_until = time.monotonic() + RETRY_REDIS_SECONDS

    def _redis_answered(self, backend: Backend) -> None:
        if backend is self.shared and self._redis_down_until:
            self._redis_down_until = 0.0
            logger.warning("limits: Redis answers again; counts are shared again")

    async def _call(self, use: Callable[[Backend], Awaitable[T]]) -> T:
        """`use` on the shared backend, else (or when it fails) on memory."""
        backend = self._backend()
        try:
            result = await use(backend)
        except Exception as error:  # a limiter must never stop customers being served
            if backend is self.memory:
                raise
            self._redis_failed(error)
            return await use(self.memory)
        self._redis_answered(backend)
        return result

    @staticmethod
    def _on(checks: Sequence[Check]) -> list[Check]:
        return [(limit, key) for limit, key in checks if limit.on]

    async def allow(self, *checks: Check) -> float:
        """0 when every check allows one more (and each is counted), else the seconds until
        all would (and none is counted)."""
        active, now = self._on(checks), self.clock()
        if not active:
            return 0.0
        remembered = self.known_wait(*active)
        if remembered > 0:
            return remembered
        wait = await self._call(lambda backend: backend.allow(active, now))
        if wait > EPSILON:
            self._refused[_refusal_key(active)] = now + wait
            while len(self._refused) > MAX_KEYS:
                self._refused.popitem(last=False)
        return wait

    def known_wait(self, *checks: Check) -> float:
        """The rest of a wait this gateway was already told for exactly these checks (0: none),
        from memory alone: cheap enough to answer a flood with."""
        active = self._on(checks)
        if not active or not self._refused:
            return 0.0
        key = _refusal_key(active)
        until = self._refused.get(key)
        if until is None:
            return 0.0
        wait = until - self.clock()
        if wait <= EPSILON:
            del self._refused[key]
            return 0.0
        return wait

    async def failure_wait(self, *checks: Check) -> float:
        """Seconds until another attempt may be made (0: now)."""
        active, now = self._on(checks), self.clock()
        return await self._call(lambda backend: backend.failure_wait(active, now)) if active else 0.0

    async def failed(self, *checks: Check) -> None:
        active, now = self._on(checks), self.clock()
        if active:
            await self._call(lambda backend: backend.failed(active, now))

    async def forget(self, limit: Limit, key: str) -> None:
        if limit.on:
            await self._call(lambda backend: backend.forget((limit, key)))

    async def open_slot(self, limit: Limit, key: str) -> Slot | None:
        """A place among `limit.count` held at once, or None when all are taken."""
        token, now = secrets.token_hex(8), self.clock()
        if not limit.on:
            return Slot(limit, key, token, self.memory)

        async def take(backend: Backend) -> Backend | None:
            return backend if await backend.open_slot((limit, key), token, now, LEASE_SECONDS) else None

        holder = await self._call(take)
        if holder is None:
            return None
        slot = Slot(limit, key, token, holder)
        self._open[token] = slot
        return slot

    async def close_slot(self, slot: Slot) -> None:
        self._open.pop(slot.token, None)
        if not slot.limit.on:
            return
        try:
            await slot.backend.close_slot((slot.limit, slot.key), slot.token)
        except Exception as error:  # its lease runs out by itself
            self._redis_failed(error)

    async def renew(self) -> None:
        """Renew the leases of this gateway's open sockets (call every LEASE_SECONDS / 3)."""
        shared = [s for s in self._open.values() if s.backend is self.shared]
        if shared and self.shared is not None:
            try:
                await self.shared.renew_slots(shared, self.clock(), LEASE_SECONDS)
            except Exception as error:
                self._redis_failed(error)


def _refusal_key(checks: Sequence[Check]) -> tuple[str, ...]:
    return tuple(f"{limit.name}:{key}" for limit, key in checks)
