"""Restore one backup into an empty database, and prove it: the object's SHA-256 before anything is
touched, then `pg_restore --exit-on-error` in a single transaction, then the row counts against the
manifest, the ledger replayed against every item's quantity, and the migrations table.

The archive is downloaded to a temporary file first (hashed as it arrives): a corrupt or truncated
object is refused before the database is touched. The SQL pg_restore writes is run by `psql
--single-transaction`; with --force, the target's `public` schema is dropped at the start of that
same transaction, so a restore that fails leaves the target exactly as it was, forced or not.
Afterwards a `data_restored` event in the outbox tells every live-feed client to reload (the relay
publishes it within a minute, or `make relay` at once).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from typing import Any

from backup import postgres
from backup.config import Config
from backup.retention import Backup
from backup.store import Store, manifest_key
from shared import db, events


_CHUNK = 1024 * 1024
_REPLACE = "DROP SCHEMA IF EXISTS public CASCADE;\nCREATE SCHEMA public;\n"


class RestoreError(RuntimeError):
    pass


def choose(store: Store, key: str | None) -> Backup:
    """The newest complete backup, or the one `key` names (its dump key, its name, or its stem)."""
    backups = [b for b in store.list() if b.complete]
    if key is None:
        if not backups:
            raise RestoreError(f"no complete backup under s3://{store.bucket}/{store.prefix}")
        return backups[-1]
    name = key.rsplit("/", 1)[-1].removesuffix(".json").removesuffix(".dump")
    for backup in backups:
        if backup.key.rsplit("/", 1)[-1] == f"{name}.dump":
            return backup
    raise RestoreError(f"no complete backup named {key!r} under s3://{store.bucket}/{store.prefix} "
                       "(`make backup-list` lists them)")


def download(store: Store, backup: Backup, manifest: dict[str, Any], directory: str | None) -> str:
    """The archive in a temporary file, checked against the manifest's size and SHA-256."""
    body, _ = store.open(backup.key)
    handle, path = tempfile.mkstemp(prefix="ims-restore-", suffix=".dump", dir=directory)
    sha256, size = hashlib.sha256(), 0
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in body.iter_chunks(_CHUNK):
                sha256.update(chunk)
                size += len(chunk)
                out.write(chunk)
        if size != manifest.get("size") or sha256.hexdigest() != manifest.get("sha256"):
            raise RestoreError(
                f"{backup.key} is corrupt or truncated: {size} bytes with SHA-256 {sha256.hexdigest()}, "
                f"where its manifest says {manifest.get('size')} bytes with {manifest.get('sha256')}; "
                "nothing was restored")
    except BaseException:
        os.unlink(path)
        raise
    return path


def load(config: Config, archive: str, server_major: int, replace: bool) -> None:
    """pg_restore's SQL into psql, one transaction; raises (with their messages) if either fails."""
    pg_restore = postgres.binary("pg_restore", server_major)
    psql = postgres.binary("psql", server_major)
    url, env = postgres.libpq(config.database_url)
    with tempfile.TemporaryFile() as reader_errors, tempfile.TemporaryFile() as writer_errors:
        reader = subprocess.Popen([pg_restore, "--exit-on-error", "--no-owner", "--no-acl", "--file=-", archive],
                                  stdout=subprocess.PIPE, stderr=reader_errors)
        writer = subprocess.Popen([psql, "--no-psqlrc", "--quiet", "--single-transaction",
                                   "--set=ON_ERROR_STOP=1", f"--dbname={url}"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=writer_errors, env=env)
        assert reader.stdout is not None and writer.stdin is not None
        try:
            if replace:
                writer.stdin.write(_REPLACE.encode())
            shutil.copyfileobj(reader.stdout, writer.stdin, _CHUNK)
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit status and message say which
        finally:
            reader.stdout.close()
        if reader.wait() != 0:
            # The SQL is incomplete: psql must not reach the end of its input and commit it.
            writer.kill()
            writer.wait()
            raise RestoreError(f"pg_restore failed (exit {reader.returncode}): {_tail(reader_errors)}; "
                               "nothing was restored")
        try:
            writer.stdin.close()
        except BrokenPipeError:
            pass
        if writer.wait() != 0:
            raise RestoreError(f"restoring failed (psql exit {writer.returncode}): {_tail(writer_errors)}; "
                               "nothing was restored")


def _tail(errors: Any) -> str:
    errors.seek(0)
    return " ".join(errors.read().decode(errors="replace").split())[-2000:]


def verify(conn: db.Conn, manifest: dict[str, Any]) -> list[str]:
    """What differs between the restored database and the manifest (empty: all good)."""
    problems = []
    counts, expected = postgres.row_counts(conn), manifest.get("tables") or {}
    for table in sorted(set(counts) | set(expected)):
        if counts.get(table) != expected.get(table):
            problems.append(f"table {table}: {counts.get(table)} rows, the manifest says {expected.get(table)}")
    applied = postgres.migrations(conn)
    if applied != manifest.get("migrations"):
        problems.append(f"migrations {applied}, the manifest says {manifest.get('migrations')}")
    if "items" in counts and "inventory_logs" in counts:
        for row in conn.query(postgres.LEDGER_MISMATCHES):
            problems.append(f"item {row['id']}: quantity {row['quantity']}, its ledger replays to "
                            f"{row['replayed']} ({row['breaks']} break(s) in the chain)")
    return problems


def restore(config: Config, store: Store, key: str | None = None, force: bool = False,
            directory: str | None = None) -> dict[str, Any]:
    """Restore the chosen backup into config.database_url; its manifest. Raises RestoreError."""
    backup = choose(store, key)
    manifest = store.manifest(manifest_key(backup.key))
    conn = db.Conn(config.database_url, prepared=False)
    try:
        present = postgres.tables(conn)
        if present and not force:
            raise RestoreError(
                f"the target database is not empty ({len(present)} tables: {', '.join(present[:5])}"
                f"{', …' if len(present) > 5 else ''}); restore into an empty database, or pass --force "
                "(FORCE=1) to replace its contents")
        server_major = postgres.server_major(conn)
    finally:
        conn.close()
    archive = download(store, backup, manifest, directory)
    try:
        load(config, archive, server_major, replace=bool(present))
    finally:
        os.unlink(archive)
    conn = db.Conn(config.database_url, prepared=False)
    try:
        problems = verify(conn, manifest)
        if problems:
            raise RestoreError(f"{backup.key} was restored but does not match its manifest: " + "; ".join(problems))
        conn.simple("BEGIN")
        events.write(conn, "data_restored", {"backup": backup.key, "taken_at": manifest["taken_at"]})
        conn.simple("COMMIT")
    finally:
        conn.close()
    return manifest
