"""shared/db.py when things go wrong: typed errors, a pooled connection kept after a refusal and replaced
after a break, an outage logged once; and shared.outage on its own clock."""

from __future__ import annotations

import logging
import threading

import pytest

from shared import db, errors
from shared.outage import REPORT_EVERY, Outage
from tests.conftest import wait_until

_PID = "SELECT pg_backend_pid() AS pid"


def _backends() -> set[int]:
    """IMS's connections to the test database, as the server sees them."""
    rows = db.query("SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name = 'ims'")
    return {r["pid"] for r in rows}


@pytest.mark.parametrize("refusal", [errors.NotFound("no"), errors.PreconditionFailed("no"),
                                     errors.Conflict("no"), ValueError("a bug, but ROLLBACK works")])
def test_an_error_inside_a_transaction_keeps_the_pooled_connection(services, refusal):
    pid = db.one(_PID)["pid"]
    opened = db.pool().opened
    with pytest.raises(type(refusal)):
        with db.transaction() as conn:
            assert conn.one(_PID)["pid"] == pid  # the pool hands out its most recent connection
            conn.execute("UPDATE items SET name = name WHERE id = -1")
            raise refusal
    assert db.one(_PID)["pid"] == pid
    assert db.pool().opened == opened
    assert db.one("SELECT 1 AS ok")["ok"] == 1  # and it is not left inside the aborted transaction


def test_a_statement_the_server_refuses_inside_a_transaction_keeps_the_connection(services, item):
    pid = db.one(_PID)["pid"]
    with pytest.raises(db.CheckViolation):
        with db.transaction() as conn:
            conn.execute("UPDATE items SET quantity = -1 WHERE id = :id", id=item["id"])
    assert db.one(_PID)["pid"] == pid
    assert db.one("SELECT quantity FROM items WHERE id = :id", id=item["id"])["quantity"] == 100


def test_a_404_over_http_opens_no_new_database_connection(api, manager):
    api.get("/api/v1/items/1", token=manager["token"])  # warm
    before = _backends()
    for _ in range(5):
        res = api.patch("/api/v1/items/999999999", {"name": "x"}, token=manager["token"])
        assert res.status == 404, res.text  # raised inside the update's transaction
    assert _backends() == before


def test_a_broken_connection_is_replaced(services, caplog):
    db.one("SELECT 1 AS ok")
    pid = db.one(_PID)["pid"]
    with caplog.at_level(logging.INFO, logger="ims.db"):
        with pytest.raises(db.Unavailable) as caught:
            with db.transaction() as conn:
                conn.one("SELECT pg_terminate_backend(pg_backend_pid())")  # the server ends this session
        assert caught.value.sqlstate in ("57P01", None)
        assert db.one(_PID)["pid"] != pid
    assert pid not in _backends()
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0].startswith("database unavailable (") and messages[-1].startswith("database available again")


def test_a_connection_refused_is_unavailable_and_the_pool_gives_its_slot_back(services):
    pool = db.Pool("postgresql://x@127.0.0.1:1/x", 1)
    for _ in range(3):  # a leaked slot would make the second acquire wait forever
        with pytest.raises(db.Unavailable) as caught:
            pool.acquire()
        assert isinstance(caught.value, errors.Unavailable) and caught.value.code == "database_unavailable"
    assert pool.opened == 0


def test_sql_errors_are_typed_and_carry_no_driver(services):
    with pytest.raises(db.Error) as caught:
        db.one("SELECT * FROM no_such_table")
    assert type(caught.value) is db.Error and caught.value.sqlstate == "42P01"
    with pytest.raises(db.OutOfRange):
        db.one("SELECT CAST(2147483647 AS integer) + 1 AS n")


# --- shared.outage ------------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_an_outage_is_one_line_then_one_a_minute_then_one_when_it_ends(caplog):
    clock = Clock()
    outage = Outage("thing", logging.getLogger("test.outage"), clock=clock)
    with caplog.at_level(logging.INFO, logger="test.outage"):
        outage.ok()
        for _ in range(500):
            outage.failed("refused")
            clock.now += 0.1  # 500 failures over 50 s: still within the first minute
        assert [r.getMessage() for r in caplog.records] == ["thing unavailable (refused)"]
        clock.now += REPORT_EVERY
        outage.failed()
        outage.failed("timed out")
        clock.now += 5
        outage.ok()
        outage.ok()
    assert [r.getMessage() for r in caplog.records] == [
        "thing unavailable (refused)",
        "thing still unavailable (refused), 500 requests refused in the last minute",
        "thing available again after 115 s (502 requests refused)",
    ]
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING", "INFO"]


def test_a_pool_whose_connections_are_all_out_answers_unavailable_in_bounded_time(services, monkeypatch, caplog):
    """...and says so as the pool's saturation, not as the database being down: it answers fine."""
    from shared import settings

    monkeypatch.setattr(db, "_POOL_WAIT", 0.2)
    pool = db.Pool(settings.get().database_url, 1)
    held = pool.acquire()
    try:
        with caplog.at_level(logging.INFO, logger="ims.db"):
            with pytest.raises(db.Unavailable, match="all 1 connections busy"):
                pool.acquire()
    finally:
        pool.release(held)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["database connection pool unavailable (all 1 connections busy for 0.2 s)"]
    assert not db.outage.down
    again = pool.acquire()  # the slot is free again
    pool.release(again)
    pool.close()
    assert pool.opened == 0


