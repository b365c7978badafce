"""Rasa's per-conversation lock in Redis, in two round trips per message instead of seven.

Rasa's `RedisLockStore` reads the lock, changes it in Python and writes it back, several
times per message (issue a ticket: GET and SET; check it: GET; clean up: GET, SET, GET,
DEL), each a blocking call on the Rasa process's event loop: about 7 % of its time under
load (docs/benchmark.md). Here issuing a ticket and returning it are each one Lua script,
which Redis runs atomically, so two Rasa processes can no longer overwrite each other's
tickets between a GET and a SET either.

The lock keeps Rasa's format and semantics (`rasa.core.lock.TicketLock`: tickets served in
the order they were issued, expired tickets dropped), so Rasa's own methods still read it.
endpoints.yml names `CareDeskLockStore`, which gives Rasa's in-memory store for
`backend: in_memory` (one Rasa process) and this one for `backend: redis`.

Every key is written with a TTL (until its last ticket expires): Rasa's store writes keys
without one, so a process killed while it held a ticket left its key behind for good. A
ticket lives `TICKET_LOCK_LIFETIME` seconds (Rasa's variable), 20 here unless set, not Rasa's
60: a stopped or killed process's conversations are blocked until its tickets expire. A live
process gives a turn up when the gateway does (RASA_REPLY_TIMEOUT_SECONDS, 15 s: Sanic
cancels a request whose client has gone), so no turn the gateway still waits for outlives
its ticket; the slowest turn measured under heavy load took 9.4 s.
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import time
from collections import deque
from contextlib import asynccontextmanager
from typing import Any, AsyncGenerator, Mapping, Optional

from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import InMemoryLockStore, LockError, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig

logger = logging.getLogger(__name__)
LIFETIME_ENV = "TICKET_LOCK_LIFETIME"  # Rasa's own variable
DEFAULT_LIFETIME = 20.0  # seconds; Rasa's default is 60 (see the module's docstring)


def lock_lifetime(environ: Mapping[str, str] = os.environ) -> float:
    """Seconds a ticket lives: TICKET_LOCK_LIFETIME when set, else DEFAULT_LIFETIME."""
    value = float(environ.get(LIFETIME_ENV) or DEFAULT_LIFETIME)
    if value <= 0:
        raise ValueError(f"{LIFETIME_ENV} must be more than 0, got {value:g}")
    return value

# Both scripts first drop expired tickets, as TicketLock does before every decision. A ticket
# is a JSON string inside the lock's JSON (Rasa's format); `now` comes from the caller, like
# Rasa's `time.time()`. Returns: the ticket's number and the number now served.
_LIVE_TICKETS = """
local function live_tickets(raw, now)
  local live = {}
  if raw then
    for _, text in ipairs(cjson.decode(raw).tickets or {}) do
      local ticket = cjson.decode(text)
      if ticket.expires >= now then table.insert(live, ticket) end
    end
  end
  return live
end
local function save(key, conversation_id, live, now)
  if #live == 0 then
    redis.call('DEL', key)
    return
  end
  local texts, last = {}, now
  for i, ticket in ipairs(live) do
    texts[i] = cjson.encode({number = ticket.number, expires = ticket.expires})
    if ticket.expires > last then last = ticket.expires end
  end
  local ttl = math.max(1, math.ceil((last - now) * 1000))
  redis.call('SET', key, cjson.encode({conversation_id = conversation_id, tickets = texts}), 'PX', ttl)
end
"""

_ISSUE = _LIVE_TICKETS + """
local now, lifetime = tonumber(ARGV[1]), tonumber(ARGV[2])
local live = live_tickets(redis.call('GET', KEYS[1]), now)
local number = 0
if #live > 0 then number = live[#live].number + 1 end
table.insert(live, {number = number, expires = now + lifetime})
save(KEYS[1], ARGV[3], live, now)
return {number, live[1].number}
"""

_RETURN = _LIVE_TICKETS + """
local now, number = tonumber(ARGV[1]), tonumber(ARGV[2])
local kept = {}
for _, ticket in ipairs(live_tickets(redis.call('GET', KEYS[1]), now)) do
  if ticket.number ~= number then table.insert(kept, ticket) end
