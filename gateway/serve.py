"""The self-hosted front: gunicorn serving gateway.app.App, in several worker processes.

What `make run` serves (gateway/__main__.py starts the local databases first) and what a container runs
behind a load balancer: `python -m gateway.serve` against DATABASE_URL / REDIS_URL. Settings:

  IMS_HOST / IMS_PORT   where to listen (127.0.0.1:8000); without IMS_PORT, $PORT (Cloud Run, Knative)
  IMS_WORKERS           worker processes (default: the CPUs this process may use, or the container's
                        CPU limit when lower: cgroup v2 cpu.max, rounded up)
  IMS_THREADS           requests each worker answers at once (8)
  IMS_KEEPALIVE         seconds an idle keep-alive connection stays open (75: above common load
                        balancers' idle timeouts, so the balancer, not us, closes it first)
  IMS_HEADER_TIMEOUT    seconds a client has to send a request's headers, from their first byte (10)
  IMS_GRACEFUL_TIMEOUT  seconds SIGTERM waits for requests in flight before workers are killed (30)

gunicorn refuses what the stdlib server let through (two Content-Length headers, a
`Transfer-Encoding : chunked` with a space before the colon, ...) with 400. A worker thread reading a
request's headers gives up on a client that trickles them after IMS_HEADER_TIMEOUT: gunicorn bounds
the wait for a request's first byte (then keepalive), not for the rest of it.

Across workers: each request and each invoke (activation) is handled by exactly one worker, in its
threads and its activation pool, which drains when the worker stops. The scheduled triggers run in one
worker of each front (the one holding a lock file in the run's own directory), and each minute is claimed in the database (gateway.openwhisk.cron),
so replicas never fire a trigger twice. /api/v1/metrics is one exposition, in the format the scraper
asks for, of the ops/metrics function's business gauges and every worker's request metrics
(gateway.http_metrics). Password hashing is bounded
for the front as a whole (gateway.locks.HostSlots), not per worker.
"""

from __future__ import annotations

import errno
import logging
import math
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.http.errors import NoMoreData
from gunicorn.workers.gthread import TConn, ThreadWorker

from gateway.locks import CronLeader, HostSlots

log = logging.getLogger("ims.gateway")
# With the process id: several workers write to one stream.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


class Settings:
    """The front's settings, read from the environment once."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = dict(os.environ if env is None else env)
        self.host = env.get("IMS_HOST") or "127.0.0.1"
        self.port = _number(env, "IMS_PORT", int(env.get("PORT") or 8000), minimum=0)  # 0: a free port
        self.workers = _number(env, "IMS_WORKERS", usable_cpus())
        self.threads = _number(env, "IMS_THREADS", 8)
        self.keepalive = _number(env, "IMS_KEEPALIVE", 75)
        self.header_timeout = _number(env, "IMS_HEADER_TIMEOUT", 10)
        self.graceful_timeout = _number(env, "IMS_GRACEFUL_TIMEOUT", 30)

    @property
    def url(self) -> str:
        """Where this machine reaches the front (not 0.0.0.0)."""
        from gateway.app import loopback_url

        return loopback_url(self.host, self.port)


def usable_cpus(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> int:
    """The CPUs this process may use: its affinity, capped by the cgroup v2 quota when one is set
    ("<quota> <period>" in cpu.max, e.g. "150000 100000" for 1.5 CPUs, counted as 2; "max ..." is none)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cpu_max.read_text().split()[:2]
        if quota != "max" and int(period) > 0:
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 (v1, macOS) or an unreadable line: the affinity alone
        pass
    return cpus


