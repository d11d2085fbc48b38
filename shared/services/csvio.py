"""Items as CSV: the export (GET /items/export) and the import (POST /items/import).

Export. The items a filter of GET /items selects (its very conditions: items.filters) in its order, as
RFC 4180 CSV in UTF-8, a header line on every page. A page is filled while it stays under PAGE_BYTES,
counted as the body travels inside a function's result (a JSON string: a quote or a line break costs a
byte more there), so no text can push a page past the platform's 1 MB result limit. The next page
starts after the last row's sort key and id (a keyset cursor, not an offset): each page costs the same
however deep into 100k items it is (an index range scan for the name and SKU orders, the default), and
rows added or deleted meanwhile neither shift the rest nor repeat it. Rows are read BATCH at a time.

Import. The header names the columns (any order; `sku` and `name` required, an unknown one refuses the
whole body); each row is validated by the models POST /items uses, so the same rules apply. Existing
items, categories and locations are looked up in bulk, one query each; then each row in order is
created, updated (a different quantity is a count) or left alone when it already says what the item
says, through the items service, so the ledger, events and alerts are those of any write; one
that fails is reported and the others go on. A dry run plans the same without writing. Before
writing, the answer is measured: one that would not fit in a function's result is refused (413)
so the client sends smaller chunks, rather than a write whose answer is lost.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from shared import db, errors
from shared.jsontext import dumps
from shared.services import catalog, items
from shared.types import Principal

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError

    from shared.models import ItemCreate, ItemExportQuery

COLUMNS = ("sku", "name", "description", "category", "location", "quantity", "unit", "price", "low_stock_threshold")
REQUIRED = ("sku", "name")
PAGE_BYTES = 900_000  # an export page's body, as it travels in a function's result
BATCH = 1_000  # rows an export reads at a time while filling a page
ANSWER_BYTES = 900_000  # an import's answer, as it travels in a function's result
SHOWN = 100  # characters of a text shown before and after in an import's `changes`

_EXPORT = """
SELECT id, sku, name, description, quantity, unit, price, low_stock_threshold, {key} AS sort_key,
       (SELECT c.name FROM categories c WHERE c.id = items.category_id) AS category,
       (SELECT l.name FROM locations l WHERE l.id = items.location_id) AS location
FROM items WHERE {where} ORDER BY {order} LIMIT :batch"""
# The items the rows name, by SKU in any case (the unique index on lower(sku) answers it).
_EXISTING = """
SELECT lower(i.sku) AS key, i.id, i.version, i.sku, i.name, i.description, i.quantity, i.unit, i.price,
       i.low_stock_threshold, c.name AS category, lower(c.name) AS category_key,
       l.name AS location, lower(l.name) AS location_key