end
save(KEYS[1], ARGV[3], kept, now)
return #kept
"""


class AtomicRedisLockStore(RedisLockStore):
    """`RedisLockStore` whose ticket is issued and returned by one atomic script each."""

    def __init__(self, lifetime: Optional[float] = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lifetime = lock_lifetime() if lifetime is None else float(lifetime)
        self._issue = self.red.register_script(_ISSUE)
        self._return = self.red.register_script(_RETURN)

    def _key(self, conversation_id: str) -> str:
        return self.key_prefix + conversation_id

    def save_lock(self, lock: TicketLock) -> None:
        """Rasa's write of a whole lock (its `update_lock`, `delete_lock` paths), with a TTL."""
        if not lock.tickets:
            self.red.delete(self._key(lock.conversation_id))
            return
        ttl = max(ticket.expires for ticket in lock.tickets) - time.time()
        self.red.set(self._key(lock.conversation_id), lock.dumps(), px=max(1, int(ttl * 1000) + 1))

    def issue_ticket(self, conversation_id: str, lock_lifetime: Optional[float] = None) -> int:
        number, _ = self._issue_and_serving(conversation_id, lock_lifetime or self.lifetime)
        return number

    def _issue_and_serving(self, conversation_id: str, lock_lifetime: float) -> tuple[int, int]:
        try:
            number, serving = self._issue(keys=[self._key(conversation_id)],
                                          args=[repr(time.time()), repr(float(lock_lifetime)), conversation_id])
        except Exception as e:  # Rasa's own store turns every failure here into a LockError
            raise LockError(f"Error while acquiring lock. Error:\n{e}") from e
        return int(number), int(serving)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        self._return(keys=[self._key(conversation_id)],
                     args=[repr(time.time()), str(ticket_number), conversation_id])

    @asynccontextmanager
    async def lock(
        self, conversation_id: str, lock_lifetime: Optional[float] = None, wait_time_in_seconds: float = 1,
    ) -> AsyncGenerator[TicketLock, None]:
        """Rasa's `lock`, minus the extra read when the ticket is served at once (the usual
        case: one conversation's messages rarely overlap). Rasa's processor passes no
        lifetime: this store's own applies."""
        lock_lifetime = lock_lifetime or self.lifetime
        number, serving = self._issue_and_serving(conversation_id, lock_lifetime)
        try:
            if number == serving:
                yield TicketLock(conversation_id, deque([Ticket(number, time.time() + lock_lifetime)]))
            else:
                yield await self._wait_for(conversation_id, number, wait_time_in_seconds)
        finally:
            self.cleanup(conversation_id, number)

    async def _wait_for(self, conversation_id: str, number: int, wait_time_in_seconds: float) -> TicketLock:
        """Poll until earlier tickets are returned or expire. Reads only: unlike Rasa's
        `update_lock`, it never writes a lock back over another process's new ticket."""
        while True:
            raw = self.red.get(self._key(conversation_id))
            lock = TicketLock.from_dict(json.loads(raw)) if raw else None
            if lock is None or lock._ticket_for_ticket_number(number) is None:
                raise LockError(f"Could not acquire lock for conversation_id '{conversation_id}'.")
            if not lock.is_locked(number):
                return lock
            logger.debug("Conversation %s: waiting for %d earlier message(s).",
                         conversation_id, number - (lock.now_serving or 0))
            await asyncio.sleep(wait_time_in_seconds)


def create(endpoint_config: EndpointConfig) -> LockStore:
    """What endpoints.yml names: `backend` `in_memory` or `redis` (url, port, db, key_prefix
    as for Rasa's own Redis lock store)."""
    options = dict(endpoint_config.kwargs)
    backend = str(options.pop("backend", "in_memory") or "in_memory")
    if backend == "in_memory":
        return InMemoryLockStore()
    if backend != "redis":
        raise ValueError(f"lock store backend {backend!r}: expected in_memory or redis")
    return AtomicRedisLockStore(host=endpoint_config.url or "localhost", **options)


class CareDeskLockStore(LockStore):
    """What endpoints.yml names. Rasa creates a custom lock store as
    `cls(endpoint_config=...)` and insists on a class; this one hands back the store `create`
    picks instead of an instance of itself."""

    def __new__(cls, endpoint_config: EndpointConfig) -> LockStore:  # type: ignore[misc]
        return create(endpoint_config)