def _number(env: dict[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < minimum:
        raise SystemExit(f"{name} must be a whole number{f' of at least {minimum}' if minimum else ''}, not {raw!r}")
    return int(raw)


def listen(host: str, port: int) -> socket.socket:
    """The listening socket, bound before anything else starts: a port in use is one line and exit code 1."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise SystemExit(f"IMS cannot listen on {host}:{port}: the port is in use (set IMS_PORT)") from None
        raise SystemExit(f"IMS cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    return sock


# --- the worker: gunicorn's threaded worker, with a bound on the time to read a request's headers ---

class _HeaderClock:
    """The client's socket, whose reads fail once the request's headers are overdue."""

    def __init__(self, sock: socket.socket, limit: float) -> None:
        self._sock, self._limit = sock, limit
        self.armed = False
        self.deadline: float | None = None

    def start(self) -> None:
        """A request's headers are next. The clock runs from the first read: gunicorn reads only once
        the socket is readable (its first byte is in), so an idle connection is keep-alive's business."""
        self.armed, self.deadline = True, None

    def stop(self) -> None:
        self.armed, self.deadline = False, None
        self._sock.settimeout(None)

    def recv(self, size: int, *flags: int) -> bytes:
        if self.armed and self.deadline is None:
            self.deadline = time.monotonic() + self._limit
        if self.deadline is not None:
            remaining = self.deadline - time.monotonic()
            try:
                if remaining <= 0:
                    raise TimeoutError
                self._sock.settimeout(remaining)
                return self._sock.recv(size, *flags)
            except TimeoutError:
                self.armed, self.deadline = False, None
                try:
                    util.write_error(self._sock, 408, "Request Timeout", "The request's headers came too slowly.")
                except OSError:
                    pass
                log.info("closed a connection that sent its request headers too slowly (over %g s)", self._limit)
                raise NoMoreData(b"") from None
        return self._sock.recv(size, *flags)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class Worker(ThreadWorker):
    """gunicorn's gthread worker; a request's headers must arrive within IMS_HEADER_TIMEOUT seconds of
    their first byte, or the client gets 408 and the connection closes."""

    header_timeout: float = 10.0
    stopping: threading.Event | None = None  # set as the graceful stop begins: no new scheduled run

    def init_signals(self) -> None:
        super().init_signals()
        # Ctrl-C reaches every process of the terminal's group: the master turns it into a graceful
        # stop (SIGTERM to each worker), so the worker itself ignores it rather than quitting at once.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    def handle_exit(self, sig: int, frame: Any) -> None:
        if self.stopping is not None:
            self.stopping.set()
        super().handle_exit(sig, frame)

    def accept(self, listener: Any) -> None:
        try:
            client, address = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client.setblocking(True)
        clock = _HeaderClock(client, self.header_timeout)
        self.enqueue_req(TConn(self.cfg, clock, address, listener.getsockname()))

    def handle(self, conn: TConn) -> Any:
        if isinstance(conn.sock, _HeaderClock):
            conn.sock.start()
        return super().handle(conn)

    def handle_request(self, req: Any, conn: TConn) -> bool:
        if isinstance(conn.sock, _HeaderClock):
            conn.sock.stop()  # the headers are in; the body and the answer take what they take
        return bool(super().handle_request(req, conn))


class _Arbiter(Arbiter):  # type: ignore[misc]
    """gunicorn's master, with SIGINT (Ctrl-C) a graceful stop like SIGTERM, as the README says: gunicorn's
    own is a quick one, cutting requests in flight. A second Ctrl-C during the drain still cuts it short."""

    def handle_int(self) -> None:
        self.handle_term()


class _Logger(glogging.Logger):
    """gunicorn's messages through the logging IMS set up (one format, one stream). No access log of
    gunicorn's own: the App writes one line per request, with its duration and request id."""

    def setup(self, cfg: Any) -> None:
        self.cfg = cfg
        self._access_log_enabled = False
        self.loglevel = self.LOG_LEVELS.get(cfg.loglevel.lower(), logging.INFO)
        self.error_log.setLevel(self.loglevel)
        self.error_log.propagate = True

    def reopen_files(self) -> None:
        pass

    def close_on_exec(self) -> None:
        pass


# --- the application ---------------------------------------------------------------------------

class Front(BaseApplication):  # type: ignore[misc]
    """gunicorn's master, serving gateway.app.App. `run()` returns when the workers are gone
    (SIGTERM, SIGINT: stop accepting, finish what is in flight and on keep-alive connections)."""

    def __init__(self, settings: Settings, listener: socket.socket, runtime: Path) -> None:
        self.settings, self.listener, self.runtime = settings, listener, runtime
        self.app: Any = None
        self._stopping = threading.Event()
        super().__init__()

    def load_config(self) -> None:
        s = self.settings
        self.cfg.set("bind", [f"fd://{os.dup(self.listener.fileno())}"])  # gunicorn closes the one it gets
        self.cfg.set("control_socket_disable", True)  # no gunicornc: the signals are the interface
        # The class itself: a dotted name would make gunicorn import this file again under its module
        # name (python -m runs it as __main__), a copy whose Worker never got header_timeout.
        self.cfg.set("worker_class", Worker)
        self.cfg.set("workers", s.workers)
        self.cfg.set("threads", s.threads)
        self.cfg.set("keepalive", s.keepalive)
        self.cfg.set("graceful_timeout", s.graceful_timeout)
        self.cfg.set("timeout", max(30, s.graceful_timeout))  # a worker silent this long is restarted
        self.cfg.set("preload_app", True)  # import every function once, in the master; workers fork from it
        self.cfg.set("logger_class", _Logger)
        self.cfg.set("loglevel", logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower())
        self.cfg.set("accesslog", None)
        self.cfg.set("proc_name", "ims-gateway")
        self.cfg.set("worker_tmp_dir", str(self.runtime))
        self.cfg.set("post_worker_init", self._worker_started)
        self.cfg.set("worker_exit", self._worker_exiting)
        self.cfg.set("child_exit", self._worker_gone)
        Worker.header_timeout = s.header_timeout  # the workers fork from this process

    def load(self) -> Any:
        from gateway import http_metrics
        from gateway.app import make_app
        from shared import auth, settings
        from shared.services import metrics

        self.app = make_app()
        auth.share_bcrypt_slots(HostSlots(self.runtime / "bcrypt", settings.get().bcrypt_concurrency,
                                          max_waiting=max(1, self.settings.threads // 2)))
        self.app.host_functions(self.settings.url)
        self.app.observers.append(http_metrics.observe)
        metrics.also(http_metrics.collector())  # one scrape, one exposition: the gauges and every worker's requests
        return http_metrics.counting_in_flight(self.app)

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:  # what BaseApplication.run does with gunicorn's refusals
            print(f"\nError: {exc}\n", file=sys.stderr, flush=True)
            sys.exit(1)

    # hooks, run in the worker (started, exiting) and in the master (gone)
    def _worker_started(self, worker: Worker) -> None:
        from gateway.openwhisk import cron

        worker.stopping = self._stopping
        regions = self.app.regions
        if regions is not None and not regions.is_primary:
            return  # on Fly.io the triggers fire in the primary region: elsewhere the database is a read-only replica
        leader = CronLeader(self.runtime / "cron.lock")
        scheduler = cron.Scheduler(self.app.schedule, lambda t: self.app.activations.start(t.function, t.body),
                                   claim=leader.claim)
        threading.Thread(target=scheduler.run, args=(self._stopping,), name="cron", daemon=True).start()

    def _worker_exiting(self, server: Any, worker: Worker) -> None:
        if os.getpid() != worker.pid:  # the master, for a worker already gone: nothing of its own to stop
            return
        self._stopping.set()
        self.app.activations.shutdown()  # let started activations finish
        _close_pool()

    def _worker_gone(self, server: Any, worker: Worker) -> None:
        from gateway import http_metrics

        http_metrics.worker_gone(worker.pid)


def _close_pool() -> None:
    db = sys.modules.get("shared.db")  # only if a function ever used it
    if db is not None:
        try:
            db.close_pool()
        except Exception:
            log.exception("closing the database pool failed")


def runtime_dir() -> Path:
    """A fresh directory for this run: the workers' metrics files (PROMETHEUS_MULTIPROC_DIR), their
    heartbeat files and the cron lock. Set before prometheus_client is imported; see gateway.http_metrics.
    In /dev/shm when it can be written (memory: gunicorn's advice for the heartbeats, and a read-only root
    file system still works), else the temporary directory."""
    shm = "/dev/shm"
    base = shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None
    path = Path(tempfile.mkdtemp(prefix="ims-front-", dir=base))
    (path / "metrics").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path / "metrics")
    return path


def serve(settings: Settings, listener: socket.socket) -> int:
    """Serve until SIGTERM or SIGINT; return gunicorn's exit status once every worker is gone."""
    runtime = runtime_dir()
    handled = (signal.SIGCHLD, *Arbiter.SIGNALS)
    before = {sig: signal.getsignal(sig) for sig in handled}
    master, status = os.getpid(), 1
    try:
        _close_pool()  # the master's connections (migrations, relay) must not be shared with forked workers
        Front(settings, listener, runtime).run()
        status = 0
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    finally:
        if os.getpid() != master:
            # A worker, forked inside this call, ends here: the clean-up below and make run's (stopping
            # realtime and the databases) belong to the master alone.
            logging.shutdown()
            os._exit(status)
        # gunicorn's handlers would reap make run's other children (realtime) and write to its closed pipes.
        for sig, handler in before.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        shutil.rmtree(runtime, ignore_errors=True)
    return status


def start() -> tuple[Settings, socket.socket]:
    """Logging, the settings and the listening socket: the first steps of `python -m gateway.serve` and
    of `make run` (python -m gateway)."""
    logging.basicConfig(level=os.environ.get("IMS_LOG_LEVEL", "INFO").upper(), format=LOG_FORMAT, stream=sys.stderr)
    settings = Settings()
    listener = listen(settings.host, settings.port)  # before anything starts
    settings.port = listener.getsockname()[1]  # IMS_PORT=0: a free port
    return settings, listener


def main() -> int:
    """`python -m gateway.serve`: the front alone, against DATABASE_URL and REDIS_URL (a container)."""
    settings, listener = start()
    print(settings.url, flush=True)  # one line on stdout: where it listens (what a supervisor may read)
    try:
        return serve(settings, listener)
    finally:
        listener.close()


if __name__ == "__main__":
    sys.exit(main())
