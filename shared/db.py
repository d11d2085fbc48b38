"""PostgreSQL through pg8000: a small thread-safe pool, lazy, self-healing, with prepared statements.

Module-level `query` / `one` / `execute` run on the calling thread's open transaction when there is
one, else on a pooled connection in autocommit (one statement = one implicit transaction). Every
statement is prepared once per connection and cached by its text, so a hot statement costs one
round trip. No session state is kept on the server beyond those statements (no SET, no session
lock, no temporary table), so a transaction-mode pooler may hand each transaction to a different
server connection: PgBouncer >= 1.21 with max_prepared_statements keeps the prepared statements;
with `prepared=False` (DATABASE_PREPARED_STATEMENTS=false, for a pooler that cannot) a statement
is parsed afresh each time, and one outside a transaction runs in its own BEGIN/COMMIT, since the
driver's parse and execute are separate exchanges a pooler could send to different servers.

`transaction()` nests: an inner block joins the outer one, and `after_commit` callbacks run once
the outermost block has committed.

Failures come out typed (`Error` and its subclasses below), so no caller imports the driver. A
database that cannot be reached, is shutting down or starting, or does not answer in time raises
`Unavailable` (a 503 at the boundary), logged once per outage. A connection goes back to the pool
after any failure it survived (a 404 inside a transaction costs a ROLLBACK, not a reconnect); only
one whose conversation with the server broke off is closed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from shared import errors
from shared.outage import Outage

log = logging.getLogger("ims.db")
outage = Outage("database", log)
# Every pooled connection out for _POOL_WAIT: this process is overloaded, the database need not be down.
saturation = Outage("database connection pool", log, refused="requests refused for want of a connection")

_STMT_CACHE = 256
_PING_AFTER = 10.0  # seconds idle after which a pooled connection is checked before use
# Seconds to connect or to wait for any answer: below the functions' 15 s platform limit, so a hung
# database still gets a problem+json answer (503). _POOL_WAIT: for a free pooled connection.
_TIMEOUT = 10.0
_POOL_WAIT = 10.0


def connect_args(url: str) -> dict[str, Any]:
    """postgresql://user:pass@host:port/db?host=/socket/dir -> pg8000 keyword arguments."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgres", "postgresql"):
        raise ValueError("DATABASE_URL must start with postgresql://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    args: dict[str, Any] = {
        "user": unquote(parts.username or "postgres"),
        "password": unquote(parts.password) if parts.password else None,
        "database": unquote(parts.path.lstrip("/")) or None,
        "port": parts.port or int(query.get("port", 5432)),
        "startup_params": {"TimeZone": "UTC"},
        "application_name": "ims",
    }
    socket_dir = query.get("host") or ""
    if socket_dir.startswith("/"):
        args["unix_sock"] = f"{socket_dir}/.s.PGSQL.{args['port']}"
    else:
        args["host"] = parts.hostname or socket_dir or "localhost"
    if query.get("sslmode") in ("require", "verify-ca", "verify-full"):
        import ssl

        ctx = ssl.create_default_context()
        if query["sslmode"] == "require":
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        args["ssl_context"] = ctx
    return args


# --- typed errors ------------------------------------------------------------------------------

class Error(Exception):
    """A database failure. `sqlstate` is the server's code (None when the server did not answer),
    `constraint` the constraint a violation names; the text is for the log, never for a client."""

    def __init__(self, message: str, sqlstate: str | None = None, constraint: str | None = None) -> None:
        super().__init__(message)
        self.sqlstate, self.constraint = sqlstate, constraint


class Unavailable(Error, errors.Unavailable):
    """The database cannot be reached, is shutting down or starting up, or did not answer in time.
    `server_gone`: the server itself went away (refused, reset, shut down), not just this session."""

    code = "database_unavailable"
    detail = "The database is unavailable; retry shortly."

    def __init__(self, message: str, sqlstate: str | None = None, server_gone: bool = False) -> None:
        super().__init__(message, sqlstate)
        self.server_gone = server_gone


class UniqueViolation(Error):
    """23505: a row with this key exists."""


class ForeignKeyViolation(Error):
    """23503: a referenced row does not exist (or a referencing one still does)."""


class CheckViolation(Error):
    """23514: a CHECK constraint refused the row."""


class OutOfRange(Error):
    """22003: a number past its column's type."""


class ReadOnly(Error, errors.Unavailable):
    """25006: a write in a read-only transaction, on a read replica. On Fly.io, outside the primary region,
    the gateway replays the request there on seeing this code (gateway.fly); elsewhere it is a 503."""

    code = "database_read_only"
    detail = "This database is a read-only replica; retry shortly."


