"""One log line per outage of a dependency, not one traceback per refused request.

The first failure logs "<name> unavailable (<reason>)"; later ones are only counted, and reported at
most once a minute ("<name> still unavailable (<reason>), N requests refused in the last minute");
the first success after that logs "<name> available again after S s (N requests refused)". While
nothing is wrong, `ok()` costs one attribute read.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

REPORT_EVERY = 60.0  # seconds between "still unavailable" lines


class Outage:
    def __init__(self, name: str, log: logging.Logger, refused: str = "requests refused",
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name, self.log, self.refused, self.clock = name, log, refused, clock
        self.down = False
        self._lock = threading.Lock()
        self._since = self._reported = 0.0
        self._count = self._total = 0  # failures since the last report, since the outage began
        self._reason = ""

    def failed(self, reason: str = "") -> None:
        """One request (or attempt) failed because the dependency is away ("" keeps the last reason)."""
        with self._lock:
            now = self.clock()
            reason = self._reason = reason or self._reason
            if not self.down:
                self.down, self._since, self._reported, self._count, self._total = True, now, now, 0, 1
                self.log.error("%s unavailable (%s)", self.name, reason)
                return
            self._count += 1
            self._total += 1
            if now - self._reported < REPORT_EVERY:
                return
            count, self._count, self._reported = self._count, 0, now
        self.log.warning("%s still unavailable (%s), %d %s in the last minute", self.name, reason, count,
                         self.refused)

    def ok(self) -> None:
        """The dependency answered: end the outage, if there was one."""
        if not self.down:
            return
        with self._lock:
            if not self.down:
                return
            self.down = False
            seconds, total = self.clock() - self._since, self._total
        self.log.info("%s available again after %.0f s (%d %s)", self.name, seconds, total, self.refused)
