"""Take one backup: pg_dump in custom format, streamed to the bucket while it is hashed, then the
manifest, then pruning by the retention policy.

The manifest's facts and the dump come from one snapshot: this process opens a REPEATABLE READ
transaction, exports its snapshot, counts rows in it, and pg_dump dumps that same snapshot
(`--snapshot`), so the counts are exactly what the dump holds even while IMS keeps writing. Nothing
is written to local disk: the dump goes from pg_dump's stdout to S3 in parts. If pg_dump fails, the
upload is aborted before it completes; without a complete dump no manifest is written, and without a
manifest nothing is pruned.
"""

from __future__ import annotations

import hashlib
import subprocess
import tempfile
import time
from datetime import datetime, timezone
from typing import IO, Any

from backup import postgres, retention
from backup.config import Config
from backup.store import Store, manifest_key, new_name
from shared import db


FORMAT = 1  # of the manifest


class BackupError(RuntimeError):
    pass


class _Hashing:
    """pg_dump's stdout as a file to upload: hashes and counts what passes, and at its end raises
    if pg_dump failed, which aborts the multipart upload rather than completing a truncated object."""

    def __init__(self, proc: subprocess.Popen[bytes], errors: IO[bytes]) -> None:
        self.proc, self.errors = proc, errors
        self.sha256, self.size = hashlib.sha256(), 0

    def read(self, n: int = -1) -> bytes:
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(n)
        if data:
            self.sha256.update(data)
            self.size += len(data)
            return data
        self.finish()
        return b""

    def finish(self) -> None:
        """Raise unless pg_dump's output was read to its end and pg_dump succeeded. The upload of a
        dump smaller than one part may stop reading without asking for more: checked again after it."""
        assert self.proc.stdout is not None
        if self.proc.stdout.read(1):
            self.proc.kill()
            raise BackupError("the upload stopped before the end of pg_dump's output")
        if self.proc.wait() != 0:
            raise BackupError(f"pg_dump failed (exit {self.proc.returncode}): {postgres.stderr_tail(self.errors)}")


def take(config: Config, store: Store, now: datetime | None = None) -> dict[str, Any]:
    """One backup; its manifest. Raises on any failure, leaving no manifest."""
    started = time.monotonic()
    now = now or datetime.now(timezone.utc)
    stem = new_name(now)
    key = store.key(f"{stem}.dump")
    conn = db.Conn(config.dump_url, prepared=False)
    try:
        conn.simple("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        conn.simple("SET LOCAL idle_in_transaction_session_timeout = 0")  # idle while pg_dump works
        snapshot = conn.row("SELECT pg_export_snapshot() AS id")["id"]
        server = conn.row("SELECT current_setting('server_version') AS v")["v"]
        counts, applied = postgres.row_counts(conn), postgres.migrations(conn)
        pg_dump = postgres.binary("pg_dump", postgres.server_major(conn))
        url, env = postgres.libpq(config.dump_url)
        with tempfile.TemporaryFile() as errors:
            proc = subprocess.Popen([pg_dump, "--format=custom", f"--snapshot={snapshot}", f"--dbname={url}"],
                                    stdout=subprocess.PIPE, stderr=errors, env=env)
            stream = _Hashing(proc, errors)
            try:
                store.upload(stream, key)  # type: ignore[arg-type]
                try:
                    stream.finish()
                except BackupError:
                    store.remove(key)  # complete, but not a whole dump
                    raise
            finally:
                if proc.poll() is None:  # the upload failed: stop pg_dump too
                    proc.kill()
                proc.wait()
                assert proc.stdout is not None
                proc.stdout.close()
    finally:
        conn.close()  # ends the snapshot's transaction (read only: nothing to commit)
    manifest = {
        "format": FORMAT,
        "key": key,
        "taken_at": now.isoformat().replace("+00:00", "Z"),
        "size": stream.size,
        "sha256": stream.sha256.hexdigest(),
        "postgres": {"server": server, "pg_dump": postgres.major(pg_dump)},
        "migrations": applied,
        "last_migration": applied[-1] if applied else None,
        "tables": counts,
        "seconds": round(time.monotonic() - started, 3),
    }
    store.put_manifest(manifest_key(key), manifest)
    return manifest


def prune(config: Config, store: Store, now: datetime) -> list[retention.Backup]:
    """Delete what the policy no longer keeps. Runs only after a complete backup; a listing that
    fails raises before anything is deleted."""
    doomed = retention.to_prune(store.list(), now=now, daily=config.keep_daily, weekly=config.keep_weekly)
    store.delete(doomed)
    return doomed
