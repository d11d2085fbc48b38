"""The one stream reader per process: XREAD from the last id handed out, forever, into the hub.

A Redis outage or restart is survived by retrying (with a capped back-off) from `hub.position`, the
id of the last entry delivered, so nothing is skipped or repeated once Redis is back; events the
outbox relay publishes after the outage get newer ids and follow in order. Every replica runs its own
reader over the whole stream: there is no consumer group and no shared state between replicas.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from realtime import stream
from realtime.hub import Hub
from realtime.metrics import Metrics
from shared.events import STREAM

log = logging.getLogger("ims.realtime")

READ_COUNT = 500
BLOCK_MS = 5_000  # below the socket timeout, so a quiet stream is not mistaken for a dead Redis
RETRY_FIRST, RETRY_MAX = 0.1, 2.0  # seconds
TRIM_EVERY = 60.0


def connect(redis_url: str) -> Any:
    import redis.asyncio

    return redis.asyncio.Redis.from_url(redis_url, decode_responses=True, socket_timeout=BLOCK_MS / 1000 + 5,
                                        socket_connect_timeout=2, health_check_interval=30)


class Tail:
    def __init__(self, redis: Any, hub: Hub, metrics: Metrics) -> None:
        self.redis, self.hub, self.metrics = redis, hub, metrics
        self.up = False  # whether the last Redis call succeeded (logged on each change)

    async def run(self) -> None:
        delay = RETRY_FIRST
        while True:
            try:
                if self.hub.position is None:
                    self.hub.position = await stream.last_id(self.redis)
                else:
                    await self.redis.ping()  # don't announce "back" before Redis answers
                self._up()
                delay = RETRY_FIRST
                await self._read_forever()
            except Exception as exc:  # redis-py raises its own errors, OSError or TimeoutError when down
                if self.up:
                    log.warning("lost the event stream (%s: %s); retrying from %s",
                                type(exc).__name__, exc, self.hub.position)
                self.up = False
                self.metrics.redis_up.set(0)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
                self.metrics.redis_reconnects.inc()

    def _up(self) -> None:
        if not self.up:
            log.info("reading the event stream after %s", self.hub.position)
        self.up = True
        self.metrics.redis_up.set(1)

    async def _read_forever(self) -> None:
        while True:
            assert self.hub.position is not None
            reply = await self.redis.xread({STREAM: self.hub.position}, count=READ_COUNT, block=BLOCK_MS)
            for _name, entries in reply or ():
                for stream_id, fields in entries:
                    event = stream.to_event(stream_id, fields)
                    if event is None:
                        self.hub.position = stream_id
                    else:
                        self.hub.publish(event)

    async def lag(self) -> float:
        """Seconds between the newest entry in the stream and the last one delivered (0 when caught up)."""
        newest = stream.parse_id(await stream.last_id(self.redis))
        done = stream.parse_id(self.hub.position) if self.hub.position else (0, 0)
        return max(0.0, (newest[0] - done[0]) / 1000) if newest > done else 0.0

    async def trim_forever(self, max_age: float) -> None:
        """Age-based retention (IMS_STREAM_MAX_AGE), on top of the publisher's approximate MAXLEN."""
        while True:
            try:
                trimmed = await stream.trim_by_age(self.redis, max_age)
                if trimmed:
                    log.info("trimmed %s event(s) older than %g s from the stream", trimmed, max_age)
            except Exception as exc:  # Redis down: the reader reports it; try again next round
                log.debug("trimming the stream failed: %s", exc)
            await asyncio.sleep(TRIM_EVERY)
