"""The backups' retention policy (backup.retention) on fixed calendars. Every expected set is written out
by hand, with the ISO weeks it rests on; nothing here recomputes the policy. 2026-11-30 is a Monday,
the first day of 2026-W49; 2026 has 53 ISO weeks, and 2026-W53 runs from 2026-12-28 to 2027-01-03."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from backup.retention import Backup, to_prune

NOW = datetime.fromisoformat("2026-11-30T12:00:00+00:00")


def at(moment: str) -> datetime:
    """'2026-11-30 03:00' (UTC unless an offset is given) as an aware datetime."""
    parsed = datetime.fromisoformat(moment)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def dump(moment: str, complete: bool = True, key: str | None = None) -> Backup:
    """A backup named after its time, which keeps the expected sets readable."""
    return Backup(key=key or moment, taken_at=at(moment), complete=complete)


def every_day(first: str, last: str, time: str = "03:00") -> list[Backup]:
    day, end = date.fromisoformat(first), date.fromisoformat(last)
    history = []
    while day <= end:
        history.append(dump(f"{day} {time}"))
        day += timedelta(days=1)
    return history


def kept(history: list[Backup], now: datetime = NOW, **policy: Any) -> list[str]:
    """The keys to_prune leaves, in time order (every key here sorts as its time does)."""
    pruned = set(to_prune(history, now=now, **policy))
    return sorted(b.key for b in history if b not in pruned)


def sixty_days() -> list[Backup]:
    """One backup a day at 03:00, 2026-10-02 .. 2026-11-30."""
    return every_day("2026-10-02", "2026-11-30")


def several_a_day() -> list[Backup]:
    """Three backups a day (01:00, 09:00, 17:00), 2026-11-20 .. 2026-11-30, listed in no particular order."""
    history = [b for time in ("01:00", "09:00", "17:00") for b in every_day("2026-11-20", "2026-11-30", time)]
    random.Random(7).shuffle(history)
    return history


def with_gaps() -> list[Backup]:
    """Ten days with a backup over two months, with gaps of up to two weeks."""
    days = ["10-05", "10-20", "10-27", "11-03", "11-04", "11-12", "11-13", "11-20", "11-26", "11-30"]
    return [dump(f"2026-{day} 03:00") for day in days]


def with_unfinished() -> list[Backup]:
    """Daily backups, with uploads that never wrote a manifest (old and fresh) and one still running."""
    return every_day("2026-11-01", "2026-11-29") + [
        dump("2026-11-10 05:00", complete=False),
        dump("2026-11-29 09:00", complete=False),
        dump("2026-11-30 03:00", complete=False),
    ]


# --- complete backups: days and weeks ----------------------------------------------------------


def test_sixty_daily_backups_keep_the_last_seven_days_and_the_sundays_of_the_two_weeks_before():
    # Weeks: W49 = 11-30 (a daily one), W48 = 11-23..29 (its newest, 11-29, is a daily one),
    # W47 = 11-16..22 -> 11-22, W46 = 11-09..15 -> 11-15.
    history = sixty_days()
    assert kept(history) == [
        "2026-11-15 03:00",
        "2026-11-22 03:00",
        "2026-11-24 03:00",
        "2026-11-25 03:00",
        "2026-11-26 03:00",
        "2026-11-27 03:00",
        "2026-11-28 03:00",
        "2026-11-29 03:00",
        "2026-11-30 03:00",
    ]
    assert len(to_prune(history, now=NOW)) == 51


def test_more_weeks_reach_back_across_the_month_to_each_week_s_sunday():
    # W45 -> 11-08, W44 (10-26..11-01) -> 11-01, W43 -> 10-25, W42 -> 10-18.
    assert kept(sixty_days(), weekly=8) == [
        "2026-10-18 03:00",
        "2026-10-25 03:00",
        "2026-11-01 03:00",
        "2026-11-08 03:00",
        "2026-11-15 03:00",
        "2026-11-22 03:00",
        "2026-11-24 03:00",
        "2026-11-25 03:00",
        "2026-11-26 03:00",
        "2026-11-27 03:00",
        "2026-11-28 03:00",
        "2026-11-29 03:00",
        "2026-11-30 03:00",
    ]


def test_only_the_newest_backup_of_a_day_counts_for_that_day():
    # Dailies: 17:00 of 11-24..11-30. Weeks W49, W48 are dailies; W47 (11-16..22) -> 11-22 17:00;
    # no backup is older than W47, so the fourth week finds none.
    assert kept(several_a_day()) == [
        "2026-11-22 17:00",
        "2026-11-24 17:00",
        "2026-11-25 17:00",
        "2026-11-26 17:00",
        "2026-11-27 17:00",
        "2026-11-28 17:00",
        "2026-11-29 17:00",
        "2026-11-30 17:00",
    ]


def test_the_last_seven_days_that_have_a_backup_are_kept_not_the_last_seven_calendar_days():
    # Weeks W49 11-30, W48 11-26, W47 11-20, W46 11-13 are all dailies already.
    assert kept(with_gaps()) == [
        "2026-11-03 03:00",
        "2026-11-04 03:00",
        "2026-11-12 03:00",
        "2026-11-13 03:00",
        "2026-11-20 03:00",
        "2026-11-26 03:00",
        "2026-11-30 03:00",
    ]


def test_weeks_without_a_backup_do_not_count():
    # 08-03 is W32, 09-01 W36, 10-01 W40, 11-02 W45, 11-30 W49: the four most recent weeks with one.
    history = [dump(f"2026-{day} 03:00") for day in ("08-03", "09-01", "10-01", "11-02", "11-30")]
    assert kept(history, daily=0, weekly=4) == [
        "2026-09-01 03:00",
        "2026-10-01 03:00",
        "2026-11-02 03:00",
        "2026-11-30 03:00",
    ]


def test_the_iso_week_that_spans_the_new_year_is_one_week():
    # 2027-W01 = 01-04..01-10 -> 01-10; 2026-W53 = 2026-12-28..2027-01-03 -> 01-03; 2026-W52 -> 12-27.
    # Splitting W53 at the calendar year would keep 2026-12-31 instead of 2026-12-27.
    history = every_day("2026-12-14", "2027-01-10")
    now = datetime.fromisoformat("2027-01-10T12:00:00+00:00")
    assert kept(history, now=now, daily=1, weekly=3) == ["2026-12-27 03:00", "2027-01-03 03:00", "2027-01-10 03:00"]


def test_backups_on_both_sides_of_the_new_year_in_2026_w53_are_one_week():
    # 01-05 is 2027-W01; 2026-12-29 and 2027-01-02 are both 2026-W53 (newest 01-02); 12-20 is 2026-W51.
    history = [dump(day) for day in ("2026-12-20 03:00", "2026-12-29 03:00", "2027-01-02 03:00", "2027-01-05 03:00")]
    now = datetime.fromisoformat("2027-01-05T12:00:00+00:00")
    assert kept(history, now=now, daily=0, weekly=3) == ["2026-12-20 03:00", "2027-01-02 03:00", "2027-01-05 03:00"]


def test_days_are_utc_days():
    # 2026-11-30 01:00+02:00 is 2026-11-29 23:00 UTC: the newest of 11-29, so 11-29 22:00 goes.
    history = [
        dump("2026-11-29 22:00"),
        dump("2026-11-30 01:00+02:00", key="2026-11-29 23:00 (+02:00)"),
        dump("2026-11-30 05:00"),
    ]
    assert kept(history, daily=2, weekly=0) == ["2026-11-29 23:00 (+02:00)", "2026-11-30 05:00"]


def test_daily_and_weekly_zero_keep_only_the_newest_backup():
    assert kept(sixty_days(), daily=0, weekly=0) == ["2026-11-30 03:00"]


def test_backups_dated_in_the_future_count_like_any_other():
    # A clock ahead of `now`: 12-01 01:00 is the newest day, so the seven days are 11-25..12-01.
    history = every_day("2026-11-20", "2026-11-30") + [dump("2026-12-01 01:00")]
    assert kept(history, now=datetime.fromisoformat("2026-11-30T23:00:00+00:00"), weekly=0) == [
        "2026-11-25 03:00",
        "2026-11-26 03:00",
        "2026-11-27 03:00",
        "2026-11-28 03:00",
        "2026-11-29 03:00",
        "2026-11-30 03:00",
        "2026-12-01 01:00",
    ]


# --- backups without a manifest ------------------------------------------------------------------


def test_uploads_newer_than_the_newest_complete_backup_are_kept_even_past_the_grace():
    history = [
        dump("2026-11-27 03:00"),
        dump("2026-11-28 03:00", complete=False),  # two days old, but no complete backup since
        dump("2026-11-30 11:50", complete=False),  # running now
    ]
    assert to_prune(history, now=NOW, daily=0, weekly=0) == []


def test_uploads_within_the_grace_are_kept_even_when_older_than_the_newest_complete_backup():
    history = [
        dump("2026-11-29 03:00"),
        dump("2026-11-29 12:00", complete=False),  # exactly now - grace: not older than it
        dump("2026-11-30 01:00", complete=False),  # a concurrent backup finishing its manifest
        dump("2026-11-30 03:00"),
    ]
    assert kept(history, daily=0, weekly=0) == ["2026-11-29 12:00", "2026-11-30 01:00", "2026-11-30 03:00"]


def test_old_uploads_that_never_finished_are_pruned():
    history = [
        dump("2026-11-20 03:00", complete=False),
        dump("2026-11-29 11:00", complete=False),
        dump("2026-11-30 03:00"),
    ]
    assert [b.key for b in to_prune(history, now=NOW)] == ["2026-11-20 03:00", "2026-11-29 11:00"]


def test_the_grace_is_the_one_given():
    history = [dump("2026-11-30 10:00", complete=False), dump("2026-11-30 11:30")]
    assert to_prune(history, now=NOW) == []
    assert [b.key for b in to_prune(history, now=NOW, grace=timedelta(hours=1))] == ["2026-11-30 10:00"]


def test_without_a_complete_backup_nothing_is_pruned():
    history = [dump(f"2026-{day} 03:00", complete=False) for day in ("10-01", "11-01", "11-28", "11-30")]
    assert to_prune(history, now=NOW, daily=0, weekly=0) == []


def test_an_unfinished_upload_is_not_the_newest_backup_of_its_day():
    # If it counted, 11-28 20:00 would stand for 11-28 and the complete 11-28 03:00 would go.
    history = [dump("2026-11-28 03:00"), dump("2026-11-28 20:00", complete=False), dump("2026-11-29 03:00")]
    assert kept(history, daily=2, weekly=0) == ["2026-11-28 03:00", "2026-11-29 03:00"]


def test_the_mixed_history_prunes_old_orphans_and_keeps_the_fresh_ones():
    # Dailies 11-23..11-29; weeks W48 11-29, W47 11-22, W46 11-15, W45 11-08. Of the unfinished uploads,
    # 11-10 05:00 goes; 11-29 09:00 is past the grace but newer than the newest complete backup, and
    # 11-30 03:00 is within the grace.
    assert kept(with_unfinished()) == [
        "2026-11-08 03:00",
        "2026-11-15 03:00",
        "2026-11-22 03:00",
        "2026-11-23 03:00",
        "2026-11-24 03:00",
        "2026-11-25 03:00",
        "2026-11-26 03:00",
        "2026-11-27 03:00",
        "2026-11-28 03:00",
        "2026-11-29 03:00",
        "2026-11-29 09:00",
        "2026-11-30 03:00",
    ]


# --- the result ----------------------------------------------------------------------------------


def test_the_result_is_oldest_first_ties_by_key_whatever_the_input_order():
    history = [
        dump("2026-11-01 03:00", key="b"),
        dump("2026-11-01 03:00", key="a"),
        dump("2026-10-31 03:00", complete=False, key="z"),
        dump("2026-11-02 03:00", key="c"),
        dump("2026-11-30 03:00", key="newest"),
    ]
    expected = ["z", "a", "b", "c"]
    for order in (history, history[::-1], random.Random(3).sample(history, len(history))):
        assert [b.key for b in to_prune(iter(order), now=NOW, daily=0, weekly=0)] == expected


def test_between_two_backups_of_the_same_instant_the_same_one_is_kept_whatever_the_order():
    history = [dump("2026-11-30 03:00", key="x"), dump("2026-11-30 03:00", key="y"), dump("2026-11-29 03:00")]
    results = {tuple(b.key for b in to_prune(order, now=NOW, daily=1, weekly=0)) for order in (history, history[::-1])}
    assert len(results) == 1
    assert len(next(iter(results))) == 2


@pytest.mark.parametrize("history", [sixty_days, several_a_day, with_gaps, with_unfinished])
@pytest.mark.parametrize("policy", [{}, {"daily": 0, "weekly": 0}, {"daily": 3, "weekly": 2}])
def test_pruning_twice_prunes_nothing_more(history: Callable[[], list[Backup]], policy: dict[str, int]):
    backups = history()
    pruned = to_prune(backups, now=NOW, **policy)
    assert pruned
    rest = [b for b in backups if b not in pruned]
    assert to_prune(rest, now=NOW, **policy) == []


# --- refused input -------------------------------------------------------------------------------


@pytest.mark.parametrize("policy", [{"daily": -1}, {"weekly": -1}, {"grace": timedelta(hours=-1)}])
def test_negative_counts_or_grace_are_refused(policy: dict[str, Any]):
    with pytest.raises(ValueError, match="must be >= 0"):
        to_prune(sixty_days(), now=NOW, **policy)


def test_naive_datetimes_are_refused():
    with pytest.raises(ValueError, match="now"):
        to_prune(sixty_days(), now=datetime(2026, 11, 30, 12))
    with pytest.raises(ValueError, match="db/2026-11-30.dump"):
        to_prune([Backup("db/2026-11-30.dump", datetime(2026, 11, 30, 3), True)], now=NOW)
