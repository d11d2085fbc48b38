"""GET /system/status: the manager's system page, read from the database, Redis and the live feed's
own reports (a real realtime server, with a real WebSocket client)."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator

import pytest

from realtime import launch
from shared import db, events
from shared.models import SystemStatus
from shared.services import ops
from tests.api.helpers import V1, assert_problem
from tests.conftest import publishing_to, unique
from tests.realtime.conftest import WAIT, aio, feed_env, peer

SECTIONS = {"status", "time", "checks", "outbox", "live", "backup", "alerts"}


def system_status(api, token: str) -> dict:
    res = api.get(f"{V1}/system/status", token=token)
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "application/json"
    body = res.json()
    SystemStatus.model_validate(body)  # the shape the document declares
    return body


@pytest.fixture(scope="module")
def live_feed(services: dict[str, str]) -> Iterator[launch.Realtime]:
    """A realtime server of this module's own, as tests/realtime starts theirs."""
    server = launch.start(feed_env())
    yield server
    server.stop()


def test_a_manager_sees_every_section_with_everything_up(api, manager):
    body = system_status(api, manager["token"])
    assert set(body) == SECTIONS
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis"}
    for check in body["checks"].values():
        assert check["ok"] is True and check["latency_ms"] >= 0
    assert set(body["outbox"]) == {"unpublished", "oldest_unpublished_at"}
    assert set(body["live"]) == {"connections", "servers"}
    assert set(body["backup"]) == {"last_success_at", "last_size_bytes", "last_failure_at"}
    assert set(body["alerts"]) == {"open", "mail_pending", "mail_failed"}
    moment = dt.datetime.fromisoformat(body["time"])
    assert body["time"].endswith("Z") and abs((dt.datetime.now(dt.timezone.utc) - moment).total_seconds()) < 300


def test_staff_are_refused(api, staff):
    assert_problem(api.get(f"{V1}/system/status", token=staff["token"]), 403)


def test_the_outbox_backlog_shows_what_the_relay_has_not_published(api, manager):
    events.relay()  # whatever earlier tests left unpublished
    assert system_status(api, manager["token"])["outbox"] == {"unpublished": 0, "oldest_unpublished_at": None}
    with publishing_to("redis://127.0.0.1:1/0"):  # nothing listens on port 1: the events stay in the outbox
        res = api.post(f"{V1}/categories", {"name": unique("Backlog")}, token=manager["token"])
        assert res.status == 201, res.text
        written = db.one("SELECT count(*) AS n, min(created_at) AS at FROM events WHERE published_at IS NULL")
        outbox = system_status(api, manager["token"])["outbox"]
    assert outbox["unpublished"] == written["n"] >= 1
    assert dt.datetime.fromisoformat(outbox["oldest_unpublished_at"]) == written["at"]
    assert events.relay() == written["n"]


def test_the_alert_counts_follow_the_alerts_table(api, manager):
    counts = db.one("SELECT count(*) FILTER (WHERE resolved_at IS NULL) AS open, "
                    "count(*) FILTER (WHERE mail_status IN ('pending', 'sending')) AS mail_pending, "
                    "count(*) FILTER (WHERE mail_status = 'failed') AS mail_failed FROM alerts")
    assert system_status(api, manager["token"])["alerts"] == counts


def test_the_last_backup_success_and_failure_from_backup_runs(api, manager):
    """Rows as `python -m backup` records them (here written directly, the latest of the session)."""
    insert = ("INSERT INTO backup_runs (kind, started_at, finished_at, succeeded, key, size_bytes, error) "
              "VALUES ('backup', now() - interval '1 minute', now(), :ok, :key, :size, :error) "
              "RETURNING id, finished_at")
    older = db.one(insert, ok=True, key="older", size=1, error=None)
    success = db.one(insert, ok=True, key="latest", size=4321, error=None)
    failure = db.one(insert, ok=False, key=None, size=None, error="boom")
    try:
        backup = system_status(api, manager["token"])["backup"]
    finally:
        db.execute("DELETE FROM backup_runs WHERE id = ANY(CAST(:ids AS bigint[]))",
                   ids=[older["id"], success["id"], failure["id"]])
    assert dt.datetime.fromisoformat(backup["last_success_at"]) == success["finished_at"]
    assert backup["last_size_bytes"] == 4321
    assert dt.datetime.fromisoformat(backup["last_failure_at"]) == failure["finished_at"]


@aio
async def test_a_realtime_servers_connections_show_within_seconds(api, manager, live_feed):
    def ours(body: dict) -> dict | None:
        return next((s for s in body["live"]["servers"] if s["id"].endswith(f":{live_feed.pid}")), None)

    async with peer(live_feed.url, token=manager["token"]) as client:
        await client.ready()
        deadline = time.monotonic() + WAIT
        while True:
            body = await asyncio.to_thread(system_status, api, manager["token"])
            server = ours(body)
            if server is not None and server["connections"] >= 1:
                break
            assert time.monotonic() < deadline, f"the server's connection never showed: {body['live']}"
            await asyncio.sleep(0.2)
    assert body["live"]["connections"] == sum(s["connections"] for s in body["live"]["servers"]) >= 1
    assert abs((dt.datetime.now(dt.timezone.utc) - dt.datetime.fromisoformat(server["updated_at"]))
               .total_seconds()) < ops.LIVE_STALE_SECONDS


def test_a_stale_or_unreadable_entry_is_ignored_and_removed(api, manager):
    redis = events.redis_client()
    now = dt.datetime.now(dt.timezone.utc)
    planted = {"fresh-host:1": ops.live_entry(5, now),
               "dead-host:2": ops.live_entry(7, now - dt.timedelta(seconds=ops.LIVE_STALE_SECONDS + 1)),
               "garbled-host:3": "not json"}
    redis.hset(ops.LIVE_SERVERS, mapping=planted)
    try:
        live = system_status(api, manager["token"])["live"]
        left = {field.decode() for field in redis.hkeys(ops.LIVE_SERVERS)}
    finally:
        redis.hdel(ops.LIVE_SERVERS, *planted)
    ids = {s["id"] for s in live["servers"]}
    assert "fresh-host:1" in ids and not ids & {"dead-host:2", "garbled-host:3"}
    assert live["connections"] == sum(s["connections"] for s in live["servers"]) >= 5
    assert "fresh-host:1" in left and not left & {"dead-host:2", "garbled-host:3"}


def test_redis_down_is_a_200_degraded_with_the_live_section_null(api, manager):
    with publishing_to("redis://127.0.0.1:1/0"):  # nothing listens on port 1
        body = system_status(api, manager["token"])
    assert body["status"] == "degraded"
    assert body["checks"]["redis"] == {"ok": False, "latency_ms": None}
    assert body["checks"]["database"]["ok"] is True
    assert body["live"] is None
    assert body["outbox"] is not None and body["backup"] is not None and body["alerts"] is not None
