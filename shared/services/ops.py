"""Health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from shared import db, events, settings

_GAUGES = """
SELECT (SELECT count(*) FROM items) AS items,
       (SELECT coalesce(sum(quantity), 0) FROM items) AS stock_quantity,
       (SELECT count(*) FROM items WHERE quantity < low_stock_threshold) AS low_stock_items,
       (SELECT count(*) FROM alerts WHERE resolved_at IS NULL) AS open_alerts,
       (SELECT count(*) FROM users WHERE is_active) AS active_users,
       (SELECT count(*) FROM events WHERE published_at IS NULL) AS outbox_pending,
       (SELECT coalesce(extract(epoch FROM now() - min(created_at)), 0) FROM events
         WHERE published_at IS NULL) AS outbox_oldest_seconds"""

_HELP = {
    "items": "Items in the inventory.",
    "stock_quantity": "Sum of all item quantities.",
    "low_stock_items": "Items below their low-stock threshold.",
    "open_alerts": "Low-stock alerts not yet resolved.",
    "active_users": "Active user accounts.",
    "outbox_pending": "Outbox events not yet marked published by the relay.",
    "outbox_oldest_seconds": "Age of the oldest event the relay has not marked published.",
    "stream_length": "Entries in the Redis stream ims:events.",
}


def health() -> tuple[bool, dict[str, str]]:
    checks = {}
    try:
        db.one("SELECT 1 AS ok")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down: {exc.__class__.__name__}"
    try:
        events.redis_client().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {exc.__class__.__name__}"
    return all(v == "ok" for v in checks.values()), checks


def metrics() -> str:
    values: dict[str, Any] = dict(db.one(_GAUGES) or {})
    try:
        values["stream_length"] = events.redis_client().xlen(events.STREAM)
    except Exception:
        values["stream_length"] = None  # reported as absent rather than as a false zero
    lines = []
    for name, value in values.items():
        if value is None:
            continue
        lines += [f"# HELP ims_{name} {_HELP[name]}", f"# TYPE ims_{name} gauge", f"ims_{name} {float(value):g}"]
    return "\n".join(lines) + "\n"


def metrics_allowed(authorization: str | None) -> bool:
    """/metrics holds business figures: with METRICS_TOKEN set, only `Bearer <METRICS_TOKEN>` reads
    them (Prometheus sends it with `authorization: {credentials: …}`); unset, anyone may."""
    import hmac

    expected = settings.get().metrics_token
    if not expected:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())
