"""`python -m backup [take | restore [--key KEY] [--force] | list]`: see backup/__init__.py.

Exit status: 0 done; 1 failed (the message says why, and the run is recorded where the database can
be reached); 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from datetime import datetime, timedelta, timezone

from backup import config as settings
from backup import postgres, take
from backup.restore import RestoreError, restore
from backup.store import Store
from localenv import datadir, servers
from shared import db

log = logging.getLogger("ims.backup")

_RECORD = """INSERT INTO backup_runs (kind, started_at, finished_at, succeeded, key, size_bytes, error)
VALUES (:kind, :started, coalesce(CAST(:finished AS timestamptz), now()), :ok, :key, :size, :error)"""


def record(database_url: str, kind: str, started: datetime, ok: bool, key: str | None = None,
           size: int | None = None, error: str | None = None, finished: datetime | None = None) -> None:
    """Write a run's outcome; a database that cannot take it (down, or not migrated) is logged, not fatal."""
    try:
        conn = db.Conn(database_url, prepared=False)
        try:
            conn.execute(_RECORD, kind=kind, started=started, finished=finished, ok=ok, key=key, size=size,
                         error=error[:2000] if error else None)
        finally:
            conn.close()
    except Exception as exc:
        log.warning("could not record the %s run's outcome in backup_runs: %s", kind, exc)


def _take(conf: settings.Config) -> int:
    started = datetime.now(timezone.utc)
    try:
        store = Store(conf)
        manifest = take.take(conf, store, started)
    except Exception as exc:
        record(conf.database_url, "backup", started, False, error=f"{type(exc).__name__}: {exc}")
        log.error("backup failed: %s", exc)
        return 1
    record(conf.database_url, "backup", started, True, manifest["key"], manifest["size"])
    print(f"backup {manifest['key']}: {manifest['size']} bytes in {manifest['seconds']} s, "
          f"sha256 {manifest['sha256']}")
    try:
        pruned = take.prune(conf, store, started)
    except Exception as exc:
        log.error("the backup is stored, but pruning old backups failed: %s", exc)
        return 1
    print(f"pruned {len(pruned)} old backup(s)" + "".join(f"\n  {b.key}" for b in pruned))
    return 0


def _restore(conf: settings.Config, key: str | None, force: bool) -> int:
    started = datetime.now(timezone.utc)
    print(f"restoring {key or 'the newest backup'} into {postgres.display(conf.database_url)}", flush=True)
    try:
        manifest = restore(conf, Store(conf), key, force)
    except Exception as exc:  # RestoreError says what happened; anything else is shown as it is
        message = str(exc) if isinstance(exc, RestoreError) else f"{type(exc).__name__}: {exc}"
        record(conf.database_url, "restore", started, False, key, error=message)
        log.error("restore failed: %s", message)
        return 1
    # The restored backup_runs predates this backup's own record (written after its dump): add it.
    taken = datetime.fromisoformat(manifest["taken_at"].replace("Z", "+00:00"))
    finished = taken + timedelta(seconds=manifest.get("seconds") or 0)
    record(conf.database_url, "backup", taken, True, manifest["key"], manifest["size"], finished=finished)
    record(conf.database_url, "restore", started, True, manifest["key"], manifest["size"])
    print(f"restored {manifest['key']} (taken {manifest['taken_at']}): "
          f"{sum(manifest['tables'].values())} rows in {len(manifest['tables'])} tables, verified; "
          "live-feed clients are told to reload when the outbox relay next runs (`make relay` does it now)")
    return 0


def _list(conf: settings.Config) -> int:
    for backup in Store(conf).list():
        state = "" if backup.complete else "  (incomplete: no manifest)"
        print(f"{backup.taken_at:%Y-%m-%d %H:%M:%S}Z  {backup.key}{state}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backup", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command")
    commands.add_parser("take", help="take one backup and prune old ones (the default)")
    again = commands.add_parser("restore", help="restore a backup into DATABASE_URL and verify it")
    again.add_argument("--key", help="the backup to restore (its key or name); default: the newest")
    again.add_argument("--force", action="store_true", help="replace the target's contents if it is not empty")
    commands.add_parser("list", help="list the backups under BACKUP_URL, oldest first")
    args = parser.parse_args(argv)
    for name in [k for k, v in os.environ.items() if k.startswith("AWS_") and not v.strip()]:
        del os.environ[name]  # set but empty (an unfilled template) means unset, to boto3 as to us
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    log.setLevel(logging.INFO)
    # With no database named, `make run`'s embedded one, but only where `make run` has made one: a job
    # whose settings lost DATABASE_URL must fail (exit 2), not back up an empty database of its own.
    local = (args.command != "list" and not os.environ.get("DATABASE_URL")
             and not os.environ.get("DATABASE_DIRECT_URL") and (datadir.data_dir() / "pg").is_dir())
    with servers.database() if local else contextlib.nullcontext():
        try:
            conf = settings.load(database=args.command != "list")
        except settings.ConfigError as exc:
            print(f"backup: {exc}", file=sys.stderr)
            return 2
        if args.command == "restore":
            return _restore(conf, args.key, args.force)
        if args.command == "list":
            return _list(conf)
        return _take(conf)


if __name__ == "__main__":
    sys.exit(main())
