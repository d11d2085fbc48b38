"""`make run` (python -m gateway) with its own data dir and embedded servers: a PostgreSQL or Redis that
dies is restarted and the product recovers by itself; while PostgreSQL is down requests get a 503 with
Retry-After and the log a few lines, not a traceback per request; the data dir keeps its secrets."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from localenv import servers
from localenv import process
from tests.client import Api
from tests.conftest import ROOT, free_port, unique, wait_until

START_TIMEOUT = 120  # a first start runs initdb and the migrations
RECOVERY_TIMEOUT = 60


@dataclass
class Running:
    proc: subprocess.Popen[str]
    data_dir: Path
    log: Path
    api: Api
    token: str = ""

    def log_text(self, start: int = 0) -> str:
        return self.log.read_text(errors="replace")[start:]

    def healthy(self) -> bool:
        try:
            return self.api.get("/api/v1/health").status == 200
        except (OSError, http.client.HTTPException):  # not listening yet
            self.api.close()
            return False

    def write(self) -> int:
        """Create an item; its status."""
        return self.api.post("/api/v1/items", {"name": unique("Sup"), "sku": unique("SUP"), "quantity": 1},
                             token=self.token).status

    def recovered(self) -> bool:
        return self.healthy() and self.write() == 201


def _pid(path: Path) -> int:
    return int(path.read_text().split("\n", 1)[0])


def _kill(pid: int) -> None:
    """SIGKILL a server this test's gateway started, and wait until it is gone (not merely a zombie)."""
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not servers.alive(pid), 10, f"process {pid} to die")


@contextlib.contextmanager
def make_run(data_dir: Path) -> Iterator[Running]:
    """`python -m gateway` (what `make run` starts) on its own data dir and free ports, with an owner."""
    port = free_port()
    drop = ("DATABASE_URL", "REDIS_URL", "JWT_SECRET", "__OW_API_KEY", "__OW_API_HOST")
    env = {k: v for k, v in process.child_env().items() if k not in drop and not k.startswith("TEST_")}
    env.update(IMS_DATA_DIR=str(data_dir), IMS_PORT=str(port), IMS_WS_PORT=str(free_port()), IMS_LOG_LEVEL="INFO")
    log = data_dir.parent / "gateway.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "gateway"], cwd=ROOT, env=env, stdout=sink, stderr=sink,
                                text=True)
    run = Running(proc, data_dir, log, Api(f"http://127.0.0.1:{port}"))
    try:
        wait_until(lambda: proc.poll() is not None or run.healthy(), START_TIMEOUT, "the gateway to start")
        assert proc.poll() is None, run.log_text()
        credentials = {"email": "owner@example.com", "password": "owner-pass-1"}
        assert run.api.post("/api/v1/auth/register", {**credentials, "full_name": "Owner"}).status == 201
        run.token = run.api.post("/api/v1/auth/login", credentials).json()["access_token"]
        yield run
    finally:
        run.api.close()
        process.stop(proc, timeout=60)
    assert "Traceback" not in run.log_text(), run.log_text()[-5000:]


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with make_run(tmp_path_factory.mktemp("make-run") / "d") as run:
        yield run


def test_a_dead_postgresql_is_restarted_and_the_product_recovers(running):
    assert running.write() == 201
    _kill(_pid(running.data_dir / "pg" / "postmaster.pid"))
    wait_until(running.recovered, RECOVERY_TIMEOUT, "health 200 and a successful write")
    wait_until(lambda: "embedded PostgreSQL restarted" in running.log_text(), 10, "the supervisor's line")


def test_a_dead_redis_is_restarted_on_the_same_socket(running):
    socket_path = running.data_dir / "redis" / "redis.sock"
    before = _pid(running.data_dir / "redis" / "redis.pid")
    _kill(before)
    wait_until(running.recovered, RECOVERY_TIMEOUT, "health 200 and a successful write")
    assert _pid(running.data_dir / "redis" / "redis.pid") != before
    assert stat.S_ISSOCK(socket_path.stat().st_mode)  # REDIS_URL still names it: health says Redis is ok
    assert json.loads(running.api.get("/api/v1/health").body)["checks"]["redis"] == "ok"
    wait_until(lambda: "embedded Redis restarted" in running.log_text(), 10, "the supervisor's line")


