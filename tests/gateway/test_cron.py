"""The gateway's scheduler: cron expressions, project.yml's triggers, firing once per schedule across
gateways (a real claim in PostgreSQL), and `make trigger`."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest

from gateway import cron, manifest, trigger

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
    fired: list[int] = []
    lock = threading.Lock()
    minutes = [dt.datetime(2030, 1, 1, 11, m, tzinfo=UTC) for m in range(0, 30, 5)]
    start = threading.Barrier(6)

    def gateway(n: int) -> None:
        def fire(t: cron.Trigger) -> None:
            with lock:
                fired.append(n)
        scheduler = cron.Scheduler(schedule, fire)
        start.wait()
        for minute in minutes:
            scheduler.tick(minute)

    threads = [threading.Thread(target=gateway, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(fired) == len(minutes)  # six schedulers, six minutes: six firings in all


def test_run_waits_for_the_next_scheduled_minute_and_fires(services):
    # A clock running just short of a minute boundary, so the real wait is a fraction of a second.
    boundary = dt.datetime.now(UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    offset = boundary - dt.timedelta(seconds=0.3) - dt.datetime.now(UTC)
    stopping = threading.Event()
    fired: list[dt.datetime] = []

    def fire(t: cron.Trigger) -> None:
        fired.append(clock())
        stopping.set()

    def clock() -> dt.datetime:
        return dt.datetime.now(UTC) + offset

    scheduler = cron.Scheduler(_schedule("* * * * *"), fire, clock=clock)
    runner = threading.Thread(target=scheduler.run, args=(stopping,))
    runner.start()
    runner.join(timeout=10)
    stopping.set()
    assert not runner.is_alive()
    assert len(fired) == 1 and fired[0] >= boundary


def test_after_a_sleep_the_scheduler_goes_on_from_now_without_replaying_missed_minutes(services):
    boundary = dt.datetime.now(UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    offset = [boundary - dt.timedelta(seconds=0.3) - dt.datetime.now(UTC)]
    stopping = threading.Event()
    fired: list[dt.datetime] = []

    def clock() -> dt.datetime:
        return dt.datetime.now(UTC) + offset[0]

    def fire(t: cron.Trigger) -> None:
        fired.append(clock().replace(second=0, microsecond=0))
        if len(fired) == 1:  # the machine sleeps for three hours, waking just before a minute ends
            offset[0] += dt.timedelta(hours=3, seconds=59.4)
        else:
            stopping.set()

    runner = threading.Thread(target=cron.Scheduler(_schedule("* * * * *"), fire, clock=clock).run,
                              args=(stopping,))
    runner.start()
    runner.join(timeout=10)
    stopping.set()
    assert not runner.is_alive()
    assert fired == [boundary, boundary + dt.timedelta(hours=3, minutes=1)]


def _function_with(*crons: tuple[str, str]) -> manifest.Function:
    return manifest.Function("ops", "relay", False, None, None, None, triggers=[
        {"name": name, "sourceType": "scheduler", "sourceDetails": {"cron": expr}} for name, expr in crons])


def test_a_trigger_that_never_fires_or_a_repeated_name_is_refused_at_start():
    with pytest.raises(ValueError, match="trigger feb-30: cron '0 0 30 2 \\*' never fires"):
        cron.triggers([_function_with(("feb-30", "0 0 30 2 *"))])
    with pytest.raises(ValueError, match="two triggers are named 'twice'"):
        cron.triggers([_function_with(("twice", "* * * * *"), ("twice", "0 7 * * *"))])


def test_a_failing_claim_is_logged_and_the_scheduler_goes_on(services):
    def claim(t: cron.Trigger, minute: dt.datetime) -> bool:
        raise ConnectionError("database away")

    scheduler = cron.Scheduler(_schedule("* * * * *"), lambda t: None, claim=claim)
    assert scheduler.tick(dt.datetime(2030, 1, 1, 12, 0, tzinfo=UTC)) == []


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
