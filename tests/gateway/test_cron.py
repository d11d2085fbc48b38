"""The gateway's scheduler: cron expressions, project.yml's triggers, firing once per schedule across
gateways (a real claim in PostgreSQL), and `make trigger`."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from typing import Any

import pytest

from gateway import manifest, trigger
from gateway.openwhisk import cron

UTC = dt.UTC
SAT = dt.datetime(2026, 11, 21, 10, 3, 30, tzinfo=UTC)  # a Saturday


def upcoming(expr: str, start: dt.datetime = SAT, n: int = 3) -> list[str]:
    c, out, t = cron.Cron.parse(expr), [], start
    for _ in range(n):
        t = c.next_after(t)
        out.append(t.strftime("%a %Y-%m-%d %H:%M"))
    return out


@pytest.mark.parametrize("expr, expected", [
    ("* * * * *", ["Sat 2026-11-21 10:04", "Sat 2026-11-21 10:05", "Sat 2026-11-21 10:06"]),
    ("*/5 * * * *", ["Sat 2026-11-21 10:05", "Sat 2026-11-21 10:10", "Sat 2026-11-21 10:15"]),
    ("0 7 * * *", ["Sun 2026-11-22 07:00", "Mon 2026-11-23 07:00", "Tue 2026-11-24 07:00"]),
    ("30 9 * * mon-fri", ["Mon 2026-11-23 09:30", "Tue 2026-11-24 09:30", "Wed 2026-11-25 09:30"]),
    ("0 0 * * 7", ["Sun 2026-11-22 00:00", "Sun 2026-11-29 00:00", "Sun 2026-12-06 00:00"]),
    ("15,45 8-9 * * *", ["Sun 2026-11-22 08:15", "Sun 2026-11-22 08:45", "Sun 2026-11-22 09:15"]),
    ("0 12 1 jan,jul *", ["Fri 2027-01-01 12:00", "Thu 2027-07-01 12:00", "Sat 2028-01-01 12:00"]),
    ("0 0 29 2 *", ["Tue 2028-02-29 00:00", "Sun 2032-02-29 00:00", "Fri 2036-02-29 00:00"]),
    # day of month and day of week both restricted: either one matches, as in every cron
    ("0 6 1 * 1", ["Mon 2026-11-23 06:00", "Mon 2026-11-30 06:00", "Tue 2026-12-01 06:00"]),
    ("5/20 10 * * *", ["Sat 2026-11-21 10:05", "Sat 2026-11-21 10:25", "Sat 2026-11-21 10:45"]),
])
def test_cron_next_fire_times(expr, expected):
    assert upcoming(expr) == expected


@pytest.mark.parametrize("expr, message", [
    ("* * * *", "expected 5 fields"),
    ("60 * * * *", "minute: '60' is outside 0-59"),
    ("* 24 * * *", "hour: '24' is outside 0-23"),
    ("* * 0 * *", "day of month: '0' is outside 1-31"),
    ("* * * 13 *", "month: '13' is outside 1-12"),
    ("* * * * 8", "day of week: '8' is outside 0-7"),
    ("*/0 * * * *", "bad step"),
    ("a * * * *", "'a' is not a number"),
    ("5-1 * * * *", "outside"),
    ("0 0 31 2 *", "never fires"),
])
def test_bad_cron_expressions_are_refused_by_name(expr, message):
    with pytest.raises(ValueError, match=message):
        cron.Cron.parse(expr).next_after(SAT)


def test_project_triggers_are_the_relay_the_mail_retry_and_the_daily_digest():
    schedule = {t.name: t for t in cron.triggers(manifest.load())}
    assert set(schedule) == {"relay-every-minute", "retry-alert-mail", "daily-digest"}
    assert schedule["relay-every-minute"].function.qualified == "ops/relay"
    assert schedule["retry-alert-mail"].function.qualified == "notify/low-stock-mailer"
    digest = schedule["daily-digest"]
    assert (digest.function.qualified, digest.cron.text, digest.body) == ("notify/digest", "0 7 * * *", {})


def _schedule(expr: str = "*/5 * * * *", name: str | None = None) -> list[cron.Trigger]:
    relay = next(f for f in manifest.load() if f.qualified == "ops/relay")
    name = name or f"test-{threading.get_ident()}-{dt.datetime.now().timestamp()}"
    return [cron.Trigger(name, relay, cron.Cron.parse(expr), {"from": "test"})]


def test_tick_fires_a_due_trigger_with_its_body_once_per_minute(services):
    fired: list[dict[str, Any]] = []
    scheduler = cron.Scheduler(_schedule(), lambda t: fired.append(t.body))
    assert scheduler.tick(dt.datetime(2030, 1, 1, 10, 3, tzinfo=UTC)) == []  # not a multiple of 5
    assert len(scheduler.tick(dt.datetime(2030, 1, 1, 10, 5, tzinfo=UTC))) == 1
    assert scheduler.tick(dt.datetime(2030, 1, 1, 10, 5, tzinfo=UTC)) == []  # already fired
    assert len(scheduler.tick(dt.datetime(2030, 1, 1, 10, 10, tzinfo=UTC))) == 1
    assert fired == [{"from": "test"}, {"from": "test"}]


def test_several_gateways_fire_each_schedule_once(services):
    schedule = _schedule()
    fired: list[dt.datetime] = []
    lock = threading.Lock()
    minutes = [dt.datetime(2030, 1, 1, 11, m, tzinfo=UTC) for m in range(0, 30, 5)]
    start = threading.Barrier(6)

    def gateway() -> None:
        ticking: list[dt.datetime] = []

        def fire(t: cron.Trigger) -> None:
            with lock:
                fired.append(ticking[-1])
        scheduler = cron.Scheduler(schedule, fire)
        start.wait()
        for minute in minutes:
            ticking.append(minute)
            scheduler.tick(minute)

    threads = [threading.Thread(target=gateway) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert Counter(fired) == {minute: 1 for minute in minutes}  # six schedulers: each minute once


def test_one_worker_per_host_fires_and_replicas_still_fire_once(services, tmp_path):
    """The front's workers (gateway.serve): two workers of one host share a lock file, a replica has its
    own; each minute fires once in all, from the lock holder of a host, and when the holder exits
    the other worker of its host takes over."""
    from gateway.locks import CronLeader

    schedule = _schedule()
    fired: list[tuple[str, dt.datetime]] = []
    leaders = {"a1": CronLeader(tmp_path / "a.lock"), "a2": CronLeader(tmp_path / "a.lock"),
               "b1": CronLeader(tmp_path / "b.lock")}
    schedulers = {name: cron.Scheduler(schedule, lambda t, name=name: fired.append((name, ticking[-1])),
                                       claim=leader.claim) for name, leader in leaders.items()}
    ticking: list[dt.datetime] = []
    minutes = [dt.datetime(2030, 1, 2, 9, m, tzinfo=UTC) for m in range(0, 60, 5)]
    for i, minute in enumerate(minutes):
        if i == len(minutes) // 2:
            leaders["a1"].release()  # the first worker of host a exits
            del schedulers["a1"]
        ticking.append(minute)
        for scheduler in schedulers.values():
            scheduler.tick(minute)
    assert Counter(minute for _, minute in fired) == {minute: 1 for minute in minutes}
    assert "a2" not in {name for name, minute in fired if minute < minutes[len(minutes) // 2]}  # a1 held the lock
    assert leaders["a2"].held()  # and now a2 does


class VirtualTime:
    """The scheduler's clock and its `stopping` event in one: a wait moves the clock on at once
    (plus any oversleep, as when the machine is suspended) and says whether to stop."""

    def __init__(self, start: dt.datetime) -> None:
        self.now, self.done = start, False
        self.waits: list[float] = []
        self.oversleep = dt.timedelta(0)

    def clock(self) -> dt.datetime:
        return self.now

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += dt.timedelta(seconds=seconds) + self.oversleep
        self.oversleep = dt.timedelta(0)
        return self.done


def test_run_waits_until_each_scheduled_minute_and_fires_it():
    t = VirtualTime(dt.datetime(2030, 1, 1, 10, 3, 30, tzinfo=UTC))
    fired: list[dt.datetime] = []

    def fire(trigger: cron.Trigger) -> None:
        fired.append(t.now)
        t.done = len(fired) == 3

    cron.Scheduler(_schedule("*/5 * * * *"), fire, claim=lambda trigger, minute: True, clock=t.clock).run(t)  # type: ignore[arg-type]
    assert [f.strftime("%H:%M:%S") for f in fired] == ["10:05:00", "10:10:00", "10:15:00"]
    assert t.waits == [90, 300, 300, 300]


def test_after_a_sleep_the_scheduler_goes_on_from_now_without_replaying_missed_minutes():
    t = VirtualTime(dt.datetime(2030, 1, 1, 10, 3, 30, tzinfo=UTC))
    fired: list[dt.datetime] = []

    def fire(trigger: cron.Trigger) -> None:
        fired.append(t.now)
        if len(fired) == 1:
            t.oversleep = dt.timedelta(hours=3)  # the next wait lasts three hours longer
        t.done = len(fired) == 3

    cron.Scheduler(_schedule("* * * * *"), fire, claim=lambda trigger, minute: True, clock=t.clock).run(t)  # type: ignore[arg-type]
    # 10:05 fires late, once, on waking; then the next minute after now: nothing from 10:06 to 13:04
    assert [f.strftime("%H:%M:%S") for f in fired] == ["10:04:00", "13:05:00", "13:06:00"]


def _function_with(*crons: tuple[str, str]) -> manifest.Function:
    return manifest.Function("ops", "relay", False, None, None, None, triggers=[
        {"name": name, "sourceType": "scheduler", "sourceDetails": {"cron": expr}} for name, expr in crons])


def test_a_trigger_that_never_fires_or_a_repeated_name_is_refused_at_start():
    with pytest.raises(ValueError, match="trigger feb-30: cron '0 0 30 2 \\*' never fires"):
        cron.triggers([_function_with(("feb-30", "0 0 30 2 *"))])
    with pytest.raises(ValueError, match="two triggers are named 'twice'"):
        cron.triggers([_function_with(("twice", "* * * * *"), ("twice", "0 7 * * *"))])


def test_a_failing_trigger_is_logged_and_the_others_still_fire(caplog):
    broken, working = _schedule("* * * * *", "broken") + _schedule("* * * * *", "working")

    def claim(t: cron.Trigger, minute: dt.datetime) -> bool:
        if t is broken:
            raise ConnectionError("database away")
        return True

    scheduler = cron.Scheduler([broken, working], lambda t: None, claim=claim)
    with caplog.at_level("ERROR", logger="ims.cron"):
        assert scheduler.tick(dt.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)) == [working]
    assert "cron trigger broken at 2030-01-01T12:00:00+00:00 failed" in caplog.text
    assert "ConnectionError: database away" in caplog.text


def test_make_trigger_fires_a_trigger_on_the_running_gateway(gateway, monkeypatch, capsys):
    monkeypatch.setenv("IMS_PORT", gateway.rsplit(":", 1)[1])
    assert trigger.main(["relay-every-minute"]) == 0
    assert '"published"' in capsys.readouterr().out
    with pytest.raises(SystemExit) as refused:
        trigger.main(["no-such-trigger"])
    assert refused.value.code == 2
    monkeypatch.setenv("__OW_API_KEY", "wrong:key")
    assert trigger.main(["ops/relay"]) == 1
    assert "answered 401" in capsys.readouterr().err
