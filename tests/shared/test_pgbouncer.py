"""IMS behind a transaction-mode pooler (README, 'Connection pooling'): a real PgBouncer process on a
loopback port in front of the test database, with far fewer server connections than clients, and the
functions invoked in-process as the platform would, each thread on a client connection of its own
(a warm container each). PgBouncer >= 1.21 keeps the prepared statements (max_prepared_statements);
an older one, played here by max_prepared_statements = 0, needs DATABASE_PREPARED_STATEMENTS=false.

The binary comes from .ci/install-pgbouncer in CI; without one, these tests skip saying so loudly."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import threading
from collections import Counter
from pathlib import Path
from typing import Any, Iterator

import pytest

from gateway import manifest
from gateway.platform_event import build_event
from shared import db, events, migrate
from tests.conftest import free_port, run_threads, settings_env, unique, wait_until
from tests.shared.test_concurrency import assert_ledger_replays

POOL_SIZE = 3  # server connections PgBouncer may open to the database
CLIENTS = 16  # client connections (warm containers), each with its own prepared statements
PREPARED_STATEMENTS_SINCE = (1, 21)


def _binary() -> str | None:
    for candidate in (shutil.which("pgbouncer"), "/usr/local/bin/pgbouncer", "/usr/sbin/pgbouncer"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def _version(binary: str) -> tuple[int, ...]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=30).stdout
    found = re.search(r"PgBouncer (\d+)\.(\d+)", out)
    assert found, f"unexpected `pgbouncer --version` output: {out!r}"
    return tuple(int(n) for n in found.groups())


BINARY = _binary()
VERSION = _version(BINARY) if BINARY else ()
if BINARY is None:
    pytest.skip("PGBOUNCER NOT INSTALLED: the transaction-mode pooling tests did NOT run. Install PgBouncer "
                ">= 1.21 (as root: .ci/install-pgbouncer, which CI runs) to run them.", allow_module_level=True)


class Bouncer:
    """One PgBouncer process we started (stopped by its pid) and its admin console."""

    def __init__(self, directory: Path, database_url: str, prepared_statements: int) -> None:
        target = db.connect_args(database_url)
        if "unix_sock" in target:
            sock = Path(target["unix_sock"])
            host, port, owner = str(sock.parent), int(sock.name.rsplit(".", 1)[1]), sock.parent.stat().st_uid
        else:
            host, port, owner = target["host"], target["port"], None
        self.database, self.user = target["database"], target["user"]
        self.port = free_port()
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "userlist.txt").write_text(f'"{target["user"]}" ""\n')
        (directory / "pgbouncer.ini").write_text(f"""\
