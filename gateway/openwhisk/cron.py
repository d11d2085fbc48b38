"""The platform's scheduled triggers, played locally.

Every trigger in project.yml with `sourceType: scheduler` fires its function, with the trigger's
`withBody` as the params, whenever its five-field cron expression matches the minute, in UTC as on
DigitalOcean. Several gateways may run against one database: each scheduled minute is claimed by
inserting (trigger, minute) into `cron_runs`, so exactly one of them fires it. A minute that passed
while no gateway ran is not made up for, as on the platform.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.manifest import Function
from shared import errors

log = logging.getLogger("ims.cron")

UTC = dt.UTC
_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_NAMES = {3: "jan feb mar apr may jun jul aug sep oct nov dec".split(), 4: "sun mon tue wed thu fri sat".split()}


def _number(text: str, index: int) -> int:
    names = _NAMES.get(index)
    if names and text.lower() in names:
        return names.index(text.lower()) + (1 if index == 3 else 0)
    if not text.isdigit():
        raise ValueError(f"{_FIELDS[index][0]}: {text!r} is not a number")
    return int(text)


def _field(text: str, index: int) -> frozenset[int]:
    label, low, high = _FIELDS[index]
    values: set[int] = set()
    for part in text.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text.isdigit() else 0 if step_text else 1
        if step < 1:
            raise ValueError(f"{label}: bad step in {part!r}")
        if span == "*":
            start, end = low, high
        elif "-" in span:
            first, _, last = span.partition("-")
            start, end = _number(first, index), _number(last, index)
        else:
            start = _number(span, index)
            end = high if step_text else start  # "5/15" means 5, 20, 35, 50
        if not (low <= start <= high and low <= end <= high) or start > end:
            raise ValueError(f"{label}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    if index == 4:
        values = {v % 7 for v in values}  # 7 is Sunday too
    return frozenset(values)


@dataclass(frozen=True)
class Cron:
    """A five-field cron expression: minute hour day-of-month month day-of-week."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]
    any_day: bool  # day of month is "*": only the weekday restricts
    any_weekday: bool

    @classmethod
    def parse(cls, text: str) -> Cron:
        parts = text.split()
        if len(parts) != 5:
            raise ValueError(f"cron {text!r}: expected 5 fields (minute hour day month weekday), got {len(parts)}")
        try:
            minutes, hours, days, months, weekdays = (_field(part, i) for i, part in enumerate(parts))
        except ValueError as exc:
            raise ValueError(f"cron {text!r}: {exc}") from None
        return cls(text, minutes, hours, days, months, weekdays,
                   any_day=parts[2].startswith("*"), any_weekday=parts[4].startswith("*"))

    def _day_matches(self, t: dt.datetime) -> bool:
        day, weekday = t.day in self.days, (t.weekday() + 1) % 7 in self.weekdays
        if self.any_day or self.any_weekday:
            return day and weekday
        return day or weekday  # both restricted: either may match, as in every cron since Vixie's

    def matches(self, t: dt.datetime) -> bool:
        return (t.minute in self.minutes and t.hour in self.hours and t.month in self.months
                and self._day_matches(t))

    def next_after(self, t: dt.datetime) -> dt.datetime:
        """The first matching minute strictly after `t`."""
        t = t.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        limit = t + dt.timedelta(days=366 * 5)
        while t < limit:
            if t.month not in self.months:
                t = (t.replace(day=1, hour=0, minute=0) + dt.timedelta(days=32)).replace(day=1)
            elif not self._day_matches(t):
                t = t.replace(hour=0, minute=0) + dt.timedelta(days=1)
            elif t.hour not in self.hours:
                t = t.replace(minute=0) + dt.timedelta(hours=1)
            elif t.minute not in self.minutes:
                t += dt.timedelta(minutes=1)
            else:
                return t
        raise ValueError(f"cron {self.text!r} never fires")


@dataclass(frozen=True)
class Trigger:
    name: str
    function: Function
    cron: Cron
    body: dict[str, Any]


def triggers(functions: list[Function]) -> list[Trigger]:
    """Every scheduler trigger of project.yml; a malformed, never-firing or twice-named one fails
    loudly, naming it (trigger names key the once-per-schedule claim)."""
    found: list[Trigger] = []
    for function in functions:
        for raw in function.triggers:
            if raw.get("sourceType") != "scheduler":
                continue
            details = raw.get("sourceDetails") or {}
            name = raw.get("name") or function.qualified
            try:
                cron = Cron.parse(str(details.get("cron", "")))
                cron.next_after(dt.datetime.now(UTC))
            except ValueError as exc:
                raise ValueError(f"{function.qualified}, trigger {name}: {exc}") from None
            if any(t.name == name for t in found):
                raise ValueError(f"two triggers are named {name!r}; trigger names must be unique")
            found.append(Trigger(name, function, cron, dict(details.get("withBody") or {})))
    return found


_CLAIM = ("INSERT INTO cron_runs (trigger, scheduled_at) VALUES (:trigger, :at) "
          "ON CONFLICT DO NOTHING RETURNING trigger")
_PRUNE = "DELETE FROM cron_runs WHERE scheduled_at < now() - interval '7 days'"


def claim(trigger: Trigger, minute: dt.datetime) -> bool:
    """True for the one scheduler, among all sharing the database, that gets to fire this minute."""
    from shared import db

    with db.transaction() as conn:
        won = conn.one(_CLAIM, trigger=trigger.name, at=minute) is not None
        if won:
            conn.execute(_PRUNE)
    return won


class Scheduler:
    def __init__(self, schedule: list[Trigger], fire: Callable[[Trigger], Any],
                 claim: Callable[[Trigger, dt.datetime], bool] = claim,
                 clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(UTC)) -> None:
        self.schedule = schedule
        self._fire, self._claim, self._clock = fire, claim, clock

    def tick(self, minute: dt.datetime) -> list[Trigger]:
        """Fire every trigger due at `minute` that this scheduler wins; return those fired."""
        fired = []
        for trigger in self.schedule:
            if not trigger.cron.matches(minute):
                continue
            try:
                if not self._claim(trigger, minute):
                    continue
                self._fire(trigger)
                fired.append(trigger)
            except errors.Unavailable:  # the database is away (logged once per outage): the next schedule tries again
                log.warning("cron trigger %s at %s skipped: the database is unavailable", trigger.name,
                            minute.isoformat())
            except Exception:
                log.exception("cron trigger %s at %s failed", trigger.name, minute.isoformat())
        return fired

    def run(self, stopping: threading.Event) -> None:
        """Tick at every minute something is due, until `stopping` is set."""
        if not self.schedule:
            return
        now = self._clock()
        while True:
            due = min(t.cron.next_after(now) for t in self.schedule)
            if stopping.wait(max((due - self._clock()).total_seconds(), 0)):
                return
            fired = self.tick(due)
            if fired:
                log.info("cron %s: fired %s", due.strftime("%Y-%m-%d %H:%M"), ", ".join(t.name for t in fired))
            # Woken late (the machine slept, the clock jumped): go on from now, without replaying
            # every minute that passed, as the platform would not.
            late = self._clock() - due
            now = due if late < dt.timedelta(minutes=1) else self._clock()
