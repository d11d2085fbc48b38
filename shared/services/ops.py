"""Health, the system status, and who may read the Prometheus metrics (their gauges: shared.services.metrics)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from shared import db, errors, events, settings

# The live feed's servers (realtime.registry) each keep a field here, their id (host:pid), whose value
# is live_entry(): their connection count and when they wrote it, at least every 10 s; a server that
# stops cleanly removes its field. One not updated for LIVE_STALE_SECONDS belongs to a server that died
# without saying so: the status ignores it and removes it.
LIVE_SERVERS = "ims:realtime:servers"
LIVE_STALE_SECONDS = 60.0

# The outbox's backlog and the last backups' outcome: /system/status shows them, /metrics turns them
# into gauges (shared.services.metrics selects from these same statements).
OUTBOX_STATE = """
SELECT count(*) AS unpublished, min(created_at) AS oldest_unpublished_at FROM events WHERE published_at IS NULL"""
BACKUP_STATE = """
SELECT (SELECT max(finished_at) FROM backup_runs WHERE kind = 'backup' AND succeeded) AS last_success_at,
       (SELECT size_bytes FROM backup_runs WHERE kind = 'backup' AND succeeded
         ORDER BY finished_at DESC, id DESC LIMIT 1) AS last_size_bytes,
       (SELECT max(finished_at) FROM backup_runs WHERE kind = 'backup' AND NOT succeeded) AS last_failure_at"""
_ALERT_STATE = """
SELECT (SELECT count(*) FROM alerts WHERE resolved_at IS NULL) AS open,
       (SELECT count(*) FROM alerts WHERE mail_status IN ('pending', 'sending')) AS mail_pending,
       (SELECT count(*) FROM alerts WHERE mail_status = 'failed') AS mail_failed"""
_STATUS = f"""
SELECT outbox.*, backup.*, alerts.*
FROM ({OUTBOX_STATE}) AS outbox, ({BACKUP_STATE}) AS backup, ({_ALERT_STATE}) AS alerts"""
_SECTIONS = {"outbox": ("unpublished", "oldest_unpublished_at"),
             "backup": ("last_success_at", "last_size_bytes", "last_failure_at"),
             "alerts": ("open", "mail_pending", "mail_failed")}


def _ping_database() -> None:
    db.one("SELECT 1 AS ok")


def _ping_redis() -> None:
    events.redis_client().ping()


_PROBES: dict[str, Callable[[], None]] = {"database": _ping_database, "redis": _ping_redis}


def _probe(check: Callable[[], None]) -> tuple[str, float]:
    """("ok" or "down: <error class>", milliseconds the check took)."""
    started = time.perf_counter()
    try:
        check()
        outcome = "ok"
    except Exception as exc:
        outcome = f"down: {exc.__class__.__name__}"
    return outcome, round((time.perf_counter() - started) * 1000, 2)


def health() -> tuple[bool, dict[str, str]]:
    checks = {name: _probe(check)[0] for name, check in _PROBES.items()}
    return all(v == "ok" for v in checks.values()), checks


def status() -> dict[str, Any]:
    """Each dependency's check and latency, and what is read from it; a section whose dependency is
    down is None, and the status "degraded"."""
    from redis.exceptions import RedisError  # loaded already: the probe made the client

    checks: dict[str, dict[str, Any]] = {}
    for name, check in _PROBES.items():
        outcome, ms = _probe(check)
        checks[name] = {"ok": outcome == "ok", "latency_ms": ms if outcome == "ok" else None}
    figures: dict[str, Any] | None = None
    live: dict[str, Any] | None = None
    if checks["database"]["ok"]:
        try:
            figures = db.one(_STATUS)
        except errors.Unavailable:  # went away since the check
            checks["database"] = {"ok": False, "latency_ms": None}
    if checks["redis"]["ok"]:
        try:
            live = live_feed()
        except (RedisError, OSError):
            checks["redis"] = {"ok": False, "latency_ms": None}
    sections = {name: None if figures is None else {key: figures[key] for key in keys}
                for name, keys in _SECTIONS.items()}
    return {"status": "ok" if all(c["ok"] for c in checks.values()) else "degraded",
            "time": datetime.now(timezone.utc), "checks": checks, "outbox": sections["outbox"], "live": live,
            "backup": sections["backup"], "alerts": sections["alerts"]}


def live_entry(connections: int, at: datetime | None = None) -> str:
    """What a realtime server writes under its id in LIVE_SERVERS."""
    moment = (at or datetime.now(timezone.utc)).astimezone(timezone.utc)
    return json.dumps({"connections": connections,
                       "updated_at": moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")})


def live_feed() -> dict[str, Any]:
    """The live feed's servers that reported lately and their connections. Stale or unreadable fields
    are removed: should that server write again meanwhile, its next report (10 s later) brings it back."""
    client = events.redis_client()
    now = datetime.now(timezone.utc)
    servers, stale = [], []
    for field, value in client.hgetall(LIVE_SERVERS).items():
        server = _live_server(field.decode(errors="replace"), value, now)
        if server is None:
            stale.append(field)
        else:
            servers.append(server)
    if stale:
        client.hdel(LIVE_SERVERS, *stale)
    servers.sort(key=lambda s: s["id"])
    return {"connections": sum(s["connections"] for s in servers), "servers": servers}


def _live_server(server_id: str, value: bytes, now: datetime) -> dict[str, Any] | None:
    try:
        entry = json.loads(value)
        connections, updated_at = entry["connections"], datetime.fromisoformat(entry["updated_at"])
    except (ValueError, TypeError, KeyError):
        return None
    if type(connections) is not int or updated_at.tzinfo is None:
        return None
    if (now - updated_at).total_seconds() > LIVE_STALE_SECONDS:
        return None
    return {"id": server_id, "connections": connections, "updated_at": updated_at}


def metrics_allowed(authorization: str | None) -> bool:
    """/metrics holds business figures: with METRICS_TOKEN set, only `Bearer <METRICS_TOKEN>` reads
    them (Prometheus sends it with `authorization: {credentials: …}`); unset, anyone may."""
    import hmac

    expected = settings.get().metrics_token
    if not expected:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())
