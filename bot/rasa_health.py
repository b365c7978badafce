"""Whether each Rasa process is answering at all, found out by probing it.

A stopped or wedged Rasa process (SIGSTOP, a stuck event loop) still accepts connections:
the kernel completes them, so nothing is refused and a message just waits. Without a probe
the gateway learns of it only when a customer's message runs out of time. Here each process's
`/` (a constant answer from Rasa's own event loop) is asked every `interval` seconds with a
short time-out; after DOWN_AFTER_MISSES misses in a row the process is down, and one good
answer brings it back. Any HTTP answer counts: the point is whether the process responds, not
what its model thinks. The router's requests to a process that goes down are abandoned at
once (see `fell`), so its customers hear the fault path in seconds, not at the deadline."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import aiohttp

logger = logging.getLogger(__name__)
DOWN_AFTER_MISSES = 2  # one slow probe on a busy machine is not an outage


class Health:
    """Up or down per Rasa process; every process counts as up until a probe says otherwise."""

    def __init__(self, bases: Sequence[str]) -> None:
        self._up = {base: True for base in bases}
        self._misses = {base: 0 for base in bases}
        self._fell: dict[str, asyncio.Future[None]] = {}

    def is_up(self, base: str) -> bool:
        return self._up[base]

    def any_up(self) -> bool:
        return any(self._up.values())

    def fell(self, base: str) -> asyncio.Future[None]:
        """Done when `base` is next marked down (already done while it is down)."""
        future = self._fell.get(base)
        if future is None or (future.done() and self._up[base]):
            future = self._fell[base] = asyncio.get_running_loop().create_future()
            if not self._up[base]:
                future.set_result(None)
        return future

    def answered(self, base: str) -> None:
        self._misses[base] = 0
        if not self._up[base]:
            self._up[base] = True
            logger.warning("Rasa at %s answers again: it takes conversations again", base)

    def missed(self, base: str, why: str) -> None:
        self._misses[base] += 1
        if self._up[base] and self._misses[base] >= DOWN_AFTER_MISSES:
            self._up[base] = False
            logger.error("Rasa at %s missed %d health probes (%s): marked down, its conversations "
                         "go to the other processes", base, self._misses[base], why)
            future = self._fell.get(base)
            if future is not None and not future.done():
                future.set_result(None)

    async def probe(self, session: aiohttp.ClientSession, base: str, timeout: float) -> None:
        try:
            async with session.get(f"{base}/", timeout=aiohttp.ClientTimeout(total=timeout)) as response:
                await response.read()
        except (asyncio.TimeoutError, TimeoutError):
            self.missed(base, f"no answer within {timeout:g} s")
        except (aiohttp.ClientError, OSError, ValueError) as error:
            self.missed(base, str(error) or type(error).__name__)
        else:
            self.answered(base)

    async def watch(self, session: aiohttp.ClientSession, interval: float, timeout: float) -> None:
        """Probe every process every `interval` seconds until cancelled (each on its own
        schedule, so one hung process does not delay the probes of the others)."""
        await asyncio.gather(*(self._watch_one(session, base, interval, timeout) for base in self._up))

    async def _watch_one(self, session: aiohttp.ClientSession, base: str, interval: float, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        while True:
            began = loop.time()
            await self.probe(session, base, timeout)
            await asyncio.sleep(max(0.0, interval - (loop.time() - began)))