def _queue(pool: db.Pool, name: str, got: list[str]) -> threading.Thread:
    """A thread that waits for one of `pool`'s connections, notes its turn in `got`, and gives it back."""
    def take() -> None:
        conn = pool.acquire()
        got.append(name)
        pool.release(conn)

    before = len(pool.waiters)
    thread = threading.Thread(target=take)
    thread.start()
    wait_until(lambda: len(pool.waiters) > before, 5, f"{name} queued")
    return thread


def test_a_busy_pool_serves_its_waiters_first_come_first_served(services):
    from shared import settings

    pool = db.Pool(settings.get().database_url, 1)
    held = pool.acquire()
    got: list[str] = []
    threads = [_queue(pool, name, got) for name in ("first", "second", "third")]
    pool.release(held)
    for thread in threads:
        thread.join(10)
    assert got == ["first", "second", "third"]
    pool.close()
    assert pool.opened == 0 and not pool.waiters


def test_a_closed_connections_slot_goes_to_the_longest_waiter(services):
    from shared import settings

    pool = db.Pool(settings.get().database_url, 1)
    held = pool.acquire()
    got: list[str] = []
    thread = _queue(pool, "waiter", got)
    pool.release(held, broken=True)  # closed, not handed on: the waiter opens a connection of its own
    thread.join(10)
    assert got == ["waiter"] and pool.opened == 1
    pool.close()
    assert pool.opened == 0


class _Interrupted(BaseException):
    """What a signal handler raises in the middle of a wait (as KeyboardInterrupt would)."""


def _interrupt_the_wait(pool: db.Pool, meanwhile=lambda: None) -> None:
    """Interrupt this (the main) thread once it waits in `pool.acquire()`: a signal whose handler runs
    `meanwhile`, then raises."""
    import signal

    def handler(signum, frame):
        meanwhile()
        raise _Interrupted

    previous = signal.signal(signal.SIGUSR1, handler)
    main = threading.main_thread().ident
    assert main == threading.get_ident()

    def signal_once_queued() -> None:
        wait_until(lambda: pool.waiters, 5, "the main thread queued")
        signal.pthread_kill(main, signal.SIGUSR1)

    sender = threading.Thread(target=signal_once_queued)
    sender.start()
    try:
        with pytest.raises(_Interrupted):
            pool.acquire()
    finally:
        sender.join(10)
        signal.signal(signal.SIGUSR1, previous)


@pytest.mark.parametrize("served", [False, True], ids=["still-queued", "served-meanwhile"])
def test_a_waiter_interrupted_loses_no_connection(services, served):
    """Interrupted while queued, a waiter leaves the queue; served just before, it passes the connection on."""
    from shared import settings

    pool = db.Pool(settings.get().database_url, 1)
    held = pool.acquire()
    _interrupt_the_wait(pool, (lambda: pool.release(held)) if served else (lambda: None))
    assert not pool.waiters
    if not served:
        pool.release(held)
    assert len(pool.idle) == 1 and pool.opened == 1  # back in the pool, not with the interrupted waiter
    again = pool.acquire()
    pool.release(again)
    pool.close()
    assert pool.opened == 0


def test_a_waiter_interrupted_after_a_slot_freed_passes_the_slot_on(services):
    from shared import settings

    pool = db.Pool(settings.get().database_url, 1)
    held = pool.acquire()
    _interrupt_the_wait(pool, lambda: pool.release(held, broken=True))  # the slot, not a connection
    assert not pool.waiters and pool.opened == 0 and not pool.idle
    again = pool.acquire()
    pool.release(again)
    pool.close()
    assert pool.opened == 0


def test_only_a_server_that_went_away_takes_the_idle_connections_with_it():
    """A reset or a shutdown ends every connection; a timeout (a long lock wait) ends only its own."""
    import pg8000.exceptions

    def lost(cause: OSError) -> db.Unavailable:
        exc = pg8000.exceptions.InterfaceError("network error")
        exc.__cause__ = cause
        typed = db._typed(exc)
        assert typed is not None and isinstance(typed[0], db.Unavailable) and typed[1] is False
        return typed[0]

    assert lost(ConnectionResetError(104, "reset")).server_gone
    assert lost(ConnectionRefusedError(111, "refused")).server_gone
    assert not lost(TimeoutError("timed out")).server_gone
    shutdown = pg8000.exceptions.DatabaseError({"S": "FATAL", "C": "57P01", "M": "terminating connection"})
    assert db._typed(shutdown)[0].server_gone  # type: ignore[index]
    one_session = pg8000.exceptions.DatabaseError({"S": "FATAL", "C": "25P03", "M": "idle-in-transaction timeout"})
    assert not db._typed(one_session)[0].server_gone  # type: ignore[index]
