"""Backups against real servers: moto's S3 server on loopback (real HTTP, boto3 unpatched), the
session's PostgreSQL with databases of their own, and `python -m backup` run as the operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from localenv import process
from tests.conftest import ROOT, free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def s3_client(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="test", aws_secret_access_key="test")


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A new, empty bucket of this test's own."""
    name = f"ims-{uuid.uuid4().hex[:12]}"
    s3_client(s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture
def backup_env(s3_endpoint: str, bucket: str) -> dict[str, str]:
    """What an operator sets for the job (DATABASE_URL aside): BACKUP_URL and the AWS variables."""
    return {**CREDENTIALS, "AWS_ENDPOINT_URL": s3_endpoint, "BACKUP_URL": f"s3://{bucket}/nightly"}


def run_backup(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m backup …` in a child, with `env` on top of ours and no DATABASE_DIRECT_URL."""
    child = process.child_env(env)
    child.pop("DATABASE_DIRECT_URL", None)
    return subprocess.run([sys.executable, "-m", "backup", *args], cwd=ROOT, env=child, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    s3 = s3_client(endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def database(name: str) -> str:
    """A fresh, empty database `name` beside the session's; its URL."""
    from localenv import scratch
    from shared import settings

    return scratch.fresh_database(settings.get().database_url, name)


def migrated(name: str) -> str:
    url = database(name)
    done = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=ROOT, capture_output=True, text=True,
                          env=process.child_env({"DATABASE_URL": url}), timeout=120)
    assert done.returncode == 0, done.stderr
    return url


def query(url: str, sql: str, **params: Any) -> list[dict[str, Any]]:
    from shared import db

    conn = db.Conn(url, prepared=False)
    try:
        return conn.query(sql, **params)
    finally:
        conn.close()


def checksums(url: str) -> dict[str, tuple[int, str]]:
    """Every public table's row count and the MD5 of its rows' text, in a stable order."""
    tables = [r["relname"] for r in query(url, "SELECT c.relname FROM pg_class c JOIN pg_namespace n "
                                               "ON n.oid = c.relnamespace WHERE n.nspname = 'public' "
                                               "AND c.relkind = 'r'")]
    found = {}
    for table in tables:
        row = query(url, f'SELECT count(*) AS n, md5(coalesce(string_agg(t::text, E\'\\n\' ORDER BY t::text), \'\')) '
                         f'AS sum FROM public."{table}" t')[0]
        found[table] = (int(row["n"]), row["sum"])
    return found


def front_env(database_url: str, **extra: str) -> dict[str, str]:
    """A front of a test's own on `database_url`, publishing to Redis database 3: the session's stream
    (database 0) holds only the session's events, which tests/shared/test_outbox counts."""
    return process.child_env({"DATABASE_URL": database_url, "IMS_WORKERS": "1",
                              "REDIS_URL": redis_database(os.environ["REDIS_URL"], 3), **extra})


def redis_database(url: str, index: int) -> str:
    """`url` with database `index` selected: redis://host/N, or unix:///socket?db=N."""
    if url.startswith("unix:"):
        return f"{url.split('?', 1)[0]}?db={index}"
    return urlunsplit(urlsplit(url)._replace(path=f"/{index}"))




class CuttingProxy:
    """A TCP proxy on loopback to `port` that forwards `budget` bytes of requests in all, then cuts every
    connection and refuses new ones: an upload that fails half-way, at the network, for real."""

    def __init__(self, port: int, budget: int) -> None:
        import socket
        import threading

        self.port, self.budget, self.lock = port, budget, threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.budget <= 0:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.port))
            self.open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: Any, sink: Any, metered: bool) -> None:
        try:
            while data := source.recv(65536):
                if metered:
                    with self.lock:
                        self.budget -= len(data)
                        cut = self.budget <= 0
                    if cut:
                        self.cut()
                        return
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.close()
                except OSError:
                    pass

    def cut(self) -> None:
        import socket

        for sock in self.open:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        self.listener.close()
        self.cut()


def plant(endpoint: str, bucket: str, prefix: str, when: Any, complete: bool = True) -> str:
    """A stand-in backup of an earlier day (a few bytes and, when complete, a manifest); its dump key."""
    from backup.store import new_name

    stem = f"{prefix}{new_name(when)}"
    s3 = s3_client(endpoint)
    s3.put_object(Bucket=bucket, Key=f"{stem}.dump", Body=b"PGDMP planted")
    if complete:
        s3.put_object(Bucket=bucket, Key=f"{stem}.json", Body=b'{"planted": true}')
    return f"{stem}.dump"
