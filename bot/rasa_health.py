"""Whether each Rasa process is answering at all, found out by probing it.

A stopped or wedged Rasa process (SIGSTOP, a stuck event loop) still accepts connections:
the kernel completes them, so nothing is refused and a message just waits for its deadline.
Here each process's `/` (a constant answer from Rasa's own event loop) is asked every
`interval` seconds; after DOWN_AFTER_MISSES probes in a row unanswered within `timeout` the
process is down (it gets no new conversations; its conversations move to a healthy one); one
good answer brings it back. Any HTTP answer counts: the point is whether the process
responds. A busy process answers late, not never: with 50 customers on a shared 2-core
machine, 1 s probes were missed now and then, so the default time-out is 3 s.
"""
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

    def is_up(self, base: str) -> bool:
        return self._up[base]

    def any_up(self) -> bool:
        return any(self._up.values())

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
