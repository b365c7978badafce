"""The limits' Redis backend, so several gateways share one count. Each check is one atomic
Lua script (one round trip); the time comes from the gateway (`now`), so the memory and Redis
backends count alike and tests can move the clock. Keys expire by themselves."""
from __future__ import annotations

import secrets
from collections.abc import Sequence

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from bot.limits import EPSILON, Check, Slot

MAX_CONNECTIONS = 32  # per gateway; a check holds one for a single round trip

# KEYS: one per check. ARGV: now, then interval and tolerance per check, then EPSILON. Returns the wait
# (a string, so Lua keeps the fraction); when it is 0 every key is counted, else none. Each key
# holds "<theoretical arrival> <latest now seen>": a call that waited on its way here (for a
# pooled connection, behind a busy event loop, from a gateway whose clock is a little behind)
# carries an older `now` than one already counted, and is judged at the latest time seen, as it
# would have been had it arrived in order. Without that, at high rates (a tolerance of a few
# milliseconds) half of a burst was refused (measured: bench/gateways.py's "lost" turns).
ALLOW = """
local now, wait, arrivals, seen = tonumber(ARGV[1]), 0, {}, {}
for i, key in ipairs(KEYS) do
  local interval, tolerance = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local stored = redis.call('GET', key)
  local tat, latest = nil, nil
  if stored then
    local a, b = string.match(stored, '^(%S+)%s*(%S*)$')
    tat, latest = tonumber(a), tonumber(b)
  end
  local here = math.max(now, latest or now)
  local arrival = math.max(tat or here, here) + interval
  wait = math.max(wait, arrival - tolerance - here)
  arrivals[i], seen[i] = arrival, here
end
if wait > tonumber(ARGV[#ARGV]) then return tostring(wait) end
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%.6f %.6f', arrivals[i], seen[i]),
             'PX', math.ceil((arrivals[i] - seen[i]) * 1000) + 1000)
end
return '0'
"""

# KEYS: one sorted set of failure times per check. ARGV: now, then window and count per check.
FAILURE_WAIT = """
local now, wait = tonumber(ARGV[1]), 0
for i, key in ipairs(KEYS) do
  local window, count = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local n = redis.call('ZCARD', key)
  if n >= count then
    local oldest = redis.call('ZRANGE', key, n - count, n - count, 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
return tostring(wait)
"""

# KEYS as above. ARGV: now, a unique member, then window and count per check.
FAILED = """
local now, member = tonumber(ARGV[1]), ARGV[2]
for i, key in ipairs(KEYS) do
  local window, count = tonumber(ARGV[2 * i + 1]), tonumber(ARGV[2 * i + 2])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  redis.call('ZADD', key, now, member)
  redis.call('ZREMRANGEBYRANK', key, 0, -(count + 1))
  redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
return 1
"""

# KEYS[1]: a sorted set of socket tokens scored by lease expiry. ARGV: now, count, token, lease.
OPEN_SLOT = """
local now, count, lease = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= count then return 0 end
redis.call('ZADD', KEYS[1], now + lease, ARGV[3])
redis.call('PEXPIRE', KEYS[1], math.ceil(lease * 1000))
return 1
"""


def connect(url: str) -> "Redis":
    """A client that fails fast: no retries, short timeouts (the limiter falls back to memory).
    Its pool makes a burst wait (up to the same timeout) for one of MAX_CONNECTIONS connections
    instead of failing at once, as redis-py's default pool does past 100 checks in flight."""
    pool = BlockingConnectionPool.from_url(url, max_connections=MAX_CONNECTIONS, timeout=0.5,
                                           socket_timeout=0.5, socket_connect_timeout=0.5,
                                           retry=Retry(NoBackoff(), 0), health_check_interval=30)
    client: Redis = Redis.from_pool(pool)  # closing the client closes its pool
    return client


class RedisBackend:
    def __init__(self, client: "Redis", prefix: str) -> None:
        self.client, self.prefix = client, prefix
        self._allow = client.register_script(ALLOW)
        self._failure_wait = client.register_script(FAILURE_WAIT)
        self._failed = client.register_script(FAILED)
        self._open_slot = client.register_script(OPEN_SLOT)

    def _key(self, check: Check) -> str:
        limit, key = check
        return f"{self.prefix}{limit.name}:{key}"

    async def allow(self, checks: Sequence[Check], now: float) -> float:
        argv: list[float] = [now]
        for limit, _ in checks:
            argv += [limit.interval, limit.tolerance]
        return float(await self._allow(keys=[self._key(c) for c in checks], args=[*argv, EPSILON]))

    async def failure_wait(self, checks: Sequence[Check], now: float) -> float:
        argv: list[float] = [now]
        for limit, _ in checks:
            argv += [limit.seconds, limit.count]
        return float(await self._failure_wait(keys=[self._key(c) for c in checks], args=argv))

    async def failed(self, checks: Sequence[Check], now: float) -> None:
        argv: list[object] = [now, f"{now:.6f}-{secrets.token_hex(4)}"]
        for limit, _ in checks:
            argv += [limit.seconds, limit.count]
        await self._failed(keys=[self._key(c) for c in checks], args=argv)

    async def forget(self, check: Check) -> None:
        await self.client.delete(self._key(check))

    async def open_slot(self, check: Check, token: str, now: float, lease: float) -> bool:
        return bool(await self._open_slot(keys=[self._key(check)], args=[now, check[0].count, token, lease]))

    async def close_slot(self, check: Check, token: str) -> None:
        await self.client.zrem(self._key(check), token)

    async def renew_slots(self, slots: Sequence[Slot], now: float, lease: float) -> None:
        """One pipeline: push each still-open socket's lease on (XX: a closed one is not
        brought back), and the set's own expiry with it."""
        async with self.client.pipeline(transaction=False) as pipe:
            for slot in slots:
                key = self._key((slot.limit, slot.key))
                pipe.zadd(key, {slot.token: now + lease}, xx=True)
                pipe.pexpire(key, int(lease * 1000))
            await pipe.execute()
