"""When to restart a process that died: at once the first time, then after 1, 2, 4 ... up to
30 seconds while it keeps dying, so a process that cannot start does not spin the machine;
a process that stayed up a minute counts as healthy again and starts over at once."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Backoff:
    cap: float = 30.0
    healthy_after: float = 60.0
    failures: int = 0  # exits in a row, each after less than `healthy_after` of uptime

    def delay(self, uptime: float) -> float:
        """Seconds to wait before the next start, given how long the process was up."""
        if uptime >= self.healthy_after:
            self.failures = 0
        self.failures += 1
        if self.failures == 1:
            return 0.0
        return float(min(self.cap, 2 ** (self.failures - 2)))