[databases]
{self.database} = host={host} port={port} dbname={self.database} user={target["user"]}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {self.port}
unix_socket_dir =
auth_type = trust
auth_file = {directory / "userlist.txt"}
admin_users = {target["user"]}
pool_mode = transaction
default_pool_size = {POOL_SIZE}
min_pool_size = 0
reserve_pool_size = 0
max_client_conn = 200
server_round_robin = 1
stats_period = 1
""" + (f"max_prepared_statements = {prepared_statements}\n" if VERSION >= PREPARED_STATEMENTS_SINCE else ""))
        command = [BINARY, str(directory / "pgbouncer.ini")]
        if os.getuid() == 0:  # PgBouncer refuses to run as root: run it as the database's own user
            import pwd

            command[1:1] = ["-u", pwd.getpwuid(owner).pw_name if owner is not None else "nobody"]
        self.log = directory / "pgbouncer.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        self.url = f"postgresql://{target['user']}@127.0.0.1:{self.port}/{self.database}"
        wait_until(self._up, 30, f"pgbouncer on port {self.port} (log: {self.log})")

    def _up(self) -> bool:
        assert self.process.poll() is None, f"pgbouncer exited: {self.log.read_text()}"
        try:
            self.admin("SHOW VERSION")
        except Exception:
            return False
        return True

    def admin(self, command: str) -> list[dict[str, Any]]:
        """A SHOW command on the admin console (simple query protocol only, as the console wants)."""
        import pg8000.native

        conn = pg8000.native.Connection(user=self.user, host="127.0.0.1", port=self.port,
                                        database="pgbouncer", timeout=10)
        try:
            rows = conn.run(command)
            names = [c["name"] for c in conn.columns]
        finally:
            conn.close()
        return [dict(zip(names, row)) for row in rows]

    def pool(self) -> dict[str, Any]:
        return next(p for p in self.admin("SHOW POOLS") if p["database"] == self.database)

    def stats(self) -> dict[str, Any]:
        return next(s for s in self.admin("SHOW STATS") if s["database"] == self.database)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@pytest.fixture(scope="module", params=["prepared", "unprepared"])
def bouncer(request, services, manager, tmp_path_factory) -> Iterator[Bouncer]:
    """PgBouncer in front of the test database, and the functions of this process pointed at it:
    'prepared' keeps prepared statements (PgBouncer >= 1.21); 'unprepared' is a pooler that cannot,
    with IMS told so (DATABASE_PREPARED_STATEMENTS=false)."""
    prepared = request.param == "prepared"
    if prepared and VERSION < PREPARED_STATEMENTS_SINCE:
        pytest.skip(f"PGBOUNCER {'.'.join(map(str, VERSION))} IS TOO OLD for prepared statements in "
                    f"transaction mode (needs >= 1.21; .ci/install-pgbouncer gets one): NOT TESTED")
    directory = tmp_path_factory.mktemp(f"pgbouncer-{request.param}")
    directory.chmod(0o755)  # PgBouncer may run as another user (root starts it with -u)
    started = Bouncer(directory, services["DATABASE_URL"], 200 if prepared else 0)
    db.close_pool()
    try:
        with settings_env(DATABASE_URL=started.url, DATABASE_DIRECT_URL=services["DATABASE_URL"],
                          DATABASE_PREPARED_STATEMENTS="true" if prepared else "false",
                          IMS_DB_POOL_SIZE=str(CLIENTS)):
            yield started
            db.close_pool()
    finally:
        started.stop()


def call(qualified: str, method: str, path: str = "", *, token: str, body: Any = None) -> tuple[int, Any]:
    """Invoke a function the way the platform does; its status and decoded body."""
    function = next(f for f in manifest.load() if f.qualified == qualified)
    raw = b"" if body is None else json.dumps(body).encode()
    result = manifest.load_main(function)(build_event(method, path, "", {
        "Content-Type": "application/json", "Authorization": f"Bearer {token}"}, raw))
    return result["statusCode"], json.loads(result["body"]) if result["body"] else None


def open_clients(count: int) -> None:
    """Fill this process's pool with `count` client connections to the pooler, as many warm
    containers would hold."""
    pool = db.pool()
    conns = [pool.acquire() for _ in range(count)]
    for conn in conns:
        pool.release(conn)


def busy_servers() -> None:
    """Have the pooler open all its server connections: POOL_SIZE transactions at once. With
    server_round_robin it then hands consecutive transactions of one client to different servers,
    so whatever session state a client relied on shows up missing."""
    barrier = threading.Barrier(POOL_SIZE)

    def hold(i: int) -> list[Any]:
        with db.transaction() as conn:
            barrier.wait(timeout=30)
            return [conn.one("SELECT pg_backend_pid() AS pid")["pid"]]

    assert len(set(run_threads(POOL_SIZE, hold))) == POOL_SIZE


def test_concurrent_withdrawals_through_the_pooler_never_oversell(bouncer, manager, staff):
    """16 client connections, 3 server connections: 16 threads x 3 withdrawals of 1 from 20 in stock."""
    status, item = call("items/create", "POST", token=manager["token"], body={
        "name": unique("Pooled"), "sku": unique("POOL"), "quantity": 20, "low_stock_threshold": 5})
    assert status == 201, item
    open_clients(CLIENTS)
    peak = {"servers": 0}
    done = threading.Event()

    def watch() -> None:  # the pooler's own count of server connections, while the storm runs
        while not done.is_set():
            pool = bouncer.pool()
            servers = sum(v for k, v in pool.items() if k.startswith("sv_"))
            peak["servers"] = max(peak["servers"], servers)
            done.wait(0.05)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        results = run_threads(CLIENTS, lambda i: [
            call("items/withdraw", "POST", f"/{item['id']}", token=staff["token"], body={"quantity": 1})
            for _ in range(3)])
    finally:
        done.set()
        watcher.join(timeout=30)

    assert Counter(status for status, _ in results) == {200: 20, 409: 28}, results
    refusals = [body for status, body in results if status == 409]
    assert all(b["code"] == "insufficient_stock" and b["available"] == 0 for b in refusals), refusals
    assert sorted(body["quantity"] for status, body in results if status == 200) == list(range(20))
    assert_ledger_replays(item["id"], 0)
    alerts = db.query("SELECT resolved_at FROM alerts WHERE item_id = :id", id=item["id"])
    assert len(alerts) == 1 and alerts[0]["resolved_at"] is None, alerts

    assert len([c for c in bouncer.admin("SHOW CLIENTS") if c["database"] == bouncer.database]) >= CLIENTS
    assert 0 < peak["servers"] <= POOL_SIZE, peak
    servers = [s for s in bouncer.admin("SHOW SERVERS") if s["database"] == bouncer.database]
    assert 0 < len(servers) <= POOL_SIZE, servers


def test_prepared_statements_are_kept_across_server_connections(bouncer, manager, staff):
    """With prepared statements on, every client prepares a statement once and binds it many times on
    whichever server connection it is given; the pooler prepares it on each server as needed. Off,
    no client keeps a prepared statement."""
    status, item = call("items/create", "POST", token=manager["token"], body={
        "name": unique("Prep"), "sku": unique("PREP"), "quantity": 1000})
    assert status == 201, item
    open_clients(CLIENTS)
    before = bouncer.stats()
    run_threads(CLIENTS, lambda i: [
        call("items/restock", "POST", f"/{item['id']}", token=staff["token"], body={"quantity": 1})
        for _ in range(5)])
    assert db.one("SELECT quantity FROM items WHERE id = :id", id=item["id"])["quantity"] == 1000 + CLIENTS * 5
    if db.pool().prepared:
        restocks = CLIENTS * 5
        after = wait_until(lambda: (s := bouncer.stats())["total_bind_count"] - before["total_bind_count"]
                           >= restocks and s, what="pgbouncer's stats to count a bind per restock")
        binds, client_parses, server_parses = (after[k] - before[k] for k in (
            "total_bind_count", "total_client_parse_count", "total_server_parse_count"))
        statements = {sql for conn in db.pool().idle for sql in conn.statements}
        # Every client parses a statement once and binds it at each use; a server parses each
        # statement at most once (max_prepared_statements exceeds them), whichever client asked.
        assert client_parses < binds, (client_parses, binds)
        assert server_parses <= POOL_SIZE * len(statements), (server_parses, len(statements))
    else:
        assert all(not conn.statements for conn in db.pool().idle)


def test_errors_come_out_typed_and_the_connection_serves_on(bouncer, manager, item):
    """Refusals through the pooler are the same typed errors (a 409 at the boundary), and the client
    connection that met them goes on serving, prepared statements and all."""
    status, body = call("items/create", "POST", token=manager["token"], body={
        "name": unique("Dup"), "sku": item["sku"]})
    assert status == 409, body
    with pytest.raises(db.UniqueViolation) as caught:
        db.execute("INSERT INTO categories (name) VALUES (:n), (:n)", n=unique("Cat"))
    assert caught.value.sqlstate == "23505" and caught.value.constraint
    with pytest.raises(db.CheckViolation):
        db.execute("UPDATE items SET quantity = -1 WHERE id = :id", id=item["id"])
    with pytest.raises(db.UniqueViolation):
        with db.transaction() as conn:
            conn.execute("UPDATE items SET name = name WHERE id = :id", id=item["id"])
            conn.execute("INSERT INTO categories (name) VALUES (:n), (:n)", n=unique("Cat"))
    for _ in range(2 * POOL_SIZE):  # the same statements again, on whichever server comes up
        assert db.one("SELECT quantity FROM items WHERE id = :id", id=item["id"])["quantity"] == 100
        with db.transaction() as conn:
            assert conn.one("SELECT quantity FROM items WHERE id = :id", id=item["id"])["quantity"] == 100


def test_migrations_and_the_relay_leave_no_session_lock_behind(bouncer, services, staff, item):
    """The runner and the relay take transaction-scoped locks, so neither leaves an advisory lock on
    a server connection the pooler hands to someone else, whichever URL they run on."""
    import pg8000.native

    call("items/withdraw", "POST", f"/{item['id']}", token=staff["token"], body={"quantity": 1})
    # As if Redis had missed the withdrawal's events: the relay has rows to read, publish and mark.
    assert db.execute("UPDATE events SET published_at = NULL "
                      "WHERE id IN (SELECT id FROM events ORDER BY id DESC LIMIT 2)") == 2
    busy_servers()
    with settings_env(DATABASE_DIRECT_URL=None):  # the runner through the pooler too
        assert migrate.migrate() == []
    assert migrate.migrate() == []
    assert events.relay() == 0  # each was in the stream already: marked, not added twice
    threads = [threading.Thread(target=events.relay) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert db.one("SELECT count(*) AS n FROM events WHERE published_at IS NULL")["n"] == 0
    direct = pg8000.native.Connection(**db.connect_args(services["DATABASE_URL"]))
    try:
        # IMS's two locks (a one-key advisory lock shows its key as classid 0, objid key) in this
        # database: a relay in another database of the cluster holds the same keys there.
        held = direct.run("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = 0 "
                          "AND objid IN (:migrate, :relay) AND objsubid = 1 AND database = "
                          "(SELECT oid FROM pg_database WHERE datname = current_database())",
                          migrate=migrate._LOCK_KEY, relay=events._RELAY_LOCK)
        assert held == [[0]]
    finally:
        direct.close()