_BY_SQLSTATE: dict[str, type[Error]] = {"23505": UniqueViolation, "23503": ForeignKeyViolation,
                                        "23514": CheckViolation, "22003": OutOfRange, "25006": ReadOnly}
# Class 08 (connection exception), 53 (insufficient resources: too many connections, disk full, out of
# memory), 57P01-57P03 (admin shutdown, crash shutdown, cannot connect now: starting or shutting down).
_UNAVAILABLE = ("08", "53", "57P01", "57P02", "57P03")
_SHUT_DOWN = ("57P01", "57P02", "57P03")
# What pg8000 says when the socket failed (its cause is the OSError) or was already closed.
_LOST = ("network error", "communication error", "connection is closed", "Can't create a connection")


def _typed(exc: BaseException) -> tuple[Error, bool] | None:
    """The typed error for a driver exception, and whether the connection is still usable; None for
    an exception that is not the driver's (the caller decides)."""
    import pg8000.exceptions

    if isinstance(exc, pg8000.exceptions.DatabaseError):  # the server's answer: it says what and how bad
        fields = exc.args[0] if exc.args and isinstance(exc.args[0], dict) else {}
        state, message = fields.get("C"), fields.get("M", str(exc))
        reason = f"{state} {message}" if state else message
        fatal = fields.get("S") in ("FATAL", "PANIC")  # the server ends the session after these
        if fatal or (state or "").startswith(_UNAVAILABLE):
            return Unavailable(reason, state, server_gone=state in _SHUT_DOWN), False
        return _BY_SQLSTATE.get(state or "", Error)(reason, state, fields.get("n")), True
    if isinstance(exc, OSError) or (isinstance(exc, pg8000.exceptions.InterfaceError)
                                    and (isinstance(exc.__cause__, OSError) or str(exc).startswith(_LOST))):
        cause = exc.__cause__ or exc
        reason = f"{type(cause).__name__}: {cause}" if str(cause) else type(cause).__name__
        # A timeout says only that this conversation is stuck (a long lock wait, say); a reset or a
        # refusal says the server is gone.
        return Unavailable(reason, server_gone=not isinstance(cause, TimeoutError)), False
    if isinstance(exc, pg8000.exceptions.Error):  # a driver complaint about what we asked (a bad parameter)
        return Error(str(exc)), False
    return None


def _unavailable(error: Unavailable) -> Unavailable:
    outage.failed(str(error))
    return error


class Conn:
    """One pg8000 connection plus its prepared statements.

    `broken` is set when a call did not end cleanly (the network failed, the server ended the session,
    or the call was interrupted): the conversation's state is unknown and the connection is closed."""

    def __init__(self, url: str, prepared: bool = True) -> None:
        import pg8000.native

        try:
            self.raw = pg8000.native.Connection(**connect_args(url), timeout=_TIMEOUT)
        except Exception as exc:  # whatever stops us connecting (refused, a password, no such database)
            typed = _typed(exc)
            reason = str(typed[0]) if typed else f"{type(exc).__name__}: {exc}"
            raise _unavailable(Unavailable(reason, typed[0].sqlstate if typed else None)) from exc
        outage.ok()
        self.statements: dict[str, Any] = {}
        self.prepared = prepared
        self.used = time.monotonic()
        self.broken = False

    def _call(self, fn: Callable[..., Any], /, *args: Any, **params: Any) -> Any:
        try:
            return fn(*args, **params)
        except BaseException as exc:
            typed = _typed(exc)
            if typed is None:  # interrupted mid-conversation (KeyboardInterrupt, a bug in a type adapter)
                self.broken = True
                raise
            error, usable = typed
            self.broken = self.broken or not usable
            raise (_unavailable(error) if isinstance(error, Unavailable) else error) from exc

    def _prepared(self, sql: str) -> Any:
        ps = self.statements.get(sql)
        if ps is None:
            if len(self.statements) >= _STMT_CACHE:
                self._call(self.statements.pop(next(iter(self.statements))).close)
            ps = self.statements[sql] = self._call(self.raw.prepare, sql)
        return ps

    def _run(self, sql: str, params: dict[str, Any]) -> Any:
        """Run a statement; the driver's context of it (rows, columns, row_count)."""
        if self.prepared:
            ps = self._prepared(sql)
            self._call(ps.run, **params)
            return ps._context
        alone = not self.in_transaction
        if alone:
            self.simple("BEGIN")
        try:
            self._call(self.raw.run, sql, **params)
            context = self.raw._context
            if alone:
                self.simple("COMMIT")
        except BaseException:
            if alone:
                self.reusable()  # ROLLBACK: the pooler's server connection is not left in a transaction
            raise
        return context

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        context = self._run(sql, params)
        if not context.rows:
            return []
        names = [c["name"] for c in context.columns]
        return [dict(zip(names, row)) for row in context.rows]

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self.query(sql, **params)
        return rows[0] if rows else None

    def row(self, sql: str, **params: Any) -> dict[str, Any]:
        """The row of a statement that always returns one (an aggregate, a lock, an UPDATE of a row
        already known to exist)."""
        found = self.one(sql, **params)
        if found is None:
            raise LookupError(f"no row from a statement that always returns one: {sql.split()[0]} …")
        return found

    def execute(self, sql: str, **params: Any) -> int:
        return int(self._run(sql, params).row_count)

    def simple(self, sql: str) -> None:
        """Run a statement without parameters (DDL, BEGIN, COMMIT...)."""
        self._call(self.raw.run, sql)

    @property
    def in_transaction(self) -> bool:
        # The server's own word, from its last ReadyForQuery ("I" idle, "T" in a block, "E" failed one);
        # pg8000 keeps it where its DB-API layer reads it too (None until the first statement).
        return getattr(self.raw, "_transaction_status", None) in (b"T", b"E")

    def reusable(self) -> bool:
        """After a failure: whether this connection may serve someone else (rolled back if need be)."""
        if not self.broken and self.in_transaction:
            try:
                self.simple("ROLLBACK")
            except BaseException:
                self.broken = True
        return not self.broken

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # already broken; nothing to tell anyone
            pass


