"""This server's entry in the Redis hash `ims:realtime:servers`, which GET /system/status reads for the
live feed's connections (shared.services.ops holds the hash's name and the entry's format).

The entry is written at start, whenever the connection count changed (looked at every second), and
at least every REPORT_EVERY seconds, so a reader can tell a live server from one that died without
removing its entry (ops.LIVE_STALE_SECONDS). A clean stop removes it. Redis being away never
disturbs the feed: the first failure is logged, later ones quietly retried, the recovery logged.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from typing import Any

from realtime.hub import Hub
from shared.services.ops import LIVE_SERVERS, live_entry

log = logging.getLogger("ims.realtime")

REPORT_EVERY = 10.0  # seconds: well inside the readers' 60 s, so a missed write or two is harmless
LOOK_EVERY = 1.0  # seconds between looks at the connection count
RETRY_EVERY = 2.0  # seconds between attempts while Redis is away
TIMEOUT = 2.0  # seconds one write may take


def connect(redis_url: str) -> Any:
    """A client of the registration's own, apart from the feed's: its idle connection must not be
    what /healthz picks up stale after a Redis restart. It retries a command once on a fresh
    connection, so a restart between two reports costs nothing."""
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return redis.asyncio.Redis.from_url(redis_url, socket_timeout=TIMEOUT, socket_connect_timeout=TIMEOUT,
                                        retry=Retry(NoBackoff(), 1))


class Registration:
    def __init__(self, redis_url: str, hub: Hub) -> None:
        self.redis, self.hub = connect(redis_url), hub
        self.id = f"{socket.gethostname()}:{os.getpid()}"
        self.failing = False

    async def run(self) -> None:
        reported: int | None = None
        due = 0.0  # monotonic time of the next write even if nothing changed
        while True:
            count = len(self.hub.clients)
            now = time.monotonic()
            if now >= due or (count != reported and not self.failing):
                if await self._write(count):
                    reported, due = count, now + REPORT_EVERY
                else:
                    due = now + RETRY_EVERY
            await asyncio.sleep(LOOK_EVERY)

    async def _write(self, connections: int) -> bool:
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.redis.hset(LIVE_SERVERS, self.id, live_entry(connections))
        except Exception as exc:  # redis-py's own errors, OSError, TimeoutError: Redis is away
            if not self.failing:
                log.warning("cannot report to %s (%s: %s); retrying every %g s",
                            LIVE_SERVERS, type(exc).__name__, exc, RETRY_EVERY)
            self.failing = True
            return False
        if self.failing:
            log.info("reporting to %s again", LIVE_SERVERS)
        self.failing = False
        return True

    async def leave(self) -> None:
        """Take this server's entry out (a clean stop) and close the client; Redis being away leaves
        the entry to go stale."""
        try:
            async with asyncio.timeout(TIMEOUT):
                await self.redis.hdel(LIVE_SERVERS, self.id)
        except Exception as exc:
            log.info("could not remove this server from %s (%s); it goes stale by itself", LIVE_SERVERS,
                     type(exc).__name__)
        await self.redis.aclose()
