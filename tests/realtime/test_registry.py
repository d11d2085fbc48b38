"""Each realtime server reports its connection count in the Redis hash ims:realtime:servers (what
GET /system/status reads): at start, on every change, and leaves it on a clean stop; a Redis outage
costs it one log line, never the feed."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from realtime import launch
from shared import events
from shared.services import ops
from tests.realtime.conftest import WAIT, aio, feed_env, peer
from tests.realtime.test_operations import OwnRedis


def entry(client: redis.Redis, server: launch.Realtime) -> dict[str, Any] | None:
    raw = client.hget(ops.LIVE_SERVERS, f"{socket.gethostname()}:{server.pid}")
    return None if raw is None else json.loads(raw)


async def until(what: str, predicate: Callable[[], Any], timeout: float = WAIT) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@aio
async def test_a_server_reports_its_connections_and_leaves_when_stopped(services, manager):
    client = events.redis_client()
    server = launch.start(feed_env())
    try:
        first = await until("the server's entry", lambda: entry(client, server))
        assert first["connections"] == 0
        async with peer(server.url, token=manager["token"]) as one, peer(server.url, token=manager["token"]) as two:
            await one.ready()
            await two.ready()
            await until("two connections", lambda: (entry(client, server) or {}).get("connections") == 2)
        await until("none again", lambda: (entry(client, server) or {}).get("connections") == 0)
    finally:
        assert server.stop() == 0
    assert entry(client, server) is None


@aio
async def test_a_redis_outage_is_one_log_line_and_the_feed_carries_on(services, manager, tmp_path: Path):
    own = OwnRedis(tmp_path)
    own.start()
    log = tmp_path / "realtime.log"
    server = None
    try:
        client = redis.Redis(port=own.port, socket_timeout=5)
        with log.open("w") as stderr:
            server = launch.start(feed_env(REDIS_URL=own.url), stderr=stderr)
        await until("the server's entry", lambda: entry(client, server))
        own.stop()
        async with peer(server.url, token=manager["token"]) as connected:
            await connected.ready()  # a new client is served while Redis is away
            await asyncio.sleep(5)  # long enough for the reports to fail twice (every 2 s while Redis is away)
            assert server.proc.poll() is None
            own.start()
            await until("the report after Redis came back",
                        lambda: (entry(client, server) or {}).get("connections") == 1)
        client.close()
    finally:
        if server is not None:
            server.stop()
        own.stop()
    warnings = [line for line in log.read_text().splitlines() if f"cannot report to {ops.LIVE_SERVERS}" in line]
    assert len(warnings) == 1, log.read_text()
