"""Backup and restore of the bench database, as the operator runs them: `python -m backup take` to S3,
then `python -m backup restore` into a fresh database, each a child process timed from outside.

S3 is moto's server on a free loopback port, in a thread of this process, as in tests/backup: real
HTTP and boto3, objects in memory. So the figures are what the job itself costs (the snapshot and its
row counts, pg_dump, hashing, the multipart upload; the download, the SHA-256 check, pg_restore into
psql in one transaction, the verification), not a cloud's bandwidth. The limit beside them, in the
same run: a bare `pg_dump -Fc` of the same database to /dev/null with the same binary, so backup /
bare pg_dump is what the job adds to the dump itself.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BUCKET = "ims-bench"
RESTORE_DB = "ims_bench_restore"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


@dataclass
class Backups:
    bare_seconds: float  # pg_dump -Fc to /dev/null
    take_seconds: float  # `python -m backup take`, the whole process
    take_inner_seconds: float  # the manifest's "seconds": take() alone, without start-up and pruning
    restore_seconds: float  # `python -m backup restore`, the whole process
    size: int  # the dump's bytes, from the manifest
    tables: dict[str, int]  # row counts in the dump's snapshot, from the manifest


class S3:
    """moto's S3 server on 127.0.0.1 and a port the kernel picks, with one empty bucket."""

    def __init__(self) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # else a log line per request
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client().create_bucket(Bucket=BUCKET)

    def client(self) -> Any:
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=CREDENTIALS["AWS_REGION"],
                            aws_access_key_id="test", aws_secret_access_key="test")

    def manifest(self) -> dict[str, Any]:
        """The one backup's manifest (the bucket holds only the bench's)."""
        s3 = self.client()
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []) if o["Key"].endswith(".json")]
        if len(keys) != 1:
            raise RuntimeError(f"expected one backup manifest in the bucket, found {keys}")
        return dict(json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read()))

    def stop(self) -> None:
        self.server.stop()


def _backup(root: Path, env: dict[str, str], *args: str) -> float:
    """`python -m backup …` in a child with `env` on top of ours; its wall time in seconds."""
    from localenv import process

    child = process.child_env(env)
    child.pop("DATABASE_DIRECT_URL", None)  # the dump would read it rather than the DATABASE_URL given here
    began = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "backup", *args], cwd=root, env=child, capture_output=True,
                          text=True, timeout=900, stdin=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"python -m backup {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds


def _bare_pg_dump(database_url: str) -> float:
    """The limit: the pg_dump the job would run, custom format, straight to /dev/null; seconds."""
    from backup import postgres
    from shared import db

    conn = db.Conn(database_url, prepared=False)
    try:
        pg_dump = postgres.binary("pg_dump", postgres.server_major(conn))
    finally:
        conn.close()
    url, env = postgres.libpq(database_url)
    began = time.perf_counter()
    done = subprocess.run([pg_dump, "--format=custom", f"--dbname={url}"], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True, timeout=900)
    seconds = time.perf_counter() - began
    if done.returncode != 0:
        raise RuntimeError(f"pg_dump failed ({done.returncode}): {done.stderr[-2000:]}")
    return seconds


def run(root: Path, database_url: str, s3: S3) -> Backups:
    """Back up the database at `database_url` to `s3`, dump it bare, restore the backup into a fresh
    RESTORE_DB beside it (dropped afterwards). The backup goes first, so a cache it warms favours the
    limit, not the job."""
    from localenv import scratch

    env = {**CREDENTIALS, "AWS_ENDPOINT_URL": s3.endpoint, "BACKUP_URL": f"s3://{BUCKET}/bench"}
    take_seconds = _backup(root, {**env, "DATABASE_URL": database_url}, "take")
    bare_seconds = _bare_pg_dump(database_url)
    manifest = s3.manifest()
    target = scratch.fresh_database(database_url, RESTORE_DB)
    try:
        restore_seconds = _backup(root, {**env, "DATABASE_URL": target}, "restore")
    finally:
        scratch.drop_database(database_url, RESTORE_DB)
    return Backups(bare_seconds=bare_seconds, take_seconds=take_seconds,
                   take_inner_seconds=float(manifest["seconds"]), restore_seconds=restore_seconds,
                   size=int(manifest["size"]), tables={k: int(v) for k, v in manifest["tables"].items()})
