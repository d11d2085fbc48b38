"""The live feed across a restore: the outbox ids start again below ids the stream and its publish-once
markers hold, yet new events reach the stream and the clients, and every client is told to reload."""

from __future__ import annotations

import subprocess
import sys

from localenv import process
from localenv.front import Front
from realtime import launch
from tests.api.helpers import V1, login, new_item, withdraw
from tests.backup.conftest import ROOT, front_env, migrated, query, run_backup
from tests.client import Api
from tests.conftest import wait_until
from tests.realtime.conftest import aio, feed_env, peer


def relay(env: dict[str, str]) -> str:
    """What the scheduled ops/relay does (and `make relay`)."""
    done = subprocess.run([sys.executable, "-c", "from shared import events; print(events.relay())"], cwd=ROOT,
                          env=process.child_env(env), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_after_a_restore_new_events_reach_the_stream_and_clients_reload(services, backup_env, tmp_path):
    import redis

    database = migrated("ims_backup_live")
    env = front_env(database)  # its stream is in Redis database 3: the test empties it
    stream = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)
    stream.delete("ims:events")
    front = Front(env, tmp_path / "before.log")
    api = Api(front.url)
    try:
        api.post(f"{V1}/auth/register", {"email": "owner@example.com", "password": "owner-pass-1",
                                         "full_name": "Owner"})
        token = login(api, "owner@example.com", "owner-pass-1")["access_token"]
        item = new_item(api, token, quantity=50)
        taken = run_backup({**backup_env, "DATABASE_URL": database}, "take")
        assert taken.returncode == 0, taken.stderr
        for _ in range(3):  # after the backup: lost by the restore, but their ids stay in Redis
            withdraw(api, token, item["id"])
        wait_until(lambda: stream.xlen("ims:events") == 5, what="item_created and 4 movements in the stream")
    finally:
        api.close()
        front.stop()
    seen = stream.xrevrange("ims:events", count=1)[0][0]
    used = {int(f["event_id"].split("@")[0]) for _, f in stream.xrange("ims:events")}
    highest = max(used)

    restored = run_backup({**backup_env, "DATABASE_URL": database}, "restore", "--force")
    assert restored.returncode == 0, restored.stderr
    assert query(database, "SELECT quantity FROM items") == [{"quantity": 50}]
    assert query(database, "SELECT max(id) AS id FROM events")[0]["id"] < highest  # ids restart below

    feed = launch.start(feed_env(DATABASE_URL=database, REDIS_URL=env["REDIS_URL"]))
    front = Front(env, tmp_path / "after.log")
    api = Api(front.url)

    @aio
    async def live() -> None:
        token = login(api, "owner@example.com", "owner-pass-1")["access_token"]
        async with peer(feed.url, token=token, last_event_id=seen) as client:
            await client.ready()
            # The data_restored event the restore left in the outbox: published by this relay, or
            # already by the front's own relay at start-up; either way after the client's resume point.
            relay(env)
            (told,) = await client.until(lambda m: m.get("event") == "resync_required")
            assert told["data"]["backup"].startswith("nightly/ims-") and "restored" in told["data"]["reason"]
            moved = withdraw(api, token, item["id"])  # an outbox id the stream has seen before the restore
            assert moved["quantity"] == 49
            (event,) = await client.until(lambda m: m.get("event") == "stock_changed")
            assert event["data"]["item_id"] == item["id"] and event["data"]["quantity"] == 49
            entry = stream.xrange("ims:events", min=event["id"], max=event["id"])[0][1]
            assert int(entry["event_id"].split("@")[0]) in used  # its outbox id, published before the restore

    try:
        live()
    finally:
        api.close()
        front.stop()
        feed.stop()
        stream.delete("ims:events")
        stream.close()