class _Waiter:
    """A thread queued for a connection: woken with one (`conn`), or with the slot of one that closed
    (`conn` None: it opens a new one)."""

    __slots__ = ("ready", "conn")

    def __init__(self) -> None:
        self.ready = threading.Event()
        self.conn: Conn | None = None


class Pool:
    """First come, first served: a connection coming back goes straight to the thread that has waited
    longest. (With a Condition, a thread arriving just then takes it first and the woken one waits
    again at the back: under load the unlucky wait many turns, and the tail latency grows without bound.)"""

    def __init__(self, url: str, size: int, prepared: bool = True) -> None:
        self.url, self.size, self.prepared = url, size, prepared
        self.idle: deque[Conn] = deque()
        self.opened = 0
        self.waiters: deque[_Waiter] = deque()
        self.lock = threading.Lock()

    def acquire(self) -> Conn:
        """A connection: an idle one (checked if it idled long), else a new one; waits its turn while all
        are out, but not past _POOL_WAIT (a hung database holds every connection that long)."""
        waiter = None
        with self.lock:
            if self.idle:  # (never while threads wait: release hands a connection to them directly)
                conn: Conn | None = self.idle.pop()
            elif self.opened < self.size:
                self.opened += 1
                conn = None
            else:
                waiter = _Waiter()
                self.waiters.append(waiter)
        if waiter is not None:
            try:
                ready = waiter.ready.wait(_POOL_WAIT)
            except BaseException:  # interrupted (KeyboardInterrupt, a signal handler's exception)
                self._abandon(waiter)
                raise
            if not ready:
                with self.lock:
                    if not waiter.ready.is_set():  # still in the queue: give up our place
                        self.waiters.remove(waiter)
                        busy = f"all {self.size} connections busy for {_POOL_WAIT:g} s"
                        saturation.failed(busy)
                        raise Unavailable(busy)
            conn = waiter.conn  # None: a connection closed and its slot is ours; open one in it
        if conn is None:
            try:
                return Conn(self.url, self.prepared)
            except BaseException:
                self._forget()
                raise
        if time.monotonic() - conn.used > _PING_AFTER:
            try:
                conn.raw.run("SELECT 1")  # the driver itself: a stale connection is no outage
            except Exception:  # dropped while idle (server restart, idle timeout): replace it
                conn.close()
                self._forget()
                self.close()  # the others idled as long: connect afresh rather than ping each in turn
                return self.acquire()
        return conn

    def release(self, conn: Conn, broken: bool = False) -> None:
        if broken or conn.broken:
            conn.close()
            self._forget()
            return
        outage.ok()
        saturation.ok()
        conn.used = time.monotonic()
        with self.lock:
            if self.waiters:
                waiter = self.waiters.popleft()
                waiter.conn = conn
                waiter.ready.set()
            else:
                self.idle.append(conn)

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter gives up: it leaves the queue, or, if it was served meanwhile, passes on what it got
        (else that connection or slot would be lost to the pool for good)."""
        with self.lock:
            if not waiter.ready.is_set():
                self.waiters.remove(waiter)
                return
        if waiter.conn is not None:
            self.release(waiter.conn)
        else:
            self._forget()

    def _forget(self) -> None:
        """A connection closed: its slot goes to the longest waiter, who opens a new one, or is free."""
        with self.lock:
            if self.waiters:
                self.waiters.popleft().ready.set()
            else:
                self.opened -= 1

    def close(self) -> None:
        """Close the idle connections (those in use are closed when they come back broken)."""
        with self.lock:
            idle, self.idle = list(self.idle), deque()
            self.opened -= len(idle)
        for conn in idle:
            conn.close()


_pool: Pool | None = None
_pool_lock = threading.Lock()
_local = threading.local()


def pool() -> Pool:
    global _pool
    if _pool is None:
        with _pool_lock:
            if _pool is None:
                from shared import settings

                s = settings.get()
                _pool = Pool(s.database_url, s.db_pool_size, s.db_prepared_statements)
    return _pool


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


@contextmanager
def connection() -> Iterator[Conn]:
    tx = getattr(_local, "tx", None)
    if tx is not None:
        yield tx.conn
        return
    p = pool()
    conn = p.acquire()
    try:
        yield conn
    except BaseException as exc:
        p.release(conn, broken=not conn.reusable())
        if isinstance(exc, Unavailable) and exc.server_gone:
            # The server went away or restarted: the idle connections are as dead as this one was.
            # Dropping them now spares the next requests a 503 each on the way to a fresh connection.
            p.close()
        raise
    p.release(conn)


class Transaction:
    def __init__(self, conn: Conn) -> None:
        self.conn = conn
        self.callbacks: list[Callable[[], object]] = []

    def after_commit(self, fn: Callable[[], object]) -> None:
        self.callbacks.append(fn)


@contextmanager
def transaction() -> Iterator[Conn]:
    if getattr(_local, "tx", None) is not None:  # join the enclosing transaction
        yield _local.tx.conn
        return
    with connection() as conn:
        conn.simple("BEGIN")
        tx = _local.tx = Transaction(conn)
        try:
            yield conn
            conn.simple("COMMIT")
        except BaseException:
            # A typed refusal (404, 409, 412) or a statement the server refused: ROLLBACK and the
            # connection serves again (connection() closes it only if that fails or it had broken).
            _local.tx = None
            conn.reusable()
            raise
        finally:
            _local.tx = None
    for fn in tx.callbacks:
        _run_callback(fn)


@contextmanager
def savepoint() -> Iterator[None]:
    """Inside a transaction, a block that raises is undone alone (its statements, and the after-commit
    callbacks it added: no event of it is published) and the transaction goes on; outside one there is
    nothing to do, each write in the block having a transaction of its own."""
    tx = getattr(_local, "tx", None)
    if tx is None:
        yield
        return
    tx.conn.simple("SAVEPOINT block")
    kept = len(tx.callbacks)
    try:
        yield
    except BaseException:
        tx.conn.simple("ROLLBACK TO SAVEPOINT block")
        del tx.callbacks[kept:]
        raise
    tx.conn.simple("RELEASE SAVEPOINT block")


def _run_callback(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # the write has committed; a failed follow-up must not fail it
        log.exception("after-commit callback failed")


def after_commit(fn: Callable[[], object]) -> None:
    """Run `fn` once the current transaction commits, or now when there is none."""
    tx = getattr(_local, "tx", None)
    if tx is None:
        _run_callback(fn)
    else:
        tx.after_commit(fn)


def query(sql: str, **params: Any) -> list[dict[str, Any]]:
    with connection() as conn:
        return conn.query(sql, **params)


def one(sql: str, **params: Any) -> dict[str, Any] | None:
    with connection() as conn:
        return conn.one(sql, **params)


def execute(sql: str, **params: Any) -> int:
    with connection() as conn:
        return conn.execute(sql, **params)


def paged(select: str, count: str, page: int, per_page: int, **params: Any) -> dict[str, Any]:
    """One page of `select` (no LIMIT of its own) and the `count` query's `n`: the list shape of the API."""
    rows = query(f"{select} LIMIT :limit OFFSET :offset", limit=per_page, offset=(page - 1) * per_page, **params)
    total = one(count, **params)["n"]  # type: ignore[index]
    return {"data": rows, "page": page, "per_page": per_page, "total": total}