FROM items i LEFT JOIN categories c ON c.id = i.category_id LEFT JOIN locations l ON l.id = i.location_id
WHERE lower(i.sku) = ANY(CAST(:keys AS text[]))"""
# Each name the rows give, folded as PostgreSQL folds it (names are unique in any case), and the
# category or location it names, if any. {table} is catalog.CATEGORIES' or LOCATIONS'.
_NAMES = """
SELECT wanted, lower(wanted) AS key, t.id, t.name
FROM unnest(CAST(:names AS text[])) AS wanted LEFT JOIN {table} t ON lower(t.name) = lower(wanted)"""
_NAMED = "SELECT id FROM {table} WHERE lower(name) = lower(:name)"

_FIELDS = ("sku", "name", "description", "quantity", "unit", "price", "low_stock_threshold")
_INTEGERS = ("quantity", "low_stock_threshold")
_INTEGER = re.compile(r"-?[0-9]{1,20}")
_CLEARED = ("description", "price")  # an empty cell clears them; category and location too
_MONEY = re.compile(r"[0-9]{1,10}(\.[0-9]{1,2})?")
# A count sets at most Count's maximum (shared.models.base), but restocks may take a stock up to what the
# column stores: such a quantity, exported, must import back as the item's own (unchanged), though it
# can set no other item's.
_COUNT_MAX = 1_000_000_000
_STORABLE = 2**31 - 1
_OVER_COUNT = {"loc": ["quantity"], "msg": f"Input should be less than or equal to {_COUNT_MAX}",
               "type": "less_than_equal"}


def _cost(text: str) -> int:
    """The bytes `text` takes in a function's result: a JSON string in UTF-8 (the launcher writes
    non-ASCII characters as they are, and escapes quotes, backslashes and control characters)."""
    return len(json.dumps(text, ensure_ascii=False).encode()) - 2


def _refused(loc: list[Any], msg: str, kind: str) -> errors.ValidationFailed:
    return errors.ValidationFailed([{"loc": loc, "msg": msg, "type": kind}])


# --- export -------------------------------------------------------------------------------------

class _Lines(list[str]):
    """What csv.writer writes to: one string per row."""

    def write(self, line: str) -> None:
        self.append(line)


def _cells(row: dict[str, Any]) -> list[Any]:
    # Written as stored, a leading = + - @ included: the export must re-import identically.
    return [row["sku"], row["name"], row["description"] or "", row["category"] or "", row["location"] or "",
            row["quantity"], row["unit"], "" if row["price"] is None else str(row["price"]),
            row["low_stock_threshold"]]


def export(q: ItemExportQuery) -> tuple[str, str | None]:
    """One page of the export: its CSV, and the cursor of the next page (None on the last one)."""
    narrow, where, params = items.filters(q)
    after = _read_cursor(q) if q.cursor else None
    lines = _Lines()
    out = csv.writer(lines, lineterminator="\r\n")
    out.writerow(COLUMNS)
    room, written = PAGE_BYTES - _cost(lines[0]), 0
    while True:
        keyset, keyset_params = _after(q, after) if after else (None, {})
        cond = " AND ".join(c for c in (narrow, *where, keyset) if c) or "true"
        sql = _EXPORT.format(key=items.SORTS[q.sort_by], where=cond, order=items.order_by(q))
        rows = db.query(sql, batch=BATCH, **params, **keyset_params)
        for row in rows:
            out.writerow(_cells(row))
            cost = _cost(lines[-1])
            if cost > room and written:  # (a first row always goes in, or no page would ever end)
                lines.pop()
                assert after is not None
                return "".join(lines), _cursor(q, after)
            room, written, after = room - cost, written + 1, (row["sort_key"], row["id"])
        if len(rows) < BATCH:
            return "".join(lines), None


def _after(q: ItemExportQuery, after: tuple[Any, int]) -> tuple[str, dict[str, Any]]:
    """The rows after (key, id) in the order of `q`: the keyset condition."""
    key, last_id = after
    sort, op = items.SORTS[q.sort_by], "<" if q.order == "desc" else ">"
    if key is None:  # past every price: the unpriced rest, by id
        return f"({sort} IS NULL AND id {op} :after_id)", {"after_id": last_id}
    cond = f"({sort}, id) {op} (:after_key, :after_id)"
    if q.sort_by in items.NULLS_LAST:
        cond = f"({cond} OR {sort} IS NULL)"
    return cond, {"after_key": key, "after_id": last_id}


def _cursor(q: ItemExportQuery, after: tuple[Any, int]) -> str:
    key, last_id = after
    if isinstance(key, dt.datetime):
        key = key.isoformat()
    elif isinstance(key, Decimal):
        key = str(key)
    raw = json.dumps([q.sort_by, q.order, key, last_id], ensure_ascii=False, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _key(sort_by: str, key: Any) -> Any:
    """A cursor's sort key as the database compares it; ValueError for one no page could have written."""
    if sort_by in ("name", "sku"):
        if not isinstance(key, str) or "\x00" in key:
            raise ValueError
        key.encode()  # a lone surrogate cannot be sent
        return key
    if sort_by == "quantity":
        if type(key) is not int or not 0 <= key < 2**31:
            raise ValueError
        return key
    if sort_by == "price":
        if key is None:
            return None
        if not isinstance(key, str) or not _MONEY.fullmatch(key):
            raise ValueError
        return Decimal(key)
    if not isinstance(key, str):
        raise ValueError
    moment = dt.datetime.fromisoformat(key)
    if moment.tzinfo is None:
        raise ValueError
    return moment


