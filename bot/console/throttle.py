"""Failed console sign-ins, counted per username, so a password cannot be found by trying
many: after `limit` wrong passwords for one username within `window_seconds`, sign-in for
that username waits until the oldest of them is that old, whatever the password.

Per username rather than per address: behind a reverse proxy every agent shares one address,
and one person's typos must not lock out the whole team. The price is that someone who knows
an agent's username can make that agent wait; the wait is short and the log says so. Kept in
memory (one gateway process), at most MAX_NAMES usernames."""
from __future__ import annotations

import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

logger = logging.getLogger(__name__)
MAX_NAMES = 10_000


class LoginThrottle:
    def __init__(self, limit: int = 5, window_seconds: float = 15 * 60,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window_seconds, clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    @staticmethod
    def _key(username: str) -> str:
        return username.strip().casefold()[:64]

    def wait_minutes(self, username: str) -> int:
        """0 when a sign-in may be tried now, else the whole minutes until it may."""
        times = self._failures.get(self._key(username))
        if not times or len(times) < self.limit:
            return 0
        wait = times[-self.limit] + self.window - self.clock()
        return math.ceil(wait / 60) if wait > 0 else 0

    def failed(self, username: str) -> None:
        key, now = self._key(username), self.clock()
        times = self._failures.setdefault(key, deque(maxlen=self.limit))
        while times and now - times[0] >= self.window:
            times.popleft()
        times.append(now)
        self._failures.move_to_end(key)
        if len(times) == self.limit:
            logger.warning("console sign-in for %r paused: %d wrong passwords in %d minutes",
                           key, self.limit, self.window // 60)
        while len(self._failures) > MAX_NAMES:
            self._failures.popitem(last=False)

    def succeeded(self, username: str) -> None:
        self._failures.pop(self._key(username), None)
