"""Forward-only SQL migrations: migrations/NNNN_name.sql applied in order, once, under a lock.

Each applied file is recorded in schema_migrations with its SHA-256; editing an applied file is an
error rather than a silent divergence between databases. `python -m shared.migrate` runs it.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from pathlib import Path

from shared import db

log = logging.getLogger("ims.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
_LOCK_KEY = 0x1A5_0001  # advisory lock id: two starters never race

_CREATE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version text PRIMARY KEY, checksum text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"""


class MigrationError(RuntimeError):
    pass


def pending_files(directory: Path = MIGRATIONS_DIR) -> list[tuple[str, str, str]]:
    """[(version, checksum, sql)] for every file, in order."""
    out = []
    for path in sorted(directory.glob("*.sql")):
        sql = path.read_text(encoding="utf-8")
        out.append((path.stem, hashlib.sha256(sql.encode()).hexdigest(), sql))
    return out


def _check(done: dict[str, str], version: str, checksum: str) -> None:
    if done[version] != checksum:
        raise MigrationError(f"migration {version} was edited after it was applied "
                             f"(checksum {done[version][:12]}… != {checksum[:12]}…)")


def pending(directory: Path = MIGRATIONS_DIR) -> list[str]:
    """The versions not applied yet, in order, changing nothing (`make deploy`'s preflight); an
    applied file edited since is an error here too."""
    with db.connection() as conn:
        present = conn.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present")[0]["present"]
        done = {r["version"]: r["checksum"] for r in conn.query("SELECT version, checksum FROM schema_migrations")
                } if present else {}
    missing = []
    for version, checksum, _ in pending_files(directory):
        if version in done:
            _check(done, version, checksum)
        else:
            missing.append(version)
    return missing


def migrate(directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply what is missing; return the versions applied now."""
    applied_now: list[str] = []
    with db.connection() as conn:
        conn.simple(f"SELECT pg_advisory_lock({_LOCK_KEY})")
        try:
            conn.simple(_CREATE)
            done = {r["version"]: r["checksum"] for r in conn.query("SELECT version, checksum FROM schema_migrations")}
            for version, checksum, sql in pending_files(directory):
                if version in done:
                    _check(done, version, checksum)
                    continue
                conn.simple("BEGIN")
                try:
                    conn.simple(sql)
                    conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES (:v, :c)",
                                 v=version, c=checksum)
                    conn.simple("COMMIT")
                except BaseException:
                    conn.simple("ROLLBACK")
                    raise
                log.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            conn.simple(f"SELECT pg_advisory_unlock({_LOCK_KEY})")
    return applied_now


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        applied = migrate()
    except MigrationError as exc:
        sys.exit(f"migrate: {exc}")
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
