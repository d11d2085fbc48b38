"""CSV export and import of items (GET /items/export, POST /items/import), through the gateway over HTTP.

Every test works in a category of its own (exports filter by it) and SKUs of its own, so the session's
other items never show up."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest

from shared.services import csvio
from tests.api.helpers import V1, assert_problem, assert_validation, new_category, new_item, new_location
from tests.conftest import settings_env, unique, wait_until

HEADER = "sku,name,description,category,location,quantity,unit,price,low_stock_threshold"
TRICKY = 'Line one, with a comma\r\nline "two"\nline three; =SUM(A1:A2)'


def export(api, token: str, query: str = "") -> Any:
    return api.get(f"{V1}/items/export{'?' + query if query else ''}", token=token)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def send(api, token: str, text: str | bytes, query: str = "", content_type: str = "text/csv; charset=utf-8",
         headers: dict[str, str] | None = None) -> Any:
    body = text.encode() if isinstance(text, str) else text
    return api.post(f"{V1}/items/import{'?' + query if query else ''}", token=token, body=body,
                    headers={"Content-Type": content_type, **(headers or {})})


def imported(api, token: str, text: str, query: str = "", **kw: Any) -> dict[str, Any]:
    res = send(api, token, text, query, **kw)
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "application/json"
    return res.json()


def csv_text(*rows: list[Any], header: str = HEADER) -> str:
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header.split(","))
    writer.writerows(rows)
    return out.getvalue()


def first_lines(text: str) -> list[int]:
    """The line of the file each data row starts on: a line break inside a quoted cell adds a line."""
    starts, line = [], 2
    for row in rows_of(text):
        starts.append(line)
        line += 1 + sum(len(re.findall(r"\r\n|\r|\n", cell)) for cell in row.values())
    return starts


def ledger(api, token: str, item_id: int) -> list[dict[str, Any]]:
    res = api.get(f"{V1}/logs/item/{item_id}?per_page=100", token=token)
    assert res.status == 200, res.text
    return res.json()["data"]


def by_sku(api, token: str, sku: str) -> dict[str, Any] | None:
    res = api.get(f"{V1}/items?sku={sku}", token=token)
    assert res.status == 200, res.text
    return (res.json()["data"] or [None])[0]


def outbox(item_id: int) -> list[str]:
    """The types of the events written about one item, oldest first."""
    from shared import db

    return [r["type"] for r in db.query(
        "SELECT type FROM events WHERE (data->>'item_id')::bigint = :id OR (data->'item'->>'id')::bigint = :id "
        "ORDER BY id", id=item_id)]


@pytest.fixture
def shelf(api, manager) -> dict[str, Any]:
    """A category of its own with three items: tricky text, no price, a location on one."""
    token = manager["token"]
    category, location = new_category(api, token), new_location(api, token, name=unique("Lager Süd"))
    made = [
        new_item(api, token, sku=unique("CSV-A"), name="Émile's ☕ mug, \"large\"", description=TRICKY,
                 category_id=category["id"], location_id=location["id"], quantity=7, unit="pcs", price="12.50",
                 low_stock_threshold=3),
        new_item(api, token, sku=unique("CSV-B"), name="=HYPERLINK(\"x\")", category_id=category["id"], quantity=20,
                 unit="box", low_stock_threshold=0),
        new_item(api, token, sku=unique("CSV-C"), name="-minus first", description="", category_id=category["id"],
                 quantity=1, price="0.99", low_stock_threshold=0),
    ]
    return {"category": category, "location": location, "items": made}


# --- export -------------------------------------------------------------------------------------

def test_export_is_csv_with_the_header_and_the_filtered_items_in_order(api, staff, shelf):
    res = export(api, staff["token"], f"category_id={shelf['category']['id']}&sort_by=quantity&order=desc")
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "text/csv; charset=utf-8"
    assert "link" not in res.headers
    assert res.text.startswith(HEADER + "\r\n")
    rows = rows_of(res.text)
    assert [r["quantity"] for r in rows] == ["20", "7", "1"]
    mug = rows[1]
    assert mug == {"sku": shelf["items"][0]["sku"], "name": "Émile's ☕ mug, \"large\"", "description": TRICKY,
                   "category": shelf["category"]["name"], "location": shelf["location"]["name"], "quantity": "7",
                   "unit": "pcs", "price": "12.50", "low_stock_threshold": "3"}
    assert rows[0]["name"] == '=HYPERLINK("x")', "cells starting with = are written as they are"
    assert (rows[0]["price"], rows[0]["location"], rows[0]["description"]) == ("", "", "")
    assert rows[2]["name"] == "-minus first"


def test_export_takes_every_filter_of_the_list(api, staff, shelf):
    category = shelf["category"]["id"]
    for query, expected in ((f"category_id={category}&min_quantity=5&max_quantity=10", ["7"]),
                            (f"category_id={category}&below_threshold=true", []),
                            (f"location_id={shelf['location']['id']}", ["7"]),
                            (f"category_id={category}&search=minus", ["1"]),
                            (f"sku={shelf['items'][1]['sku'].lower()}", ["20"]),
                            (f"category_id={category}&sort_by=price&order=asc", ["1", "7", "20"]),
                            (f"category_id={category}&sort_by=price&order=desc", ["7", "1", "20"])):
        res = export(api, staff["token"], query)
        assert res.status == 200, res.text
        assert [r["quantity"] for r in rows_of(res.text)] == expected, query
        assert res.text.startswith(HEADER + "\r\n")


def test_export_with_nothing_to_show_is_the_header_alone(api, staff):
    res = export(api, staff["token"], f"search={unique('nothing')}")
    assert res.status == 200 and res.text == HEADER + "\r\n"


def _pages(api, token: str, query: str) -> list[Any]:
    """Every page of an export, following each Link as a browser resolves it."""
    url, pages = f"{V1}/items/export?{query}", []
    for _ in range(100):
        res = api.get(url, token=token)
        assert res.status == 200, res.text
        pages.append(res)
        link = res.headers.get("link")
        if link is None:
            return pages
        assert link.startswith("<?") and link.endswith('>; rel="next"'), link
        url = urljoin(url, link[1:link.index(">")])
    raise AssertionError("the export never ended")


@pytest.mark.parametrize("sort", ["name&order=asc", "name&order=desc", "price&order=asc", "price&order=desc",
                                  "quantity&order=desc", "updated_at&order=asc", "sku&order=desc"])
def test_a_long_export_comes_in_pages_that_link_to_the_next(api, manager, staff, monkeypatch, sort):
    """Pages bounded in bytes (the budget made small here), each with the header, the query kept in the
    Link, every item exactly once and in the order of a single page."""
    token = manager["token"]
    category = new_category(api, token)
    for n in range(9):
        new_item(api, token, sku=unique(f"PG{n}"), name=f"Paged {n % 4} ✓", description="x" * (40 + n),
                 category_id=category["id"], quantity=n % 3, price=None if n % 3 == 0 else f"{n % 4}.25")
    query = f"category_id={category['id']}&sort_by={sort}"
    whole = export(api, staff["token"], query)
    assert whole.status == 200 and "link" not in whole.headers
    expected = [r["sku"] for r in rows_of(whole.text)]
    assert len(expected) == 9

    monkeypatch.setattr(csvio, "PAGE_BYTES", len(HEADER) + 2 + 3 * 120)
    monkeypatch.setattr(csvio, "BATCH", 2)
    pages = _pages(api, staff["token"], query)
    assert len(pages) >= 3
    seen = []
    for page in pages:
        assert page.text.startswith(HEADER + "\r\n")
        assert csvio._cost(page.text) <= csvio.PAGE_BYTES
        seen += [r["sku"] for r in rows_of(page.text)]
    assert seen == expected
    kept = parse_qs(urlsplit(pages[0].headers["link"][1:-len('>; rel="next"')]).query)
    assert kept["category_id"] == [str(category["id"])] and kept["sort_by"] == [sort.split("&")[0]]


def test_a_cursor_the_export_did_not_hand_out_is_422(api, staff, manager, monkeypatch):
    category = new_category(api, manager["token"])
    for _ in range(3):
        new_item(api, manager["token"], category_id=category["id"])
    monkeypatch.setattr(csvio, "PAGE_BYTES", len(HEADER) + 2 + 50)
    first = export(api, staff["token"], f"category_id={category['id']}")
    cursor = parse_qs(urlsplit(first.headers["link"][1:-len('>; rel="next"')]).query)["cursor"][0]
    for query in (f"cursor={cursor}&sort_by=quantity", f"cursor={cursor}&order=desc", "cursor=bm90LWEtY3Vyc29y",
                  "cursor=W10", "cursor=" + "W" * 3000, "cursor=a+b"):
        errors = assert_validation(export(api, staff["token"], f"category_id={category['id']}&{query}"))
        assert errors[0]["loc"] == ["query", "cursor"], query


def test_the_export_is_not_taken_for_an_item_id(api, staff, shelf):
    """/items/export and /items/import are routes of their own, not /items/{id}; at the function URL too."""
    res = api.get(f"{V1}/web/local/items/export?category_id={shelf['category']['id']}", token=staff["token"])
    assert res.status == 200 and len(rows_of(res.text)) == 3
    assert_problem(api.get(f"{V1}/items/import", token=staff["token"]), 405)


def test_a_browser_on_another_origin_may_read_the_link(api, staff, shelf):
    with settings_env(CORS_ORIGINS="https://ui.example.com"):
        res = api.get(f"{V1}/items/export?category_id={shelf['category']['id']}", token=staff["token"],
                      headers={"Origin": "https://ui.example.com"})
    assert res.status == 200
    assert "Link" in [h.strip() for h in res.headers["access-control-expose-headers"].split(",")]


# --- import -------------------------------------------------------------------------------------

def test_an_export_imported_again_changes_nothing(api, manager, shelf):
    token = manager["token"]
    text = export(api, token, f"category_id={shelf['category']['id']}").text
    before = {i["id"]: (by_sku(api, token, i["sku"]), len(ledger(api, token, i["id"])), outbox(i["id"]))
              for i in shelf["items"]}
    report = imported(api, token, text)
    assert report == {"dry_run": False, "rows": 3, "created": 0, "updated": 0, "unchanged": 3, "failed": 0,
                      "categories_created": [], "locations_created": [],
                      "results": [{"row": n, "sku": r["sku"], "action": "unchanged"}
                                  for n, r in zip(first_lines(text), rows_of(text), strict=True)]}
    for item_id, (item, logged, events) in before.items():
        assert by_sku(api, token, item["sku"]) == item  # same version, same updated_at
        assert len(ledger(api, token, item_id)) == logged
        assert outbox(item_id) == events


def test_a_stock_restocked_past_what_a_count_sets_imports_back_unchanged_and_sets_no_other(api, manager, shelf):
    """Restocks may take a stock past a count's maximum (1,000,000,000): the export of such an item
    imports back as unchanged, while that quantity still cannot be counted onto an item or create one."""
    token = manager["token"]
    big = new_item(api, token, category_id=shelf["category"]["id"], quantity=1_000_000_000)
    res = api.post(f"{V1}/items/{big['id']}/restock", {"quantity": 500_000_000}, token=token)
    assert res.status == 200, res.text
    text = export(api, token, f"category_id={shelf['category']['id']}").text
    assert f",{1_500_000_000}," in text
    version, logged = by_sku(api, token, big["sku"])["version"], len(ledger(api, token, big["id"]))
    for dry_run in ("true", "false"):
        report = imported(api, token, text, f"dry_run={dry_run}")
        assert (report["rows"], report["unchanged"], report["failed"]) == (4, 4, 0), report
    assert by_sku(api, token, big["sku"])["version"] == version and len(ledger(api, token, big["id"])) == logged

    mug, fresh = shelf["items"][0], unique("BIG")
    over = {"loc": ["quantity"], "msg": "Input should be less than or equal to 1000000000", "type": "less_than_equal"}
    report = imported(api, token, csv_text([mug["sku"], mug["name"], 1_500_000_000], [fresh, "Big new", 1_500_000_000],
                                           [big["sku"], big["name"], 1_500_000_001], header="sku,name,quantity"))
    assert [(r["action"], r.get("errors")) for r in report["results"]] == [("error", [over])] * 3
    assert by_sku(api, token, mug["sku"])["quantity"] == 7 and by_sku(api, token, fresh) is None
    assert by_sku(api, token, big["sku"])["quantity"] == 1_500_000_000


def test_a_dry_run_reports_and_writes_nothing(api, manager, shelf):
    token = manager["token"]
    mug, new_sku, new_category = shelf["items"][0], unique("DRY"), unique("Never made")
    text = csv_text([mug["sku"], mug["name"], 9], [new_sku, "Dry widget", 4], header="sku,name,quantity")
    report = imported(api, token, text, "dry_run=true")
    assert report["dry_run"] is True
    assert report["results"] == [{"row": 2, "sku": mug["sku"], "action": "update", "changes": {"quantity": [7, 9]}},
                                 {"row": 3, "sku": new_sku, "action": "create"}]
    assert (report["created"], report["updated"]) == (1, 1)
    assert by_sku(api, token, new_sku) is None
    assert by_sku(api, token, mug["sku"])["version"] == mug["version"]
    assert len(ledger(api, token, mug["id"])) == 1  # its creation only

    with_category = csv_text([new_sku, "Dry widget", new_category], header="sku,name,category")
    report = imported(api, token, with_category, "dry_run=true")
    assert report["categories_created"] == [new_category] and report["results"][0]["action"] == "create"
    names = [c["name"] for c in api.get(f"{V1}/categories?per_page=100", token=token).json()["data"]]
    assert new_category not in names


def test_import_creates_updates_and_counts_through_the_usual_writes(api, manager, shelf):
    token = manager["token"]
    mug, box = shelf["items"][0], shelf["items"][1]
    new_sku, category, location = unique("NEW"), unique("Tools"), unique("Shelf 9")
    text = csv_text(
        [new_sku, "Fresh hammer", "", category, location, 0, "pcs", "19.90", 5],
        [mug["sku"].lower(), mug["name"], TRICKY, shelf["category"]["name"].upper(), shelf["location"]["name"], 4,
         "pcs", "12.5", 3],
        [box["sku"], "Renamed box", "now described", shelf["category"]["name"], "", 20, "box", "", 0])
    report = imported(api, token, text)
    assert report["dry_run"] is False
    assert (report["rows"], report["created"], report["updated"], report["unchanged"], report["failed"]) == \
        (3, 1, 2, 0, 0)
    assert report["categories_created"] == [category] and report["locations_created"] == [location]
    assert report["results"] == [
        {"row": 2, "sku": new_sku, "action": "create"},
        {"row": 3, "sku": mug["sku"].lower(), "action": "update",
         "changes": {"sku": [mug["sku"], mug["sku"].lower()], "quantity": [7, 4]}},
        {"row": 6, "sku": box["sku"], "action": "update",  # the row before spans lines 3 to 5
         "changes": {"name": ['=HYPERLINK("x")', "Renamed box"], "description": [None, "now described"]}}]

    created = by_sku(api, token, new_sku)
    assert (created["name"], created["price"], created["quantity"], created["low_stock_threshold"]) == \
        ("Fresh hammer", "19.90", 0, 5)
    assert created["category_id"] and created["location_id"]
    assert [e["action"] for e in ledger(api, token, created["id"])] == ["create"]
    alerts = api.get(f"{V1}/alerts?per_page=100", token=token).json()["data"]
    assert any(a["item_id"] == created["id"] for a in alerts), "created below its threshold: an alert"
    assert outbox(created["id"])[:2] == ["item_created", "low_stock_alert"]

    counted = by_sku(api, token, mug["sku"])
    assert (counted["quantity"], counted["version"], counted["sku"]) == (4, mug["version"] + 1, mug["sku"].lower())
    count = ledger(api, token, mug["id"])[0]
    assert (count["action"], count["quantity_before"], count["quantity_after"]) == ("count", 7, 4)
    assert outbox(mug["id"])[-2:] == ["stock_changed", "item_updated"]
    assert [e["action"] for e in ledger(api, token, box["id"])][:1] == ["update"]
    assert "stock_changed" not in outbox(box["id"])

    again = imported(api, token, text)
    assert [r["action"] for r in again["results"]] == ["unchanged"] * 3, "idempotent by SKU"


def test_a_column_left_out_is_left_alone_and_an_empty_cell_clears(api, manager, shelf):
    token = manager["token"]
    mug = shelf["items"][0]
    report = imported(api, token, csv_text([mug["sku"], mug["name"], "", ""], header="sku,name,price,location"))
    assert report["results"][0]["changes"] == {"price": ["12.50", None], "location": [shelf["location"]["name"], None]}
    after = by_sku(api, token, mug["sku"])
    assert (after["price"], after["location_id"]) == (None, None)
    assert (after["description"], after["quantity"], after["category_id"]) == (TRICKY, 7, shelf["category"]["id"])
    empty_quantity = imported(api, token, csv_text([mug["sku"], mug["name"], ""], header="sku,name,quantity"))
    assert empty_quantity["results"][0]["action"] == "unchanged", "an empty quantity gives no value"
    fresh = unique("DEF")
    imported(api, token, csv_text(["Defaults", fresh, "", ""], header="name,sku,quantity,unit"))
    assert (lambda i: (i["quantity"], i["unit"], i["low_stock_threshold"]))(by_sku(api, token, fresh)) == (0, "pcs", 10)


def test_rows_that_fail_are_reported_with_lines_of_the_file_and_the_others_go_on(api, manager):
    token = manager["token"]
    good, later = unique("OK"), unique("OK")
    text = (HEADER.replace(",description", "") + "\r\n"  # columns: all but description
            + f"{good},Good one,,,3,pcs,,1\r\n"
            + ",No sku,,,1,pcs,,1\r\n"
            + f"{unique('Q')},Bad numbers,,,-1,pcs,1.234,x\r\n"
            + f"{unique('M')},\"A name\r\nover two lines\",,,1,pcs\r\n"
            + "\r\n"
            + f"{later},\"Quoted, \"\"fine\"\"\",,,2,pcs,,0\r\n"
            + f"BAD SKU,x,{'c' * 101},,1,pcs,,1\r\n")
    report = imported(api, token, text, "first_row=40")
    results = report["results"]
    assert [(r["row"], r["action"]) for r in results] == \
        [(40, "create"), (41, "error"), (42, "error"), (43, "error"), (46, "create"), (47, "error")]
    assert results[1]["errors"] == [{"loc": ["sku"], "msg": "Field required", "type": "missing"}]
    assert results[1]["sku"] == ""
    assert {tuple(e["loc"]) for e in results[2]["errors"]} == {("quantity",), ("price",), ("low_stock_threshold",)}
    assert results[3]["errors"][0]["type"] == "csv_cells"
    assert {tuple(e["loc"]) for e in results[5]["errors"]} == {("sku",), ("category",)}
    assert (report["rows"], report["created"], report["failed"]) == (6, 2, 4)
    assert by_sku(api, token, later)["name"] == 'Quoted, "fine"'
    assert by_sku(api, token, good)["quantity"] == 3


def test_the_alerts_an_import_opens_are_mailed_by_one_invocation(api, manager, caplog):
    """Items created below their threshold open alerts as any write does; the mailer is chained once for
    all of them, not once per row (the platform allows 600 invocations a minute)."""
    token, skus = manager["token"], [unique("LOW") for _ in range(3)]
    with caplog.at_level(logging.INFO, logger="ims.invoke"):
        report = imported(api, token, csv_text(*[[s, "Running low", 1] for s in skus], header="sku,name,quantity"))
    assert report["created"] == 3
    invoked = [r for r in caplog.records if r.name == "ims.invoke" and "notify/low-stock-mailer" in r.getMessage()]
    assert len(invoked) == 1, [r.getMessage() for r in invoked]
    ids = {by_sku(api, token, s)["id"] for s in skus}

    def mailed() -> bool:
        alerts = api.get(f"{V1}/alerts?per_page=100", token=token).json()["data"]
        return {a["item_id"] for a in alerts if a["item_id"] in ids and a["mail_status"] in ("logged", "sent")} == ids

    wait_until(mailed, what="the three alerts mailed")


def test_a_sku_given_twice_is_created_then_updated(api, manager):
    token = manager["token"]
    sku = unique("TWICE")
    report = imported(api, token, csv_text([sku, "First", 1], [sku.lower(), "First", 5], header="sku,name,quantity"))
    assert [r["action"] for r in report["results"]] == ["create", "update"]
    assert report["results"][1]["changes"] == {"sku": [sku, sku.lower()], "quantity": [1, 5]}
    assert by_sku(api, token, sku)["quantity"] == 5


@pytest.mark.parametrize("body,where", [
    ("sku,name,colour\r\nA-1,x,red\r\n", ["body", "header", 3]),
    ("sku,description\r\nA-1,x\r\n", ["body", "header"]),
    ("sku,name,SKU\r\nA-1,x,y\r\n", ["body", "header", 3]),
    ("\r\n\r\n", ["body", "header"]),
    ('sku,name\r\nA-1,"unterminated\r\n', ["body"]),
    ('sku,name\r\nA-1,"quoted"then more\r\n', ["body"]),
])
def test_a_body_that_is_not_an_items_csv_is_422_and_nothing_is_written(api, manager, body, where):
    before = api.get(f"{V1}/items?search=A-1", token=manager["token"]).json()["total"]
    errors = assert_validation(send(api, manager["token"], body))
    assert errors[0]["loc"] == where and errors[0]["type"] in ("csv_header", "csv_syntax")
    assert api.get(f"{V1}/items?search=A-1", token=manager["token"]).json()["total"] == before


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/csv; charset=latin-1",
                                          "application/x-www-form-urlencoded"])
def test_another_content_type_is_415(api, manager, content_type):
    res = send(api, manager["token"], f"sku,name\r\n{unique('CT')},x\r\n", content_type=content_type)
    assert assert_problem(res, 415, "unsupported_media_type")["detail"] == "Send the body as text/csv; charset=utf-8."


def test_bytes_that_are_not_utf8_never_reach_the_database(api, manager):
    """Through the gateway a text body reaches the function decoded, as on the platform: bytes that are
    not UTF-8 arrive as U+FFFD, which a SKU refuses (tests/functions: the function's own 422)."""
    res = send(api, manager["token"], b"sku,name\r\nA\xff1,x\r\n", "dry_run=true")
    assert res.status == 200 and res.json()["results"][0]["action"] == "error"


def test_a_byte_order_mark_is_accepted(api, manager):
    sku = unique("BOM")
    report = imported(api, manager["token"], b"\xef\xbb\xbf" + f"sku,name\r\n{sku},Marked\r\n".encode())
    assert report["results"] == [{"row": 2, "sku": sku, "action": "create"}]


def test_quoted_text_and_unicode_survive_the_round_trip(api, manager):
    token = manager["token"]
    category = new_category(api, token, name=unique("Ünïcødé 😀"))
    sku = unique("RT")
    description = 'He said "hi", then\nleft;\r\nback\ttab, =1+1, @mention, +plus'
    report = imported(api, token, csv_text([sku, "Ça coûte 5 €, 😀", description, category["name"], 3],
                                           header="sku,name,description,category,quantity"))
    assert report["results"][0]["action"] == "create" and report["categories_created"] == []
    [row] = rows_of(export(api, token, f"category_id={category['id']}").text)
    assert (row["name"], row["description"], row["category"]) == ("Ça coûte 5 €, 😀", description, category["name"])


def test_staff_may_export_but_not_import(api, staff):
    assert export(api, staff["token"], f"search={unique('x')}").status == 200
    assert_problem(send(api, staff["token"], f"sku,name\r\n{unique('ST')},x\r\n"), 403)


def test_an_idempotency_key_replays_the_first_answer(api, manager):
    token, sku, key = manager["token"], unique("IDEM"), unique("key")
    text = f"sku,name,quantity\r\n{sku},Once,1\r\n"
    first = send(api, token, text, headers={"Idempotency-Key": key})
    assert first.status == 200 and first.json()["created"] == 1
    replay = send(api, token, text, headers={"Idempotency-Key": key})
    assert replay.status == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json() == first.json()
    item = by_sku(api, token, sku)
    assert [e["action"] for e in ledger(api, token, item["id"])] == ["create"]
    assert_validation(send(api, token, text, "dry_run=true", headers={"Idempotency-Key": key}))


def test_with_an_idempotency_key_a_failing_row_does_not_undo_the_others(api, manager):
    """With a key the whole body runs in the key's transaction (tests/shared: a row refused while
    writing is undone alone there)."""
    token, taken = manager["token"], new_item(api, manager["token"])
    first, second = unique("IK"), unique("IK")
    text = csv_text([first, "One"], [taken["sku"], "x" * 201], [second, "Two"], header="sku,name")
    report = imported(api, token, text, headers={"Idempotency-Key": unique("key")})
    assert [r["action"] for r in report["results"]] == ["create", "error", "create"]
    assert by_sku(api, token, first) and by_sku(api, token, second)


def test_an_answer_too_large_for_a_function_result_is_413_before_any_write(api, manager, monkeypatch):
    monkeypatch.setattr(csvio, "ANSWER_BYTES", 300)
    skus = [unique("BIG") for _ in range(5)]
    res = send(api, manager["token"], csv_text(*[[s, "Big"] for s in skus], header="sku,name"))
    body = assert_problem(res, 413, "import_answer_too_large")
    assert 1 <= body["max_rows"] < 5
    assert all(by_sku(api, manager["token"], s) is None for s in skus)


def test_the_openapi_document_declares_the_csv_media_types(api):
    doc = api.get("/openapi.json").json()
    export_op, import_op = doc["paths"]["/items/export"]["get"], doc["paths"]["/items/import"]["post"]
    assert set(export_op["responses"]["200"]["content"]) == {"text/csv"}
    assert "Link" in export_op["responses"]["200"]["headers"]
    assert set(import_op["requestBody"]["content"]) == {"text/csv"}
    assert set(import_op["responses"]["200"]["content"]) == {"application/json"}
    assert {"413", "415", "422"} <= set(import_op["responses"])
    assert {p["name"] for p in import_op["parameters"] if "name" in p} == {"dry_run", "first_row"}
    assert json.dumps(doc)  # serializable as it is served
