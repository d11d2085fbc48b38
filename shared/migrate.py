"""Forward-only SQL migrations: migrations/NNNN_name.sql applied in order, once, under a lock.

Each applied file is recorded in schema_migrations with its SHA-256; editing an applied file is an
error rather than a silent divergence between databases. `python -m shared.migrate` runs it, on
DATABASE_DIRECT_URL when set (the database itself, not a transaction-mode pooler in front of it: DDL
and long statements belong on a connection of their own), else on DATABASE_URL. Each file is applied
in a transaction of its own that first takes a transaction-scoped advisory lock and reads what is
applied, so two starters never race, through a pooler too (a session lock would not survive one).
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
    from shared import settings

    conf = settings.get()
    files = pending_files(directory)
    applied_now: list[str] = []
    conn = db.Conn(conf.database_direct_url or conf.database_url, conf.db_prepared_statements)
    try:
        while (version := _apply_next(conn, files)) is not None:
            log.info("applied migration %s", version)
            applied_now.append(version)
    finally:
        conn.close()
    return applied_now


def _apply_next(conn: db.Conn, files: list[tuple[str, str, str]]) -> str | None:
    """In one transaction under the lock: check what is applied, apply the first missing file;
    its version, or None when none is missing."""
    conn.simple("BEGIN")
    try:
        conn.simple(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})")
        conn.simple(_CREATE)
        done = {r["version"]: r["checksum"] for r in conn.query("SELECT version, checksum FROM schema_migrations")}
        for version, checksum, sql in files:
            if version not in done:
                conn.simple(sql)
                conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES (:v, :c)",
                             v=version, c=checksum)
                conn.simple("COMMIT")
                return version
            _check(done, version, checksum)
        conn.simple("COMMIT")
        return None
    except BaseException:
        conn.reusable()  # ROLLBACK (or the connection broke and is closed by the caller anyway)
        raise


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        applied = migrate()
    except MigrationError as exc:
        sys.exit(f"migrate: {exc}")
    print(f"migrations applied: {', '.join(applied) or 'none (up to date)'}")