def _read_cursor(q: ItemExportQuery) -> tuple[Any, int]:
    text = q.cursor or ""
    try:
        sort_by, order, key, last_id = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if (sort_by, order) != (q.sort_by, q.order) or type(last_id) is not int or not 0 < last_id < 2**63:
            raise ValueError
        return _key(sort_by, key), last_id
    except (ValueError, TypeError, RecursionError):
        raise _refused(["query", "cursor"], "Not a cursor of this export: follow the Link of the previous page "
                       "(with the same filter and order)", "cursor") from None


# --- import: reading ----------------------------------------------------------------------------

@dataclass
class _Row:
    line: int  # where it starts in the user's file
    sku: str  # as given, for the report
    errors: list[dict[str, Any]] = field(default_factory=list)
    item: ItemCreate | None = None  # its fields, the defaults where it gives none
    given: frozenset[str] = frozenset()  # the fields it sets: a cell with a value, or an empty one that clears
    category: str | None = None  # the name it gives ("category" in given), None for an empty cell
    location: str | None = None
    stocked: int | None = None  # a quantity past _COUNT_MAX: valid only where it is the item's already


def _read(text: str, first_row: int) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The header's column names and each data row with the line of the file where it starts (a
    quoted cell may span lines). A blank line, or a row of empty cells, is no row."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    records: list[tuple[int, list[str]]] = []
    header: list[str] | None = None
    top = start = 0
    try:
        header = next(reader, [])
        top = start = reader.line_num  # the lines the header took
        for cells in reader:
            if any(cells):
                records.append((first_row + start - top, cells))
            start = reader.line_num
    except csv.Error as exc:
        where = "the header" if header is None else f"the row at line {first_row + start - top}"
        raise _refused(["body"], f"Not valid CSV: {exc} (in {where})", "csv_syntax") from None
    return _columns(header), records


def _columns(header: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in header]
    problems: list[dict[str, Any]] = []
    if not any(names):
        problems.append({"loc": ["body", "header"], "msg": "The first line must name the columns",
                         "type": "csv_header"})
    else:
        for position, name in enumerate(names, start=1):
            if name not in COLUMNS:
                problems.append({"loc": ["body", "header", position], "type": "csv_header",
                                 "msg": f"Unknown column {header[position - 1][:40]!r}; the columns are "
                                        + ", ".join(COLUMNS)})
            elif name in names[:position - 1]:
                problems.append({"loc": ["body", "header", position], "msg": f"Column {name!r} is given twice",
                                 "type": "csv_header"})
        problems += [{"loc": ["body", "header"], "msg": f"The column {name!r} is required", "type": "csv_header"}
                     for name in REQUIRED if name not in names]
    if problems:
        raise errors.ValidationFailed(problems, detail="The header line is not valid; no row was read.")
    return names


