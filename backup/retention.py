"""Which database backups to delete (by default 7 daily and 4 weekly are kept). A pure policy, apart from
S3, so that it can be tested on fixed calendars and the backup job only lists, asks and deletes.

The rule is restic's --keep-daily/--keep-weekly, which operators already know: among complete backups,
keep the newest of each of the `daily` most recent UTC days that have one and the newest of each of the
`weekly` most recent ISO weeks that have one. One backup may count for both (the newest is always its
day's and its week's newest), so 7 daily + 4 weekly keep at most 10 backups.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta


@dataclass(frozen=True)
class Backup:
    """One dump in the bucket. The manifest is written after the dump, so `complete` (its manifest
    exists) tells a usable backup from an upload still in progress or one that never finished."""

    key: str
    taken_at: datetime  # timezone-aware; days and weeks are counted in UTC
    complete: bool


def to_prune(
    backups: Iterable[Backup],
    *,
    now: datetime,
    daily: int = 7,
    weekly: int = 4,
    grace: timedelta = timedelta(days=1),
) -> list[Backup]:
    """The backups to delete, oldest first (ties by key), so that the job's log reads in time order.

    The newest complete backup is always kept, even with daily=0 and weekly=0: retention must never
    leave the bucket without a restorable dump. A backup without a manifest is deleted only when it is
    older than `now - grace` (not an upload still running) and older than the newest complete backup
    (not a concurrent backup about to write its manifest); with no complete backup at all nothing is
    deleted, since those partial dumps may be all there is to look at. Backups dated after `now` (a
    skewed clock) count like any other.
    """
    if daily < 0 or weekly < 0:
        raise ValueError(f"daily and weekly must be >= 0, got daily={daily}, weekly={weekly}")
    if grace < timedelta(0):
        raise ValueError(f"grace must be >= 0, got {grace}")
    _require_aware(now, "now")
    backups = list(backups)
    for backup in backups:
        _require_aware(backup.taken_at, backup.key)

    complete = sorted((b for b in backups if b.complete), key=_order, reverse=True)
    if not complete:
        return []
    newest = complete[0]
    keep = {newest}
    keep.update(_newest_per_period(complete, _utc_day, daily))
    keep.update(_newest_per_period(complete, _iso_week, weekly))

    pruned = [b for b in complete if b not in keep]
    pruned += [
        b for b in backups if not b.complete and b.taken_at < now - grace and b.taken_at < newest.taken_at
    ]
    return sorted(pruned, key=_order)


def _newest_per_period(newest_first: list[Backup], period: Callable[[Backup], Hashable], count: int) -> list[Backup]:
    """The newest backup of each of the `count` most recent periods that have one. Periods follow time,
    so walking newest first, a backup whose period differs from the previous one's opens a new period."""
    kept: list[Backup] = []
    previous: Hashable = None
    for backup in newest_first:
        if len(kept) == count:
            break
        current = period(backup)
        if current != previous:
            kept.append(backup)
            previous = current
    return kept


def _utc_day(backup: Backup) -> date:
    return backup.taken_at.astimezone(UTC).date()


def _iso_week(backup: Backup) -> tuple[int, int]:
    """ISO year and week: 2027-01-01 is in 2026-W53, with 2026-12-31, not in a week of its own."""
    iso = backup.taken_at.astimezone(UTC).isocalendar()
    return iso.year, iso.week


def _order(backup: Backup) -> tuple[datetime, str]:
    return backup.taken_at, backup.key


def _require_aware(moment: datetime, name: str) -> None:
    """A naive datetime has no UTC day; guessing the host's zone would move backups between days."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name}: datetime must be timezone-aware, got {moment.isoformat()}")