def test_requests_while_postgresql_is_down_are_503_and_logged_in_a_few_lines(running):
    statuses: list[tuple[int, dict[str, str], bytes]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load() -> None:
        client = Api(f"http://{running.api.host}:{running.api.port}")
        try:
            while not stop.is_set():
                res = client.get("/api/v1/items?per_page=5", token=running.token)
                with lock:
                    statuses.append((res.status, res.headers, res.body))
        finally:
            client.close()

    def seen(status: int, after: int = 0) -> bool:
        with lock:
            return any(s == status for s, _, _ in statuses[after:])

    threads = [threading.Thread(target=load, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: seen(200), 30, "requests to succeed")
        offset = len(running.log_text())
        _kill(_pid(running.data_dir / "pg" / "postmaster.pid"))
        wait_until(lambda: seen(503), RECOVERY_TIMEOUT, "a 503 while PostgreSQL is down")
        with lock:
            # Each thread has at most one request in flight: past these, every answer is to a request
            # sent after a 503 was seen, so a 200 among them is a recovery, not a late pre-kill answer.
            after_the_outage = len(statuses) + len(threads)
        wait_until(lambda: seen(200, after_the_outage), RECOVERY_TIMEOUT, "requests to succeed again by themselves")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert {s for s, _, _ in statuses} == {200, 503}, {s for s, _, _ in statuses}
    for status, headers, body in statuses:
        if status == 503:
            assert int(headers["retry-after"]) > 0
            assert headers["content-type"].startswith("application/problem+json")
            assert json.loads(body)["code"] == "database_unavailable"
    refused = sum(1 for s, _, _ in statuses if s == 503)
    lines = [line for line in running.log_text(offset).splitlines() if " ims.access[" not in line]
    assert "Traceback" not in "\n".join(lines)
    # Death, restart, outage, recovery, perhaps failed restarts or a minute's cron lines: not one per request.
    assert len(lines) <= 25, (refused, lines)


def test_the_data_dir_keeps_secrets_and_redis_files_to_their_owner(running):
    def mode(path: Path) -> int:
        return stat.S_IMODE(path.lstat().st_mode)

    for secret in ("jwt_secret", "api_key"):
        assert mode(running.data_dir / secret) == 0o600, secret
    redis_dir = running.data_dir / "redis"
    assert mode(redis_dir) == 0o700
    # write the RDB snapshot now, as Redis does from time to time
    assert servers.redis_command(redis_dir / "redis.sock", "SAVE", 30).startswith(b"+OK")
    files = {p.name: mode(p) for p in redis_dir.iterdir() if p.is_file()}
    assert {"appendonly.aof", "ims.rdb", "redis.log"} <= files.keys()
    assert all(m == 0o600 for m in files.values()), files
    assert mode(redis_dir / "redis.sock") & 0o077 == 0  # the socket too: nobody else may talk to Redis
    assert mode(running.data_dir / "pg") == 0o700


def test_stopping_while_postgresql_is_down_is_clean(tmp_path):
    """Ctrl-C (here SIGTERM) before the supervisor brought a dead PostgreSQL back: a clean exit."""
    with make_run(tmp_path / "d") as run:
        _kill(_pid(run.data_dir / "pg" / "postmaster.pid"))
        assert process.stop(run.proc, timeout=60) == 0
    assert "PostgreSQL was already down" in run.log_text() or "PostgreSQL stopped" in run.log_text()


# --- the supervisor's schedule, on a virtual clock ------------------------------------------------

class Flaky(servers.Embedded):
    """A server that is down until a restart succeeds; the first `failures` restarts fail."""

    name = "Flaky"

    def __init__(self, clock: list[float], failures: int) -> None:
        self.clock, self.failures, self.up, self.attempts = clock, failures, True, []

    def alive(self) -> bool:
        return self.up

    def restart(self) -> None:
        self.attempts.append(self.clock[0])
        if len(self.attempts) <= self.failures:
            raise RuntimeError("still broken")
        self.up = True


def _run(supervisor: servers.Supervisor, clock: list[float], until: float) -> None:
    while clock[0] < until:
        supervisor.check()
        clock[0] += 0.5


def test_the_supervisor_restarts_at_once_then_backs_off(caplog):
    clock = [0.0]
    server = Flaky(clock, failures=3)
    supervisor = servers.Supervisor([server], clock=lambda: clock[0])
    server.up = False
    with caplog.at_level("INFO", logger="ims.local"):
        _run(supervisor, clock, 20)
    assert server.up and server.attempts == [0.0, 1.0, 3.0, 7.0]  # at once, then 1, 2, 4 s later
    assert len(caplog.records) == 5  # down, three failed attempts, restarted
    # Dying again soon after a restart waits its turn (8 s) instead of restarting in a tight loop;
    # a server that then ran a minute starts from scratch.
    server.up, server.failures = False, 0
    _run(supervisor, clock, 40)
    assert server.attempts[4] == 20.0 + 8  # noticed at 20, 12.5 s after its restart: due 8 s later
    clock[0] += servers.STABLE_AFTER
    supervisor.check()
    server.up = False
    noticed = clock[0]
    supervisor.check()
    assert server.attempts[-1] == noticed


def test_a_socket_fallback_dir_that_others_can_use_is_refused(tmp_path):
    """A data dir too deep for a Unix socket path puts Redis's socket in the temp dir: a directory
    there that another user made (or may write to) must not be used."""
    data_dir = tmp_path / ("deep" * 30) / "d"
    fallback = servers.redis_socket(data_dir).parent
    assert not str(fallback).startswith(str(data_dir))  # the fallback, not the data dir
    fallback.mkdir(mode=0o755, exist_ok=True)
    fallback.chmod(0o755)
    try:
        with pytest.raises(RuntimeError, match="nobody else can use"):
            servers.Redis(data_dir)
    finally:
        fallback.rmdir()