def _pydantic_errors(exc: ValidationError, column: str | None = None) -> list[dict[str, Any]]:
    return [{"loc": [column] if column else list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in exc.errors()]


def _row(line: int, header: list[str], cells: list[str]) -> _Row:
    """One data row, validated as POST /items validates a body (the category and location by their names,
    as POST /categories and /locations validate one)."""
    from pydantic import ValidationError

    from shared.models import CategoryIn, ItemCreate, LocationIn

    at = header.index("sku")
    row = _Row(line, cells[at][:64] if at < len(cells) else "")
    if len(cells) != len(header):
        row.errors.append({"loc": [], "msg": f"The row has {len(cells)} cells and the header {len(header)}",
                           "type": "csv_cells"})
        return row
    values = dict(zip(header, cells, strict=True))
    data: dict[str, Any] = {}
    for column, cell in values.items():
        if column in ("category", "location"):
            continue
        if cell:
            value = int(cell) if column in _INTEGERS and _INTEGER.fullmatch(cell) else cell
            if column == "quantity" and type(value) is int and _COUNT_MAX < value <= _STORABLE:
                row.stocked = value  # not a count: compared with the item's own in _apply
                continue
            data[column] = value
        elif column in _CLEARED:
            data[column] = None
        # else: sku and name are missing (an error), quantity, unit and threshold not given
    try:
        row.item = ItemCreate.model_validate(data, strict=True)
    except ValidationError as exc:
        row.errors += _pydantic_errors(exc)
    model: type[BaseModel]
    for column, model in (("category", CategoryIn), ("location", LocationIn)):
        if values.get(column):
            try:
                named = model.model_validate({"name": values[column]}, strict=True)
                setattr(row, column, named.name)  # type: ignore[attr-defined]
            except ValidationError as exc:
                row.errors += _pydantic_errors(exc, column)
    row.given = frozenset(data) | {c for c in ("category", "location") if c in values}
    return row


# --- import: planning and writing ---------------------------------------------------------------

@dataclass
class _Names:
    """The categories (or locations) the rows name."""

    kind: catalog.Kind
    keys: dict[str, str] = field(default_factory=dict)  # a name as given -> its folded key
    ids: dict[str, int | None] = field(default_factory=dict)  # key -> id (None: created by a dry run)
    created: list[str] = field(default_factory=list)

    @classmethod
    def lookup(cls, kind: catalog.Kind, names: set[str]) -> _Names:
        found = cls(kind)
        if names:
            for r in db.query(_NAMES.format(table=kind.table), names=sorted(names)):
                found.keys[r["wanted"]] = r["key"]
                if r["id"] is not None:
                    found.ids[r["key"]] = r["id"]
        return found

    def id_of(self, name: str | None, dry_run: bool) -> int | None:
        """The id of the category `name`, created first if there is none (reported; a dry run only reports)."""
        if name is None:
            return None
        key = self.keys[name]
        if key not in self.ids:
            self.created.append(name)
            self.ids[key] = None if dry_run else self._create(name)
        return self.ids[key]

    def _create(self, name: str) -> int:
        from shared.models import CategoryIn, LocationIn

        model = LocationIn if self.kind is catalog.LOCATIONS else CategoryIn
        try:
            # In a savepoint: inside the one transaction of an import with an Idempotency-Key, a name
            # taken meanwhile must not abort the transaction, or the lookup below and every later row fail.
            with db.savepoint():
                return int(catalog.create(self.kind, model.model_validate({"name": name}))["id"])
        except errors.Conflict:  # created meanwhile by someone else: theirs it is
            row = db.one(_NAMED.format(table=self.kind.table), name=name)
            if row is None:
                raise
            return int(row["id"])


def _shown(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, str) and len(value) > SHOWN:
        return value[:SHOWN] + "…"
    return value


def _differences(current: dict[str, Any], row: _Row, keys: dict[str, str | None]) -> dict[str, list[Any]]:
    """What the row changes: column -> [before, after] (the category and location by name)."""
    assert row.item is not None
    changed: dict[str, list[Any]] = {}
    for name in _FIELDS:
        if name in row.given:
            old, new = current[name], getattr(row.item, name)
            if name == "description":  # an empty description and none are written alike
                old, new = old or None, new or None
            if old != new:
                changed[name] = [_shown(old), _shown(new)]
    for column in ("category", "location"):
        if column in row.given and current[f"{column}_key"] != keys[column]:
            changed[column] = [current[column], getattr(row, column)]
    return changed


def _refusal(exc: errors.HTTPError) -> list[dict[str, Any]]:
    """A write's refusal as the row's errors, in terms of columns."""
    if isinstance(exc, errors.ValidationFailed):
        columns = {"category_id": "category", "location_id": "location"}
        return [{"loc": [columns.get(str(part), part) for part in e["loc"] if part != "body"], "msg": e["msg"],
                 "type": e["type"]} for e in exc.extra["errors"]]
    return [{"loc": [], "msg": exc.detail, "type": exc.code}]


def _state(item: dict[str, Any], row: _Row, keys: dict[str, str | None], before: dict[str, Any] | None
           ) -> dict[str, Any]:
    """An item as the following rows of the body compare with it."""
    state = dict(before or {"category": None, "category_key": None, "location": None, "location_key": None})
    state.update({name: item[name] for name in ("id", "version", *_FIELDS)})
    for column in ("category", "location"):
        if column in row.given:
            state[column], state[f"{column}_key"] = getattr(row, column), keys[column]
    return state


def _run(rows: list[_Row], user: Principal, dry_run: bool, request_id: str) -> dict[str, Any]:
    valid = [r for r in rows if r.item is not None and not r.errors]
    found = db.query(_EXISTING, keys=sorted({r.item.sku.lower() for r in valid if r.item})) if valid else []
    state = {r["key"]: r for r in found}  # by folded SKU, as each row leaves it
    names = {column: _Names.lookup(kind, {getattr(r, column) for r in valid if getattr(r, column)})
             for column, kind in (("category", catalog.CATEGORIES), ("location", catalog.LOCATIONS))}
    results: list[dict[str, Any]] = []
    counts = {"create": 0, "update": 0, "unchanged": 0, "error": 0}
    with items.one_mail_for_alerts():
        for row in rows:
            results.append(_apply(row, state, names, user, dry_run, request_id))
            counts[results[-1]["action"]] += 1
    return {"dry_run": dry_run, "rows": len(rows), "created": counts["create"], "updated": counts["update"],
            "unchanged": counts["unchanged"], "failed": counts["error"],
            "categories_created": names["category"].created, "locations_created": names["location"].created,
            "results": results}


def _apply(row: _Row, state: dict[str, dict[str, Any]], names: dict[str, _Names], user: Principal, dry_run: bool,
           request_id: str) -> dict[str, Any]:
    """One row: planned against the items as the rows before it left them, and written unless a dry run."""
    entry: dict[str, Any] = {"row": row.line, "sku": row.sku}
    if row.errors or row.item is None:
        return {**entry, "action": "error", "errors": row.errors}
    key = row.item.sku.lower()
    keys = {c: names[c].keys[getattr(row, c)] if getattr(row, c) else None for c in ("category", "location")}
    current = state.get(key)
    if row.stocked is not None and (current is None or current["quantity"] != row.stocked):
        return {**entry, "action": "error", "errors": [dict(_OVER_COUNT)]}
    changes = _differences(current, row, keys) if current else {}
    if current and not changes:
        return {**entry, "action": "unchanged"}
    try:
        ids = {f"{c}_id": names[c].id_of(getattr(row, c), dry_run) for c in ("category", "location")
               if c in row.given and (current is None or c in changes)}
        if current is None:
            data = row.item.model_copy(update=ids)
            if dry_run:
                item = {**data.model_dump(), "id": None, "version": None}
            else:
                item = _written(lambda: items.create(data, user, request_id))
        else:
            columns = {name: getattr(row.item, name) for name in _FIELDS if name in changes} | ids
            if dry_run:
                item = {**current, **columns}
            else:  # If-Match: the version compared with, so an edit made meanwhile is not overwritten
                item = _written(lambda: items.update(current["id"], columns, user, f'"{current["version"]}"',
                                                     request_id))
    except errors.HTTPError as exc:
        return {**entry, "action": "error", "errors": _refusal(exc)}
    state[key] = _state(item, row, keys, current)
    return {**entry, "action": "update", "changes": changes} if current else {**entry, "action": "create"}


def _written(write: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    # Inside an enclosing transaction (an Idempotency-Key's), a row that fails is undone alone.
    with db.savepoint():
        return write()


def import_items(text: str, user: Principal, dry_run: bool, first_row: int, request_id: str) -> dict[str, Any]:
    """Read the CSV `text` and create, update or leave each item it names (see the module's docstring)."""
    header, records = _read(text, first_row)
    rows = [_row(line, header, cells) for line, cells in records]
    plan = _run(rows, user, True, request_id)
    size = _cost(dumps(plan))
    if size > ANSWER_BYTES:
        fit = max(1, len(rows) * ANSWER_BYTES // size)
        raise errors.PayloadTooLarge(
            f"The answer for these {len(rows)} rows would pass the platform's 1 MB result limit; send them "
            f"in smaller parts (about {fit} rows each).", code="import_answer_too_large", max_rows=fit)
    return plan if dry_run else _run(rows, user, False, request_id)
