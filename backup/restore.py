"""Restore one backup into an empty database, and prove it before committing: the object's SHA-256 before
anything is touched, then pg_restore's SQL, the checks and the `data_restored` event in one transaction.

The archive is downloaded to a temporary file first (hashed as it arrives): a corrupt or truncated
object is refused before the database is touched. `pg_restore --exit-on-error` turns it into SQL, which
psql runs between a BEGIN and a COMMIT written here: with --force, the target's `public` schema is
dropped right after the BEGIN; after the data come the checks (every table's row count against the
manifest, every item's ledger replayed to its quantity, the migrations table as recorded), which raise
on any difference; then the `data_restored` event that tells every live-feed client to reload (the
relay publishes it within a minute, or `make relay` at once). COMMIT is written only after pg_restore
has succeeded, so a failure anywhere, or this process dying, ends psql's input without it: PostgreSQL
rolls everything back and the target is left as it was, forced or not.
"""

from __future__ import annotations

import contextlib
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
from shared import db, event_types
from shared.jsontext import dumps


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
    finally:
        body.close()
    return path


def load(config: Config, archive: str, manifest: dict[str, Any], server_major: int, replace: bool) -> None:
    """pg_restore's SQL, the checks and the event into psql, one transaction; raises with their messages."""
    dumped_by = int((manifest.get("postgres") or {}).get("pg_dump") or 0)
    pg_restore = postgres.binary("pg_restore", max(server_major, dumped_by))  # reads what pg_dump wrote
    psql = postgres.binary("psql", server_major)
    url, env = postgres.libpq(config.database_url)
    with tempfile.TemporaryFile() as reader_errors, tempfile.TemporaryFile() as writer_errors:
        reader = subprocess.Popen([pg_restore, "--exit-on-error", "--no-owner", "--no-acl", "--file=-", archive],
                                  stdout=subprocess.PIPE, stderr=reader_errors)
        writer = subprocess.Popen([psql, "--no-psqlrc", "--quiet", "--set=ON_ERROR_STOP=1", f"--dbname={url}"],
                                  stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=writer_errors, env=env)
        assert reader.stdout is not None and writer.stdin is not None
        try:
            writer.stdin.write(b"BEGIN;\n" + (_REPLACE.encode() if replace else b""))
            shutil.copyfileobj(reader.stdout, writer.stdin, _CHUNK)
            if reader.wait() == 0:
                # pg_restore's SQL empties search_path; the checks and the event name IMS's tables plainly.
                writer.stdin.write(f"SET search_path = public;\n{checks(manifest)}\n{restored_event(manifest)}\n"
                                   "COMMIT;\n".encode())
            writer.stdin.close()  # without COMMIT (pg_restore failed), psql ends and PostgreSQL rolls back
        except BrokenPipeError:
            pass  # psql stopped at an error: its exit status and message say which
        except BaseException:
            writer.kill()  # never let psql see the end of its input after a failure here
            raise
        finally:
            if reader.poll() is None:
                reader.kill()
            reader.stdout.close()
            reader.wait()
            with contextlib.suppress(BrokenPipeError):
                writer.stdin.close()
            writer.wait()
        if writer.returncode != 0:
            raise RestoreError(f"restoring failed (psql exit {writer.returncode}): {postgres.stderr_tail(writer_errors)}; "
                               "nothing was restored")
        if reader.returncode != 0:
            raise RestoreError(f"pg_restore failed (exit {reader.returncode}): {postgres.stderr_tail(reader_errors)}; "
                               "nothing was restored")


def checks(manifest: dict[str, Any]) -> str:
    """A DO block that raises, listing every difference, unless the restored data are what the manifest
    recorded: each table's row count (and no other table), the applied migrations, the ledger replay."""
    counts: dict[str, int] = manifest.get("tables") or {}
    lines = [f"  SELECT count(*) INTO n FROM public.{postgres.ident(table)};\n"
             f"  IF n <> {int(count)} THEN problems := problems || format('table %s: %s rows, the manifest says %s', "
             f"{postgres.literal(table)}, n, {int(count)}); END IF;" for table, count in sorted(counts.items())]
    expected = ", ".join(postgres.literal(table) for table in sorted(counts)) or "NULL"
    versions = ", ".join(postgres.literal(v) for v in manifest.get("migrations") or [])
    return f"""DO $checks$
DECLARE problems text[] := '{{}}'; n bigint; r record;
BEGIN
{chr(10).join(lines)}
  FOR r IN SELECT relname FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
           WHERE s.nspname = 'public' AND c.relkind IN ('r', 'p') AND relname NOT IN ({expected}) LOOP
    problems := problems || format('table %s is not in the manifest', r.relname);
  END LOOP;
  IF (SELECT array_agg(version ORDER BY version) FROM schema_migrations)
     IS DISTINCT FROM ARRAY[{versions}]::text[] THEN
    problems := problems || 'schema_migrations differs from the manifest'::text;
  END IF;
  FOR r IN {postgres.LEDGER_MISMATCHES} LOOP
    problems := problems || format('item %s: quantity %s, its ledger replays to %s (%s break(s) in the chain)',
                                   r.id, r.quantity, r.replayed, r.breaks);
  END LOOP;
  IF cardinality(problems) > 0 THEN
    RAISE EXCEPTION 'the restored data do not match the manifest: %', array_to_string(problems, '; ');
  END IF;
END
$checks$;"""


def restored_event(manifest: dict[str, Any]) -> str:
    """The outbox row that tells every live-feed client to reload (see shared.event_types)."""
    data = {"backup": manifest["key"], "taken_at": manifest["taken_at"]}
    event_types.check("data_restored", data)
    return f"INSERT INTO events (type, data) VALUES ('data_restored', CAST({postgres.literal(dumps(data))} AS jsonb));"


def restore(config: Config, store: Store, key: str | None = None, force: bool = False,
            directory: str | None = None) -> dict[str, Any]:
    """Restore the chosen backup into config.database_url; its manifest. Raises RestoreError."""
    backup = choose(store, key)
    manifest = store.manifest(manifest_key(backup.key))
    conn = db.Conn(config.database_url, prepared=False)
    try:
        present = postgres.relations(conn)
        if present and not force:
            raise RestoreError(
                f"the target database {postgres.display(config.database_url)} is not empty ({len(present)} "
                f"tables, views or sequences: {', '.join(present[:5])}{', …' if len(present) > 5 else ''}); "
                "restore into an empty database, or pass --force (FORCE=1) to replace its contents")
        server_major = postgres.server_major(conn)
    finally:
        conn.close()
    archive = download(store, backup, manifest, directory)
    try:
        load(config, archive, manifest, server_major, replace=bool(present))
    finally:
        os.unlink(archive)
    return manifest
