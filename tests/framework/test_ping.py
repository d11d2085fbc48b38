"""gateway.openwhisk.ping: an outside scheduler's call fires a trigger only when due, once per scheduled minute
(the real claim in PostgreSQL), with the trigger's own body; at a fixed clock, in process."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

from gateway import manifest
from gateway.openwhisk import cron, ping
from gateway.openwhisk.activations import Activations

UTC = dt.UTC


class Recorder(Activations):
    """The real activations, recording what they run."""

    def __init__(self) -> None:
        super().__init__(manifest.load(), "local", "k")
        self.ran: list[tuple[str, dict[str, Any]]] = []

    def run(self, function: manifest.Function, params: dict[str, Any], activation: str) -> Any:
        self.ran.append((function.qualified, params))
        return super().run(function, params, activation)


def _pings(expr: str, at: dt.datetime) -> tuple[ping.Pings, Recorder, str]:
    relay = next(f for f in manifest.load() if f.qualified == "ops/relay")
    name = f"ping-test-{uuid.uuid4().hex[:8]}"
    recorder = Recorder()
    trigger = cron.Trigger(name, relay, cron.Cron.parse(expr), {"from": "schedule"})
    return ping.Pings([trigger], "local", recorder, clock=lambda: at), recorder, f"/api/v1/namespaces/_/triggers/{name}"


def test_a_due_trigger_fires_once_for_its_minute_with_its_own_body(services):
    pings, ran, path = _pings("0 7 * * *", dt.datetime(2031, 3, 4, 7, 0, 12, tzinfo=UTC))
    status, _, body = pings.handle("POST", path)
    assert status == 200, body
    answer = json.loads(body)
    assert answer["fired"] is True and answer["scheduled_at"] == "2031-03-04T07:00:00+00:00"
    assert answer["success"] is True and "result" not in answer  # the function's answer stays inside
    status, _, body = pings.handle("POST", path)  # the same delivery, retried
    assert (status, json.loads(body)["fired"]) == (200, False)
    assert ran.ran == [("ops/relay", {"from": "schedule"})]


def test_a_late_delivery_within_the_grace_still_fires_its_minute(services):
    pings, ran, path = _pings("0 7 * * *", dt.datetime(2031, 3, 4, 7, ping.GRACE_MINUTES, 59, tzinfo=UTC))
    status, _, body = pings.handle("POST", path)
    assert status == 200 and json.loads(body)["scheduled_at"] == "2031-03-04T07:00:00+00:00"


def test_a_trigger_not_due_is_refused_and_not_run(services):
    for at in (dt.datetime(2031, 3, 4, 6, 59, 59, tzinfo=UTC),
               dt.datetime(2031, 3, 4, 7, ping.GRACE_MINUTES + 1, tzinfo=UTC)):
        pings, ran, path = _pings("0 7 * * *", at)
        status, _, body = pings.handle("POST", path)
        assert status == 409 and "0 7 * * *" in json.loads(body)["error"]
        assert ran.ran == []


def test_only_post_and_only_known_triggers(services):
    pings, ran, path = _pings("* * * * *", dt.datetime(2031, 3, 4, 7, 0, tzinfo=UTC))
    status, headers, _ = pings.handle("GET", path)
    assert status == 405 and ("Allow", "POST") in headers
    assert pings.handle("POST", "/api/v1/namespaces/_/triggers/nope")[0] == 404
    assert pings.handle("POST", path.replace("/_/", "/other-namespace/"))[0] == 404
    assert ran.ran == []


def test_due_minute_reads_the_clock_in_utc():
    trigger = cron.Trigger("t", next(iter(manifest.load())), cron.Cron.parse("0 7 * * *"), {})
    lisbon_summer = dt.timezone(dt.timedelta(hours=1))
    assert ping.due_minute(trigger, dt.datetime(2031, 7, 1, 8, 2, tzinfo=lisbon_summer)) == \
        dt.datetime(2031, 7, 1, 7, 0, tzinfo=UTC)
    assert ping.due_minute(trigger, dt.datetime(2031, 7, 1, 7, 2, tzinfo=lisbon_summer)) is None
