"""Items and stock movements.

A movement (restock, withdraw, count) is ONE statement: a conditional UPDATE … RETURNING feeding,
in data-modifying CTEs, the ledger row, the edge-triggered alert (or its resolution) and the outbox
events. It is atomic on its own, race-free under READ COMMITTED, one round trip as a prepared
statement, and cannot oversell: the row is only updated while `quantity + delta >= 0`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from shared import db, errors, event_types, events, invoke
from shared.types import Principal

if TYPE_CHECKING:  # models are annotations here: a function imports only the ones it uses
    from shared.models import ItemCreate, ItemFilter, ItemPatch, ItemQuery, ItemReplace

ITEM_COLS = ("id, name, sku, description, category_id, location_id, quantity, unit, price, "
             "low_stock_threshold, quantity < low_stock_threshold AS is_low_stock, version, "
             "created_at, updated_at")
EDITABLE = ("name", "sku", "description", "category_id", "location_id", "unit", "price",
            "low_stock_threshold")

# The movement's outbox rows: each payload's keys come from its declaration (shared.event_types), the
# SQL that fills each key from here; a key missing or extra fails at import.
_STOCK_CHANGED = event_types.sql_payload("stock_changed", {
    "item_id": "id", "sku": "sku", "name": "name", "previous_quantity": "quantity_before",
    "quantity": "quantity", "delta": "CAST(:delta AS integer)", "action": "CAST(:action AS text)",
    "user": "jsonb_build_object('id', CAST(:user_id AS bigint))",
    "low_stock_threshold": "low_stock_threshold", "is_low_stock": "is_low_stock", "version": "version"})
_LOW_STOCK_ALERT = event_types.sql_payload("low_stock_alert", {
    "alert_id": "raised.id", "item_id": "moved.id", "sku": "moved.sku", "name": "moved.name",
    "quantity": "raised.quantity", "threshold": "raised.threshold", "unit": "moved.unit"})
_STOCK_RECOVERED = event_types.sql_payload("stock_recovered", {
    "alert_id": "resolved.id", "item_id": "moved.id", "sku": "moved.sku", "name": "moved.name",
    "quantity": "moved.quantity", "threshold": "moved.low_stock_threshold"})

_MOVE = f"""
WITH moved AS (
    UPDATE items SET quantity = quantity + :delta, version = version + 1, updated_at = now()
    WHERE id = :id AND quantity + :delta >= 0
    RETURNING {ITEM_COLS}, quantity - :delta AS quantity_before
), ledger AS (
    INSERT INTO inventory_logs (item_id, user_id, action, quantity_before, quantity_after, notes, request_id)
    SELECT id, :user_id, :action, quantity_before, quantity, :notes, :request_id FROM moved
), raised AS (
    INSERT INTO alerts (item_id, quantity, threshold)
    SELECT id, quantity, low_stock_threshold FROM moved WHERE :delta < 0 AND quantity < low_stock_threshold
    ON CONFLICT (item_id) WHERE resolved_at IS NULL DO NOTHING
    RETURNING id, item_id, quantity, threshold
), resolved AS (
    UPDATE alerts SET resolved_at = now() FROM moved
    WHERE alerts.item_id = moved.id AND alerts.resolved_at IS NULL
      AND moved.quantity >= moved.low_stock_threshold
    RETURNING alerts.id
), outbox AS (
    INSERT INTO events (type, data)
    SELECT {_STOCK_CHANGED} FROM moved
    UNION ALL
    SELECT {_LOW_STOCK_ALERT} FROM raised, moved
    UNION ALL
    SELECT {_STOCK_RECOVERED} FROM resolved, moved
    RETURNING id, type, data, created_at
)
SELECT moved.*, (SELECT json_agg(outbox ORDER BY outbox.id) FROM outbox) AS events
FROM (SELECT 1) AS one LEFT JOIN moved ON true"""

_GET = f"SELECT {ITEM_COLS} FROM items WHERE id = :id"
_QUANTITY = "SELECT quantity FROM items WHERE id = :id"
_LOCK = f"SELECT {ITEM_COLS} FROM items WHERE id = :id FOR UPDATE"
_INSERT = f"""
INSERT INTO items (name, sku, description, category_id, location_id, quantity, unit, price, low_stock_threshold)
VALUES (:name, :sku, :description, :category_id, :location_id, :quantity, :unit, :price, :low_stock_threshold)
ON CONFLICT (lower(sku)) DO NOTHING
RETURNING {ITEM_COLS}"""
_DELETE = f"DELETE FROM items WHERE id = :id RETURNING {ITEM_COLS}"
_LOG = """
INSERT INTO inventory_logs (item_id, user_id, action, quantity_before, quantity_after, notes, request_id)
VALUES (:item_id, :user_id, :action, :before, :after, :notes, :request_id)"""
_RAISE = """
INSERT INTO alerts (item_id, quantity, threshold) VALUES (:id, :quantity, :threshold)
ON CONFLICT (item_id) WHERE resolved_at IS NULL DO NOTHING RETURNING id"""
_RESOLVE = "UPDATE alerts SET resolved_at = now() WHERE item_id = :id AND resolved_at IS NULL RETURNING id"
SKU_IS = "lower(sku) = lower(:sku)"  # exact, in any case: the unique index items_sku_key answers it
_SKU_TAKEN = f"SELECT 1 AS taken FROM items WHERE {SKU_IS} AND id <> :id"

SORTS = {"name": "lower(name)", "sku": "lower(sku)", "quantity": "quantity", "price": "price",
         "updated_at": "updated_at", "created_at": "created_at"}
NULLS_LAST = {"price"}  # the one sort key that may be null: items without a price come last either way


def _public(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("quantity_before", "events"):
        row.pop(key, None)
    return row


def _who(user: Principal) -> dict[str, Any]:
    return {"id": user.id}


_mail = threading.local()  # .batch: the alert ids collected by one_mail_for_alerts, if one is running


def _mail_after_commit(alert_ids: list[int]) -> None:
    """Chain the low-stock mailer once the alert is committed: fire-and-forget, never failing the write."""
    batch = getattr(_mail, "batch", None)
    if batch is not None and alert_ids:
        db.after_commit(lambda: batch.extend(alert_ids))
    elif alert_ids:
        db.after_commit(lambda: invoke.invoke_async("notify/low-stock-mailer", {"alert_ids": alert_ids}))


@contextmanager
def one_mail_for_alerts() -> Iterator[None]:
    """The writes in the block chain the mailer once, for every alert they opened that committed, rather
    than once per alert: a bulk import would otherwise start thousands of invocations (the platform
    allows 600 a minute)."""
    batch: list[int] = []
    _mail.batch = batch
    try:
        yield
    finally:
        _mail.batch = None
        # After the collecting callbacks: at once when each write had its own transaction, else when
        # the enclosing one commits (never, if it rolls back).
        db.after_commit(lambda: batch and invoke.invoke_async("notify/low-stock-mailer", {"alert_ids": batch}))


# --- reads --------------------------------------------------------------------------------------

def get(item_id: int) -> dict[str, Any]:
    item = db.one(_GET, id=item_id)
    if item is None:
        raise errors.NotFound(f"Item {item_id} does not exist.")
    return item


def _like(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filters(q: ItemFilter) -> tuple[str | None, list[str], dict[str, Any]]:
    """What a filter (GET /items, its export) selects: the trigram narrowing (None when no search word
    has three characters), the conditions, and their parameters."""
    narrow, where, params = None, [], {}
    if q.search:
        if len(q.search) >= 3:  # the trigram index narrows; LIKE re-checks
            narrow = "ims_trigrams(lower(name) || ' ' || lower(sku)) @> ims_trigrams(lower(:search))"
            params["search"] = q.search
        where.append("(lower(name) LIKE :pattern OR lower(sku) LIKE :pattern)")
        params["pattern"] = _like(q.search)
    if q.sku is not None:
        where.append(SKU_IS)
        params["sku"] = q.sku
    for field, clause in (("category_id", "category_id = :category_id"),
                          ("location_id", "location_id = :location_id"),
                          ("min_quantity", "quantity >= :min_quantity"),
                          ("max_quantity", "quantity <= :max_quantity")):
        if getattr(q, field) is not None:
            where.append(clause)
            params[field] = getattr(q, field)
    if q.below_threshold is not None:
        where.append("quantity < low_stock_threshold" if q.below_threshold else "quantity >= low_stock_threshold")
    return narrow, where, params


def order_by(q: ItemFilter) -> str:
    """The ORDER BY of a filter: its sort key, then the id (a total order, for pages and cursors)."""
    direction = "DESC" if q.order == "desc" else "ASC"
    nulls = " NULLS LAST" if q.sort_by in NULLS_LAST else ""
    return f"{SORTS[q.sort_by]} {direction}{nulls}, id {direction}"


def search(q: ItemQuery) -> dict[str, Any]:
    narrow, where, params = filters(q)
    order = order_by(q)
    offset = (q.page - 1) * q.per_page
    page = {"limit": q.per_page, "offset": offset}
    from shared import settings

    limit = settings.get().exact_total_limit
    if narrow is None and not where:  # the whole table: its size from the catalogue rides along
        rows = db.query(f"SELECT {ITEM_COLS}, ({_RELTUPLES}) AS reltuples FROM items ORDER BY {order} "
                        "LIMIT :limit OFFSET :offset", **page)
        tuples = [row.pop("reltuples") for row in rows]
        if _last_page(offset, len(rows), q.per_page):
            total, estimated = offset + len(rows), False
        elif not rows:  # past the end
            total, estimated = _counted("true", params, offset, 0)
        elif tuples[0] > limit:  # -1: never analysed, then a count it is
            total, estimated = max(int(tuples[0]), offset + len(rows)), True
        else:
            total, estimated = _counted("true", params, limit, offset + len(rows))
        return _page(q, rows, total, estimated)
    cond = " AND ".join(c for c in (narrow, *where) if c)
    total, estimated = _counted(cond, params, limit, 0)
    walk = cond
    if estimated and narrow and q.sort_by in ("name", "sku"):
        # A common word: walking the sort's index and filtering finds a page sooner than reading every
        # match through the trigram index and sorting them (the planner cannot tell: it misjudges how
        # many rows a trigram search matches).
        walk = " AND ".join(where)
    rows = db.query(f"SELECT {ITEM_COLS} FROM items WHERE {walk} ORDER BY {order} LIMIT :limit OFFSET :offset",
                    **page, **params)
    if estimated:
        if _last_page(offset, len(rows), q.per_page):
            total, estimated = offset + len(rows), False
        elif not rows:  # past the end
            total, estimated = _counted(cond, params, offset, 0)
        else:
            total = max(total, offset + len(rows))
    return _page(q, rows, total, estimated)


def _page(q: ItemQuery, rows: list[dict[str, Any]], total: int, estimated: bool) -> dict[str, Any]:
    return {"data": rows, "page": q.page, "per_page": q.per_page, "total": total, "total_estimated": estimated}


# Counting every match of a broad query costs more than the page itself (100k rows for the plain
# list), so a list counts exactly only up to settings.exact_total_limit matches, and past that
# reports an estimate: the table's row count from the catalogue when nothing filters, else an
# extrapolation of the capped count. Rows come out of a scan in the order of the table's pages, so
# `limit + 1` matches found by page `last` of `pages` suggest `(limit + 1) * pages / (last + 1)` in all
# (matches spread evenly; PostgreSQL's own estimate is far off for trigram searches). Never fewer than
# the pages have shown; a last page that is not full knows its total exactly. An empty page past the end
# knows there are at most `offset` matches: it counts them exactly, capped at `offset`, which reads no
# more rows than the page's OFFSET has just skipped.
_RELTUPLES = "SELECT reltuples::bigint FROM pg_class WHERE oid = 'items'::regclass"


def _last_page(offset: int, found: int, per_page: int) -> bool:
    return 0 < found < per_page or (found == 0 and offset == 0)


def _counted(cond: str, params: dict[str, Any], limit: int, seen: int) -> tuple[int, bool]:
    row = db.one(f"SELECT count(*) AS n, max((ctid::text::point)[0]) AS last, "
                 f"pg_relation_size('items') / current_setting('block_size')::int AS pages "
                 f"FROM (SELECT ctid FROM items WHERE {cond} LIMIT :cap) AS capped", cap=limit + 1, **params)
    assert row is not None
    if row["n"] <= limit:
        return row["n"], False
    # This assumes the scan read the table from its first page. A sequential scan of a table larger
    # than a quarter of shared_buffers may join one already under way mid-table (synchronize_seqscans)
    # and wrap around: then `last` is near the end and the guess falls short, though never below
    # limit + 1 nor what the pages have shown. Turning it off would take a SET LOCAL inside a
    # transaction of its own, round trips this count exists to save (README, `total_estimated`).
    guess = round(row["n"] * max(row["pages"], 1) / (row["last"] + 1))
    return max(guess, limit + 1, seen), True


# --- stock movements ----------------------------------------------------------------------------

def move(item_id: int, delta: int, action: str, user: Principal, notes: str | None,
         request_id: str) -> dict[str, Any]:
    for _ in range(3):
        try:
            row = db.one(_MOVE, id=item_id, delta=delta, action=action, user_id=user.id, notes=notes,
                         request_id=request_id)
        except db.OutOfRange:  # past the integer column
            raise errors.Conflict("The quantity would exceed the largest storable stock (2147483647).",
                                  code="quantity_limit", maximum=2147483647) from None
        assert row is not None
        if row["id"] is not None:
            events.publish_after_commit(row["events"] or [])
            _mail_after_commit([e["data"]["alert_id"] for e in row["events"] or [] if e["type"] == "low_stock_alert"])
            return _public(row)
        # Refused (or no such item). Read the quantity afresh for the answer; if stock arrived
        # between the refusal and this read, try the movement again rather than contradict ourselves.
        current = db.one(_QUANTITY, id=item_id)
        if current is None:
            raise errors.NotFound(f"Item {item_id} does not exist.")
        if current["quantity"] + delta < 0:
            raise errors.Conflict(f"Only {current['quantity']} in stock.", code="insufficient_stock",
                                  available=current["quantity"], requested=-delta)
    raise errors.Conflict("The stock of this item is changing fast; retry.", code="contention")


def restock(item_id: int, quantity: int, user: Principal, notes: str | None, request_id: str) -> dict[str, Any]:
    return move(item_id, quantity, "restock", user, notes, request_id)


def withdraw(item_id: int, quantity: int, user: Principal, notes: str | None, request_id: str) -> dict[str, Any]:
    return move(item_id, -quantity, "withdraw", user, notes, request_id)


# --- edits --------------------------------------------------------------------------------------

def _check_version(item: dict[str, Any], if_match: str | None) -> None:
    if if_match is None or if_match.strip() == "*":
        return
    wanted = {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")}
    if str(item["version"]) not in wanted:
        raise errors.PreconditionFailed(
            f"The item changed meanwhile (version {item['version']}); reload and retry.",
            code="version_mismatch", current_version=item["version"])


def _foreign_key_error(exc: db.ForeignKeyViolation) -> errors.ValidationFailed:
    field = "category_id" if "category" in (exc.constraint or "") else "location_id"
    return errors.ValidationFailed([{"loc": ["body", field], "msg": "No such " + field.removesuffix("_id"),
                                     "type": "foreign_key"}])


def _sync_alert(conn: db.Conn, before: dict[str, Any] | None, after: dict[str, Any]) -> None:
    """Open or resolve the item's alert after a create (`before` None) or an edit, edge-triggered as a
    movement is: an item left below its threshold by its creation, a lower quantity or a higher
    threshold opens one (unless one is open); at or above it, the open one is resolved."""
    if not after["is_low_stock"]:
        for resolved in conn.query(_RESOLVE, id=after["id"]):
            events.emit(conn, "stock_recovered", {
                "alert_id": resolved["id"], "item_id": after["id"], "sku": after["sku"], "name": after["name"],
                "quantity": after["quantity"], "threshold": after["low_stock_threshold"]})
        return
    if before is not None and before["is_low_stock"] and after["quantity"] >= before["quantity"] \
            and after["low_stock_threshold"] <= before["low_stock_threshold"]:
        return  # already low and no lower (like a restock that leaves it below): nothing new to announce
    raised = conn.one(_RAISE, id=after["id"], quantity=after["quantity"], threshold=after["low_stock_threshold"])
    if raised:
        _mail_after_commit([raised["id"]])
        events.emit(conn, "low_stock_alert", {
            "alert_id": raised["id"], "item_id": after["id"], "sku": after["sku"], "name": after["name"],
            "quantity": after["quantity"], "threshold": after["low_stock_threshold"], "unit": after["unit"]})


def create(data: ItemCreate, user: Principal, request_id: str) -> dict[str, Any]:
    try:
        with db.transaction() as conn:
            item = conn.one(_INSERT, **data.model_dump())
            if item is None:
                raise errors.Conflict(f"SKU {data.sku!r} is already taken.", code="sku_taken")
            conn.execute(_LOG, item_id=item["id"], user_id=user.id, action="create", before=0,
                         after=item["quantity"], notes=None, request_id=request_id)
            events.emit(conn, "item_created", {"item": item, "user": _who(user)})
            _sync_alert(conn, None, item)
            return item
    except db.ForeignKeyViolation as exc:
        raise _foreign_key_error(exc) from None


def update(item_id: int, changes: dict[str, Any], user: Principal, if_match: str | None,
           request_id: str) -> dict[str, Any]:
    """Apply `changes` (column -> value; `quantity` is a count) in one transaction."""
    if not changes:
        raise errors.ValidationFailed([{"loc": ["body"], "msg": "Nothing to change", "type": "empty"}])
    try:
        with db.transaction() as conn:
            before = conn.one(_LOCK, id=item_id)
            if before is None:
                raise errors.NotFound(f"Item {item_id} does not exist.")
            _check_version(before, if_match)
            if "sku" in changes and conn.one(_SKU_TAKEN, sku=changes["sku"], id=item_id):
                raise errors.Conflict(f"SKU {changes['sku']!r} is already taken.", code="sku_taken")
            columns = [c for c in (*EDITABLE, "quantity") if c in changes]
            sets = ", ".join(f"{c} = :{c}" for c in columns)
            after = conn.one(f"UPDATE items SET {sets}, version = version + 1, updated_at = now() "
                             f"WHERE id = :id RETURNING {ITEM_COLS}", id=item_id, **{c: changes[c] for c in columns})
            assert after is not None
            fields = [c for c in columns if c != "quantity" and before[c] != after[c]]
            if fields:
                conn.execute(_LOG, item_id=item_id, user_id=user.id, action="update", before=before["quantity"],
                             after=before["quantity"], notes="changed: " + ", ".join(fields), request_id=request_id)
            if after["quantity"] != before["quantity"]:
                conn.execute(_LOG, item_id=item_id, user_id=user.id, action="count", before=before["quantity"],
                             after=after["quantity"], notes=None, request_id=request_id)
                events.emit(conn, "stock_changed", {
                    "item_id": item_id, "sku": after["sku"], "name": after["name"],
                    "previous_quantity": before["quantity"], "quantity": after["quantity"],
                    "delta": after["quantity"] - before["quantity"], "action": "count", "user": _who(user),
                    "low_stock_threshold": after["low_stock_threshold"], "is_low_stock": after["is_low_stock"],
                    "version": after["version"]})
            events.emit(conn, "item_updated", {"item": after, "changed": columns, "user": _who(user)})
            _sync_alert(conn, before, after)
            return after
    except db.ForeignKeyViolation as exc:
        raise _foreign_key_error(exc) from None
    except db.UniqueViolation:  # taken by an edit that committed after our check: still a conflict
        raise errors.Conflict(f"SKU {changes['sku']!r} is already taken.", code="sku_taken") from None


def replace(item_id: int, data: ItemReplace, user: Principal, if_match: str | None, request_id: str) -> dict[str, Any]:
    changes = data.model_dump(include=set(EDITABLE))
    if data.quantity is not None:
        changes["quantity"] = data.quantity
    return update(item_id, changes, user, if_match, request_id)


def patch(item_id: int, data: ItemPatch, user: Principal, if_match: str | None, request_id: str) -> dict[str, Any]:
    sent = data.model_fields_set
    if not user.is_manager and sent - {"quantity"}:
        raise errors.Forbidden("Staff may only change an item's quantity (a count).", code="staff_count_only")
    return update(item_id, {f: getattr(data, f) for f in sent}, user, if_match, request_id)


def delete(item_id: int, user: Principal, if_match: str | None, request_id: str) -> None:
    with db.transaction() as conn:
        before = conn.one(_LOCK, id=item_id)
        if before is None:
            raise errors.NotFound(f"Item {item_id} does not exist.")
        _check_version(before, if_match)
        conn.one(_DELETE, id=item_id)
        conn.execute(_LOG, item_id=item_id, user_id=user.id, action="delete", before=before["quantity"],
                     after=0, notes=None, request_id=request_id)
        events.emit(conn, "item_deleted", {"item_id": item_id, "sku": before["sku"], "name": before["name"],
                                           "user": _who(user)})
