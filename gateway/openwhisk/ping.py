"""The scheduled triggers, fired from outside: a Knative PingSource or a Cloud Scheduler job calls.

`POST /api/v1/namespaces/<ns>/triggers/<trigger>` (the path of OpenWhisk's "fire a trigger") runs the
project.yml trigger's function with the trigger's own `withBody`, when its cron expression (UTC) is due
at this minute or was in the last few minutes, and only once per scheduled minute: the minute is
claimed in `cron_runs`, the same claim the self-hosted front's scheduler (gateway.openwhisk.cron) makes, so
retried deliveries, several schedulers and several replicas still fire each schedule exactly once.

Those schedulers cannot send the invoke API's key (a PingSource sends no custom header), so this path
asks for none; what a stranger can do with it is what the schedule does anyway, never more often. The
request body is ignored for the same reason, and the answer says only whether the minute fired and
whether the run succeeded, never what the function returned (counts, ids, errors: the activation's log
line has them). Only the functions-framework `ims` target serves this path (App(pings=True)); the
self-hosted front runs its own scheduler. A manual run goes through the invoke API (`make trigger`).
The answer waits for the function, so the platform keeps the instance (and its CPU) until it is done.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import uuid
from collections.abc import Callable

from gateway.openwhisk import cron
from gateway.openwhisk.activations import PREFIX, Activations, Reply, json_reply
from shared import errors

log = logging.getLogger("ims.cron")

GRACE_MINUTES = 5  # a delivery this late (a cold start, a retry) still fires its scheduled minute
_PATH = re.compile("^" + re.escape(PREFIX) + r"(?P<namespace>[^/]+)/triggers/(?P<name>[^/]+)$")


def due_minute(trigger: cron.Trigger, now: dt.datetime) -> dt.datetime | None:
    """The latest minute at most GRACE_MINUTES before `now` at which `trigger` is scheduled, or None."""
    minute = now.astimezone(cron.UTC).replace(second=0, microsecond=0)
    for back in range(GRACE_MINUTES + 1):
        candidate = minute - dt.timedelta(minutes=back)
        if trigger.cron.matches(candidate):
            return candidate
    return None


class Pings:
    def __init__(self, schedule: list[cron.Trigger], namespace: str, activations: Activations,
                 claim: Callable[[cron.Trigger, dt.datetime], bool] = cron.claim,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(cron.UTC)) -> None:
        self.by_name = {t.name: t for t in schedule}
        self.namespace = namespace
        self.activations = activations
        self._claim, self._clock = claim, clock

    @staticmethod
    def is_ping(path: str) -> bool:
        return _PATH.match(path) is not None

    def handle(self, method: str, path: str) -> Reply:
        found = _PATH.match(path)
        trigger = self.by_name.get(found["name"]) if found and found["namespace"] in ("_", self.namespace) else None
        if trigger is None:
            return json_reply(404, {"error": "No such scheduled trigger.", "triggers": sorted(self.by_name)})
        if method != "POST":
            status, headers, body = json_reply(405, {"error": "Fire a trigger with POST."})
            return status, [*headers, ("Allow", "POST")], body
        minute = due_minute(trigger, self._clock())
        if minute is None:
            return json_reply(409, {"error": f"{trigger.name} is not due: its schedule is {trigger.cron.text!r} (UTC).",
                                "trigger": trigger.name})
        try:
            won = self._claim(trigger, minute)
        except errors.Unavailable as exc:  # logged once per outage by shared.db
            status, headers, body = json_reply(503, {"error": exc.detail})
            return status, [*headers, ("Retry-After", str(exc.retry_after))], body
        if not won:
            return json_reply(200, {"trigger": trigger.name, "scheduled_at": minute.isoformat(), "fired": False})
        activation = uuid.uuid4().hex
        log.info("trigger %s for %s fired by a ping", trigger.name, minute.isoformat())
        result = self.activations.run(trigger.function, dict(trigger.body), activation)
        success = isinstance(result, dict) and "error" not in result
        return json_reply(200 if success else 502, {"trigger": trigger.name, "scheduled_at": minute.isoformat(),
                                                "fired": True, "activationId": activation, "success": success})
