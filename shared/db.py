"""PostgreSQL through pg8000: a small thread-safe pool, lazy, self-healing, with prepared statements.

Module-level `query` / `one` / `execute` run on the calling thread's open transaction when there is
one, else on a pooled connection in autocommit (one statement = one implicit transaction). Every
statement is prepared once per connection and cached by its text, so a hot statement costs one
round trip. `transaction()` nests: an inner block joins the outer one, and `after_commit`
callbacks run once the outermost block has committed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from contextlib import contextmanager
from typing import Any, Callable, Iterator
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("ims.db")

_STMT_CACHE = 256
_PING_AFTER = 10.0  # seconds idle after which a pooled connection is checked before use


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


class Conn:
    """One pg8000 connection plus its prepared statements."""

    def __init__(self, url: str) -> None:
        import pg8000.native

        # Below the functions' 15 s platform limit, so a hung database still gets a problem+json answer.
        self.raw = pg8000.native.Connection(**connect_args(url), timeout=10)
        self.statements: dict[str, Any] = {}
        self.used = time.monotonic()

    def _prepared(self, sql: str) -> Any:
        ps = self.statements.get(sql)
        if ps is None:
            if len(self.statements) >= _STMT_CACHE:
                self.statements.pop(next(iter(self.statements))).close()
            ps = self.statements[sql] = self.raw.prepare(sql)
        return ps

    def query(self, sql: str, **params: Any) -> list[dict[str, Any]]:
        ps = self._prepared(sql)
        rows = ps.run(**params)
        if not rows:
            return []
        names = [c["name"] for c in ps.columns]
        return [dict(zip(names, row)) for row in rows]

    def one(self, sql: str, **params: Any) -> dict[str, Any] | None:
        rows = self.query(sql, **params)
        return rows[0] if rows else None

    def execute(self, sql: str, **params: Any) -> int:
        ps = self._prepared(sql)
        ps.run(**params)
        return int(ps._context.row_count)

    def simple(self, sql: str) -> None:
        """Run a statement without parameters (DDL, BEGIN, COMMIT...)."""
        self.raw.run(sql)

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:  # already broken; nothing to tell anyone
            pass


class Pool:
    def __init__(self, url: str, size: int) -> None:
        self.url, self.size = url, size
        self.idle: deque[Conn] = deque()
        self.opened = 0
        self.cond = threading.Condition()

    def acquire(self) -> Conn:
        with self.cond:
            while not self.idle and self.opened >= self.size:
                self.cond.wait()
            if self.idle:
                conn = self.idle.pop()
            else:
                self.opened += 1
                conn = None
        if conn is None:
            try:
                return Conn(self.url)
            except BaseException:
                self._forget()
                raise
        if time.monotonic() - conn.used > _PING_AFTER:
            try:
                conn.simple("SELECT 1")
            except Exception:  # dropped while idle (server restart, idle timeout): replace it
                conn.close()
                self._forget()
                return self.acquire()
        return conn

    def release(self, conn: Conn, broken: bool = False) -> None:
        if broken:
            conn.close()
            self._forget()
            return
        conn.used = time.monotonic()
        with self.cond:
            self.idle.append(conn)
            self.cond.notify()

    def _forget(self) -> None:
        with self.cond:
            self.opened -= 1
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            while self.idle:
                self.idle.pop().close()
                self.opened -= 1


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
                _pool = Pool(s.database_url, s.db_pool_size)
    return _pool


def close_pool() -> None:
    global _pool
    if _pool is not None:
        _pool.close()
        _pool = None


def _broken(exc: BaseException) -> bool:
    """A connection that raised anything but a server-side SQL error can't be trusted again."""
    import pg8000.exceptions

    return not isinstance(exc, pg8000.exceptions.DatabaseError)


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
        p.release(conn, broken=_broken(exc))
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
            _local.tx = None
            try:
                conn.simple("ROLLBACK")
            except Exception:
                pass
            raise
        finally:
            _local.tx = None
    for fn in tx.callbacks:
        _run_callback(fn)


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


def sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a server error (e.g. '23505' unique violation), else None."""
    args = getattr(exc, "args", None)
    if args and isinstance(args[0], dict):
        return args[0].get("C")
    return None
