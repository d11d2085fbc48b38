"""The stock ledger (inventory_logs), alerts and the dashboard: read models over the same tables."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shared import db, errors, events
from shared.types import Principal

if TYPE_CHECKING:  # models are annotations here: a function imports only the ones it uses
    from shared.models import AlertQuery, LogQuery

_LOG_COLS = ("id, item_id, user_id, action, quantity_before, quantity_after, "
             "quantity_after - quantity_before AS delta, notes, request_id, created_at")
_ALERT_COLS = ("a.id, a.item_id, i.name AS item_name, i.sku AS item_sku, a.quantity, a.threshold, a.created_at, "
               "a.acknowledged_at IS NOT NULL AS acknowledged, a.acknowledged_at, a.acknowledged_by, a.resolved_at, "
               "a.mail_status, a.mail_attempts, a.mail_sent_at, a.mail_last_error")


def logs(q: LogQuery, item_id: int | None = None) -> dict[str, Any]:
    where, params = [], {}
    filters = {"item_id": "item_id = :item_id", "user_id": "user_id = :user_id", "action": "action = :action",
               "since": "created_at >= :since", "until": "created_at < :until"}
    values = q.model_dump(include=set(filters))
    if item_id is not None:
        values["item_id"] = item_id
    for field, clause in filters.items():
        if values.get(field) is not None:
            where.append(clause)
            params[field] = values[field]
    cond = " AND ".join(where) or "true"
    return db.paged(f"SELECT {_LOG_COLS} FROM inventory_logs WHERE {cond} ORDER BY id DESC",
                  f"SELECT count(*) AS n FROM inventory_logs WHERE {cond}", q.page, q.per_page, **params)


def item_history(item_id: int, q: LogQuery) -> dict[str, Any]:
    if db.one("SELECT 1 AS seen FROM inventory_logs WHERE item_id = :id LIMIT 1", id=item_id) is None:
        raise errors.NotFound(f"Item {item_id} has no history.")
    return logs(q, item_id=item_id)


def alerts(q: AlertQuery) -> dict[str, Any]:
    where = [{None: "true", True: "a.acknowledged_at IS NOT NULL", False: "a.acknowledged_at IS NULL"}[q.acknowledged]]
    if q.mail_status is not None:
        where.append("a.mail_status = :mail_status")
    cond = " AND ".join(where)
    return db.paged(f"SELECT {_ALERT_COLS} FROM alerts a JOIN items i ON i.id = a.item_id WHERE {cond} "
                    "ORDER BY a.id DESC", f"SELECT count(*) AS n FROM alerts a WHERE {cond}", q.page, q.per_page,
                    **({"mail_status": q.mail_status} if q.mail_status else {}))


def acknowledge(alert_id: int, user: Principal) -> dict[str, Any]:
    with db.transaction() as conn:
        first = conn.one("UPDATE alerts SET acknowledged_at = now(), acknowledged_by = :user_id "
                         "WHERE id = :id AND acknowledged_at IS NULL RETURNING id", id=alert_id, user_id=user.id)
        alert = conn.one(f"SELECT {_ALERT_COLS} FROM alerts a JOIN items i ON i.id = a.item_id WHERE a.id = :id",
                         id=alert_id)
        if alert is None:
            raise errors.NotFound(f"Alert {alert_id} does not exist.")
        if first:  # acknowledging twice is harmless and announces nothing new
            events.emit(conn, "alert_acknowledged", {"alert": alert, "user": {"id": user.id}})
        return alert


_SUMMARY = """
SELECT count(*) AS total_items, coalesce(sum(quantity), 0) AS total_quantity,
       round(coalesce(sum(quantity * price), 0), 2) AS total_value,
       count(*) FILTER (WHERE quantity < low_stock_threshold) AS low_stock_count
FROM items"""
_RECENT = """
SELECT l.id, l.item_id, i.name AS item_name, l.action, l.quantity_before, l.quantity_after, l.user_id, l.created_at
FROM inventory_logs l LEFT JOIN items i ON i.id = l.item_id ORDER BY l.id DESC LIMIT 10"""
_BREAKDOWN = """
SELECT c.id AS category_id, c.name, count(i.id) AS item_count, coalesce(sum(i.quantity), 0) AS total_quantity
FROM categories c LEFT JOIN items i ON i.category_id = c.id GROUP BY c.id
UNION ALL
SELECT NULL, 'Uncategorized', count(*), coalesce(sum(quantity), 0) FROM items WHERE category_id IS NULL
HAVING count(*) > 0
ORDER BY 2"""

# Stock in and out per UTC calendar day, the `days` days ending today, days without movements included:
# the ledger's rows of the window (one range scan of its created_at index) grouped by day, joined to
# the series of days. Rows that changed no quantity (an edit of other fields) are not movements.
_MOVEMENTS = """
WITH today AS (SELECT (now() AT TIME ZONE 'UTC')::date AS day),
moved AS (
    SELECT (l.created_at AT TIME ZONE 'UTC')::date AS day,
           sum(greatest(l.quantity_after - l.quantity_before, 0)) AS stock_in,
           sum(greatest(l.quantity_before - l.quantity_after, 0)) AS stock_out,
           count(*) AS movements
    FROM inventory_logs l, today
    WHERE l.created_at >= (today.day - CAST(:days AS integer) + 1)::timestamp AT TIME ZONE 'UTC'
      AND l.quantity_after <> l.quantity_before
    GROUP BY 1)
SELECT today.day - back AS date, coalesce(moved.stock_in, 0) AS stock_in,
       coalesce(moved.stock_out, 0) AS stock_out, coalesce(moved.movements, 0) AS movements
FROM today CROSS JOIN generate_series(CAST(:days AS integer) - 1, 0, -1) AS back
LEFT JOIN moved ON moved.day = today.day - back
ORDER BY back DESC"""


def summary() -> dict[str, Any]:
    totals = db.one(_SUMMARY)
    assert totals is not None
    return {**totals, "recent_activity": db.query(_RECENT)}


def category_breakdown() -> list[dict[str, Any]]:
    return db.query(_BREAKDOWN)


def movements(days: int) -> dict[str, Any]:
    return {"days": days, "data": db.query(_MOVEMENTS, days=days)}
