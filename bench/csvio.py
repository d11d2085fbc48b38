"""CSV export and import through the front, each beside what PostgreSQL does with the same rows in the same run.

Export: every item, following the `Link: rel="next"` pages of GET /items/export (its default order, by
name) on one keep-alive connection. The limit: PostgreSQL's own `COPY (SELECT …) TO STDOUT WITH CSV` of
the same columns (the category and location joined by name) in the same order, through pg8000, so the
ratio is what the pages, Python's csv writer, the function's result and HTTP add. Both are parsed
afterwards (not timed) and compared row by row.

Import: a file of IMPORT_ROWS new SKUs, one request under 1 MB, through POST /items/import: a dry run,
the real import, the same file again (every row unchanged), then a file changing every quantity (as many
counts). Two references for the creates, in the same run: the same rows as one multi-row INSERT through
pg8000 in one transaction (raw SQL: no validation, ledger, events or alerts), the floor, deleted after;
and the per-row API path, as many POST /items one after another on one keep-alive connection, what a
client does without the import. The bench runs this step last, so the items it adds change no other
figure.
"""

from __future__ import annotations

import csv
import http.client
import io
import json
import random
import re
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

from shared.services.csvio import COLUMNS  # the export's columns, in its order

IMPORT_ROWS = 5_000
BODY_LIMIT = 1_000_000  # the platform's request limit: the import file must go in one request
# The export's columns and order (shared.services.csvio), in one statement.
COPY_SQL = """COPY (
    SELECT i.sku, i.name, i.description, c.name AS category, l.name AS location, i.quantity, i.unit, i.price,
           i.low_stock_threshold
    FROM items i LEFT JOIN categories c ON c.id = i.category_id LEFT JOIN locations l ON l.id = i.location_id
    ORDER BY lower(i.name), i.id
) TO STDOUT WITH (FORMAT csv, HEADER)"""
_NEXT = re.compile(r'<([^>]*)>\s*;\s*rel="?next"?')


@dataclass
class Export:
    seconds: float  # every page through the front
    pages: int
    size: int  # bytes of every page's body
    rows: int
    copy_seconds: float  # the limit: COPY … TO STDOUT
    copy_size: int
    copy_rows: int
    identical: bool  # the same rows, cell for cell, in the same order


@dataclass
class Import:
    rows: int
    size: int  # the file's bytes
    dry_seconds: float  # dry_run=true
    create_seconds: float  # the real import, every row new
    unchanged_seconds: float  # the same file again
    count_seconds: float  # every quantity different: one count each
    insert_seconds: float  # reference: one multi-row INSERT through pg8000
    post_seconds: float  # reference: one POST /items per row


class Client:
    """One keep-alive connection to the front, with the manager's token."""

    def __init__(self, host: str, port: int, token: str) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=300)
        self.headers = {"Authorization": f"Bearer {token}"}

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str | None = None
             ) -> tuple[int, http.client.HTTPResponse, bytes]:
        headers = {**self.headers, **({"Content-Type": content_type} if content_type else {})}
        self.conn.request(method, path, body=body, headers=headers)
        res = self.conn.getresponse()
        return res.status, res, res.read()

    def close(self) -> None:
        self.conn.close()


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def export(client: Client, conn: Any) -> Export:
    """Every page of GET /items/export, then COPY of the same rows through the pg8000.native `conn`."""
    path, pages = "/api/v1/items/export", []
    started = time.perf_counter()
    for _ in range(10_000):  # bounded: 100k items take a few dozen pages
        status, res, body = client.call("GET", path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:300]!r}")
        pages.append(body)
        link = _NEXT.search(res.getheader("Link") or "")
        if link is None:
            break
        path = urllib.parse.urljoin(path, link.group(1))
    else:
        raise RuntimeError("the export did not end after 10,000 pages")
    seconds = time.perf_counter() - started

    stream = io.BytesIO()
    started = time.perf_counter()
    conn.run(COPY_SQL, stream=stream)
    copy_seconds = time.perf_counter() - started

    rows: list[list[str]] = []
    for page in pages:
        header, *data = _rows(page.decode())
        if tuple(header) != COLUMNS:
            raise RuntimeError(f"an export page starts with {header!r}, not the header line")
        rows += data
    header, *copied = _rows(stream.getvalue().decode())
    return Export(seconds=seconds, pages=len(pages), size=sum(map(len, pages)), rows=len(rows),
                  copy_seconds=copy_seconds, copy_size=len(stream.getvalue()), copy_rows=len(copied),
                  identical=rows == copied)


def _file(items: list[dict[str, Any]]) -> bytes:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    writer.writerows([item[c] for c in COLUMNS] for item in items)
    return out.getvalue().encode()


