"""The outbox and its publisher to the Redis stream `ims:events`.

Services write events into the `events` table in the transaction of the change (`emit`); after
commit they are published (`publish`). Publishing is exactly once per outbox row: a Lua script adds
the stream entry only if the row's marker key `ims:published:<identity>` is new. If Redis is down the
write still succeeds; `relay()` (scheduled `ops/relay`, and the gateway at start-up) publishes what
was missed, in order. redis is imported here lazily, so a function that publishes nothing never loads it.

A row's identity (`identity()`, also the stream entry's `event_id`) is its id *and* its creation
time, `42@2026-11-21T06:20:00.123456Z`, not the id alone: restoring the database from a backup (or
to any earlier point in time) rewinds the id sequence below ids Redis has already seen, and with
ids alone every new event would find its marker taken and be dropped silently, here and in the live
feed's duplicate check. The creation time tells the new row from the old one without scanning
Redis. It is written in one canonical form (UTC, microseconds, `Z`) because a row reaches `publish`
either from RETURNING (a datetime) or from a statement's json_agg (text, trailing zeros trimmed),
and the after-commit publish and the relay must yield the same key for the same row.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import datetime, timezone
from typing import Any, Iterable

from shared import db, errors, event_types, settings
from shared.jsontext import dumps
from shared.outage import Outage

log = logging.getLogger("ims.events")
outage = Outage("redis", log, refused="publishes left to the relay")

STREAM = "ims:events"
MARKER_TTL = 7 * 24 * 3600
_BACKOFF = 5.0  # seconds to leave Redis alone after a failure; the relay catches up

_PUBLISH_LUA = """
if redis.call('SET', KEYS[2], '1', 'NX', 'EX', ARGV[6]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*',
                    'event_id', ARGV[2], 'event', ARGV[3], 'data', ARGV[4], 'ts', ARGV[5])
end
return false
"""

_INSERT = ("INSERT INTO events (type, data) VALUES (:type, CAST(:data AS jsonb)) "
           "RETURNING id, type, data, created_at")
_UNPUBLISHED = ("SELECT id, type, data, created_at FROM events WHERE published_at IS NULL "
                "ORDER BY id LIMIT :n")
_MARK = "UPDATE events SET published_at = now() WHERE id = ANY(CAST(:ids AS bigint[]))"
_PRUNE = "DELETE FROM events WHERE published_at < now() - interval '30 days'"
_RELAY_LOCK = 0x1A5_0002

_client: Any = None
_script: Any = None
_lock = threading.Lock()
_down_until = 0.0


class Unavailable(errors.Unavailable):
    code = "redis_unavailable"
    detail = "Redis is unavailable; retry shortly."


def reset() -> None:
    """Forget the Redis client and any back-off; the next publish reads settings afresh (tests)."""
    global _client, _script, _down_until
    with _lock:
        client, _client, _script, _down_until = _client, None, None, 0.0
    if client is not None:
        client.close()


def redis_client() -> Any:
    global _client, _script
    if _client is None:
        with _lock:
            if _client is None:
                import redis

                client = redis.Redis.from_url(settings.get().redis_url, socket_timeout=2,
                                              socket_connect_timeout=1, health_check_interval=30)
                _script = client.register_script(_PUBLISH_LUA)
                _client = client
    return _client


def emit(conn: db.Conn, type_: str, data: dict[str, Any]) -> None:
    """Write one event into the outbox on `conn`; it is published after the commit.

    Raises event_types.UndeclaredEvent for a type not declared there or a payload whose keys differ
    from its declaration, before anything is written."""
    event_types.check(type_, data)
    publish_after_commit([conn.row(_INSERT, type=type_, data=dumps(data))])


def publish_after_commit(rows: list[dict[str, Any]]) -> None:
    if rows:
        db.after_commit(lambda: publish(rows, quiet=True))


def _ts(value: Any) -> str:
    """created_at as `2026-11-21T06:20:00.123456Z`, whether it came as a datetime (RETURNING) or as
    text from a CTE's json_agg (`2026-11-21T06:20:00.1234+00:00`: any offset, trailing zeros trimmed)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:  # timestamptz always has one; a naive value could only mean UTC
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def identity(row: dict[str, Any]) -> str:
    """An outbox row's publish-once identity, `<id>@<created_at>`: see the module docstring."""
    return f"{row['id']}@{_ts(row['created_at'])}"


def _call(row: dict[str, Any], maxlen: int) -> dict[str, list[Any]]:
    """The publish script's keys (the stream, the row's marker) and arguments for one row."""
    data = row["data"] if isinstance(row["data"], str) else json.dumps(row["data"], default=str)
    event_id = identity(row)
    return {"keys": [STREAM, f"ims:published:{event_id}"],
            "args": [maxlen, event_id, row["type"], data, _ts(row["created_at"]), MARKER_TTL]}


def publish(rows: Iterable[dict[str, Any]], quiet: bool = False) -> int:
    """Add events to the stream (skipping any already there); return how many were added.

    With quiet=True (after a commit) a Redis failure is swallowed: the relay will publish later. The
    relay itself calls with quiet=False and stops at the first failure (Unavailable). Either way the
    outage is logged once, not once per event.
    """
    global _down_until
    rows = list(rows)
    if not rows:
        return 0
    if quiet and time.monotonic() < _down_until:
        outage.failed()
        return 0
    maxlen = settings.get().stream_maxlen
    try:
        client = redis_client()
        if len(rows) == 1:
            added = [_script(**_call(rows[0], maxlen))]
        else:
            pipe = client.pipeline(transaction=False)
            for row in rows:
                _script(**_call(row, maxlen), client=pipe)
            added = pipe.execute()
    except Exception as exc:
        _down_until = time.monotonic() + _BACKOFF
        outage.failed(f"{type(exc).__name__}: {exc}")
        if not quiet:
            raise Unavailable(f"publishing failed: {type(exc).__name__}: {exc}") from exc
        return 0
    _down_until = 0.0
    outage.ok()
    return sum(1 for a in added if a)


def relay(batch: int = 500) -> int:
    """Publish, in id order, every event not yet marked published; return how many were added.

    Only one relay runs at a time: each batch is one transaction under a transaction-scoped
    advisory lock (a session lock would not survive a transaction-mode pooler). Raises Unavailable
    if Redis is unreachable.
    """
    total = 0
    while True:
        with db.transaction() as conn:
            locked = conn.one("SELECT pg_try_advisory_xact_lock(:k) AS ok", k=_RELAY_LOCK)
            if not (locked and locked["ok"]):  # another relay is at it
                return total
            rows = conn.query(_UNPUBLISHED, n=batch)
            if rows:
                total += publish(rows)
                conn.execute(_MARK, ids=[r["id"] for r in rows])
            if len(rows) < batch:
                conn.execute(_PRUNE)
                return total
