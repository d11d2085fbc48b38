"""Lock files the front's workers share (flock: the kernel frees a lock when its holder dies, even
killed): which worker fires the scheduled triggers (CronLeader), and the bound on password hashing
for the whole front (HostSlots)."""

from __future__ import annotations

import fcntl
import os
import random
import threading
import time
from pathlib import Path
from typing import Any


def try_lock(path: Path, mode: int = 0o600) -> int | None:
    """Take an exclusive lock on `path` (created if missing) without waiting: the descriptor holding it
    (closing it releases the lock), or None when another holds it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, mode)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


# --- the scheduled triggers: one worker per front -----------------------------------------------

class CronLeader:
    """Whether this worker fires the scheduled triggers: the one that holds the lock file. When it
    exits, the lock is free and another worker takes it at its next scheduled minute."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def held(self) -> bool:
        if self._fd is None:
            self._fd = try_lock(self.path)
        return self._fd is not None

    def claim(self, trigger: Any, minute: Any) -> bool:
        """The Scheduler's claim in a worker: only the lock holder asks the database (gateway.openwhisk.cron.claim)."""
        from gateway.openwhisk import cron

        return self.held() and cron.claim(trigger, minute)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


# --- bcrypt: one bound for every worker --------------------------------------------------------

class HostSlots:
    """At most `size` holders at once among every process using `directory`: each slot is a lock file
    held with flock, so a worker that dies (even killed) frees its slot with it. The workers' password
    checks share this bound (IMS_BCRYPT_CONCURRENCY for the whole front, not per worker).

    A request waiting for a slot holds one of its worker's threads; at most `max_waiting` of a worker's
    threads wait, so a login storm leaves the others to every other request. Past that the sign-in is
    answered 503 with Retry-After at once, as when a dependency is saturated."""

    POLL = 0.01  # seconds between looks when every slot is taken (a bcrypt check takes ~0.25 s)

    def __init__(self, directory: Path, size: int, max_waiting: int) -> None:
        directory.mkdir(exist_ok=True)
        self.paths = [directory / f"slot-{i}" for i in range(size)]
        for path in self.paths:
            path.touch()
        self.max_waiting = max_waiting
        self._waiting = 0
        self._lock = threading.Lock()
        self._held = threading.local()

    def _try(self) -> int | None:
        for path in random.sample(self.paths, len(self.paths)):
            if (fd := try_lock(path)) is not None:
                return fd
        return None

    def __enter__(self) -> None:
        fd = self._try()
        if fd is None:
            with self._lock:
                if self._waiting >= self.max_waiting:
                    from shared import errors

                    raise errors.ServiceUnavailable("Too many passwords are being checked at once; retry shortly.",
                                                    code="busy", headers={"Retry-After": "1"})
                self._waiting += 1
            try:
                while (fd := self._try()) is None:
                    time.sleep(self.POLL)
            finally:
                with self._lock:
                    self._waiting -= 1
        self._held.fd = fd

    def __exit__(self, *exc: object) -> None:
        os.close(self._held.fd)  # closing the descriptor releases its lock