def new_items(prefix: str, categories: list[str], locations: list[str], seed: int) -> list[dict[str, Any]]:
    """IMPORT_ROWS items with SKUs no seeded item has (`prefix`-000001 …), every column given; a
    description with a comma in every third, so some cells are quoted."""
    rng = random.Random(seed)
    return [{"sku": f"{prefix}-{n:06d}", "name": f"Imported {rng.choice(('Steel', 'Brass', 'Nylon'))} part {n}",
             "description": f"Batch {n // 100}, row {n}" if n % 3 == 0 else "",
             "category": categories[n % len(categories)], "location": locations[n % len(locations)],
             "quantity": rng.randint(100, 9_999), "unit": "pcs", "price": f"{rng.randint(50, 99_999) / 100:.2f}",
             "low_stock_threshold": 10} for n in range(1, IMPORT_ROWS + 1)]


def _import(client: Client, body: bytes, dry_run: bool, expect: dict[str, int]) -> float:
    path = f"/api/v1/items/import?dry_run={'true' if dry_run else 'false'}&first_row=2"
    started = time.perf_counter()
    status, _, answer = client.call("POST", path, body, "text/csv; charset=utf-8")
    seconds = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"POST {path} answered {status}: {answer[:300]!r}")
    report = json.loads(answer)
    got = {key: report[key] for key in expect}
    if got != expect:
        raise RuntimeError(f"POST {path} reported {got}, not {expect}: {answer[:300]!r}")
    return seconds


def _insert(conn: Any, items: list[dict[str, Any]]) -> float:
    """The rows as one INSERT … VALUES (…), (…) in one transaction: the category and location ids
    looked up first, every value a parameter (9 per row, under the protocol's 65,535). Positional
    ($n): pg8000 takes the values in the keywords' order, and its lookup of :named ones is quadratic
    in their number (10 s for these 45,000), which would time the client, not the database."""
    started = time.perf_counter()
    ids = {kind: dict(conn.run(f"SELECT name, id FROM {kind}")) for kind in ("categories", "locations")}
    values: list[str] = []
    params: dict[str, Any] = {}
    for item in items:
        row = (item["sku"], item["name"], item["description"] or None, ids["categories"][item["category"]],
               ids["locations"][item["location"]], item["quantity"], item["unit"], item["price"],
               item["low_stock_threshold"])
        first = len(params) + 1
        values.append("({})".format(", ".join(f"CAST(${first + k} AS numeric)" if k == 7 else f"${first + k}"
                                              for k in range(len(row)))))
        params |= {f"v{first + k}": value for k, value in enumerate(row)}
    conn.run("BEGIN")
    try:
        conn.run("INSERT INTO items (sku, name, description, category_id, location_id, quantity, unit, price, "
                 "low_stock_threshold) VALUES " + ", ".join(values), **params)
        conn.run("COMMIT")
    except BaseException:
        conn.run("ROLLBACK")
        raise
    return time.perf_counter() - started


def _posts(client: Client, items: list[dict[str, Any]], ids: dict[str, dict[str, int]]) -> float:
    bodies = [json.dumps({**{c: item[c] for c in ("sku", "name", "quantity", "unit", "price", "low_stock_threshold")},
                          "description": item["description"] or None,
                          "category_id": ids["categories"][item["category"]],
                          "location_id": ids["locations"][item["location"]]}).encode() for item in items]
    started = time.perf_counter()
    for body in bodies:
        status, _, answer = client.call("POST", "/api/v1/items", body, "application/json")
        if status != 201:
            raise RuntimeError(f"POST /api/v1/items answered {status}: {answer[:300]!r}")
    return time.perf_counter() - started


def import_(client: Client, conn: Any) -> Import:
    """The import's four requests, then its two references; each on its own SKUs."""
    categories = [name for (name,) in conn.run("SELECT name FROM categories ORDER BY id")]
    locations = [name for (name,) in conn.run("SELECT name FROM locations ORDER BY id")]
    items = new_items("CSV", categories, locations, seed=11)
    body = _file(items)
    if len(body) > BODY_LIMIT:
        raise RuntimeError(f"the import file is {len(body):,} bytes, over one request's {BODY_LIMIT:,}")
    n = len(items)
    dry = _import(client, body, True, {"created": n, "failed": 0})
    create = _import(client, body, False, {"created": n, "failed": 0})
    unchanged = _import(client, body, False, {"unchanged": n, "failed": 0})
    counted = _file([{**item, "quantity": item["quantity"] + 1} for item in items])
    count = _import(client, counted, False, {"updated": n, "failed": 0})

    raw = new_items("RAW", categories, locations, seed=11)
    insert = _insert(conn, raw)
    # Gone again: items without their `create` ledger row would fail a restore's ledger check.
    conn.run("DELETE FROM items WHERE sku = ANY(CAST(:skus AS text[]))", skus=[item["sku"] for item in raw])
    ids = {kind: dict(conn.run(f"SELECT name, id FROM {kind}")) for kind in ("categories", "locations")}
    post = _posts(client, new_items("API", categories, locations, seed=11), ids)
    return Import(rows=n, size=len(body), dry_seconds=dry, create_seconds=create, unchanged_seconds=unchanged,
                  count_seconds=count, insert_seconds=insert, post_seconds=post)
