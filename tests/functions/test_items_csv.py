"""items/export and items/import invoked directly with the events the platform sends: a text body in
and out (`body` a str, as OpenWhisk requires of a web action's result), in both event forms."""

from __future__ import annotations

import base64
import csv
import io
import json
from typing import Any
from urllib.parse import parse_qs

import pytest

from shared.services import csvio
from tests.conftest import unique
from tests.deploy.test_result_limit import RESULT_LIMIT, _worst
from tests.functions.test_contract import assert_problem, assert_shape, content_type, event, main_of

CSV = "text/csv; charset=utf-8"


def _do_event(token: str, body: bytes, content: str, query: str = "", b64: bool = True) -> dict[str, Any]:
    return {"http": {"method": "POST", "path": "", "queryString": query,
                     "headers": {"Authorization": f"Bearer {token}", "Content-Type": content},
                     "body": base64.b64encode(body).decode() if b64 else body.decode(), "isBase64Encoded": b64}}


@pytest.mark.parametrize("form", ["openwhisk", "digitalocean-base64", "digitalocean-plain"])
def test_the_import_reads_csv_in_every_event_form(services, manager, form):
    sku = unique("EV")
    body = f"\ufeffsku,name,quantity\r\n{sku},Évent \"form\",2\r\n".encode()
    if form == "openwhisk":
        ev = event("POST", token=manager["token"], body=body, query="dry_run=true", headers={"Content-Type": CSV})
        assert ev["__ow_body"] == body.decode(), "OpenWhisk passes a text body as it is"
    else:
        ev = _do_event(manager["token"], body, CSV, "dry_run=true", b64=form.endswith("base64"))
    result = main_of("items/import")(ev)
    assert_shape(result)
    assert result["statusCode"] == 200, result
    assert content_type(result) == "application/json"
    assert json.loads(result["body"])["results"] == [{"row": 2, "sku": sku, "action": "create"}]


@pytest.mark.parametrize("content,body,status,kind", [
    ("application/json", b'{"sku": "A"}', 415, None),
    ("text/plain", b"sku,name\r\n", 415, None),
    ("text/csv; charset=iso-8859-1", b"sku,name\r\n", 415, None),
    ("", b"sku,name\r\n", 415, None),
    (CSV, b"", 422, "missing"),
    (CSV, b"sku,name\r\nA-\xff,x\r\n", 422, "unicode_decode"),
    (CSV, b"\xef\xbb\xbf", 422, "csv_header"),
    (CSV, b"sku,name,\r\nA,x,\r\n", 422, "csv_header"),
    (CSV, b'sku,name\r\nA,"x"y\r\n', 422, "csv_syntax"),
])
def test_a_body_that_is_not_an_items_csv_is_refused(services, manager, content, body, status, kind):
    problem = assert_problem(main_of("items/import")(_do_event(manager["token"], body, content)), status)
    if kind is not None:
        assert all(set(e) == {"loc", "msg", "type"} for e in problem["errors"])
        assert problem["errors"][0]["type"] == kind


def test_a_full_export_page_of_the_costliest_text_fits_in_a_result(api, services, manager):
    """Every text field at its longest, in the characters that cost most in a result (an emoji, and a
    quote and a backslash, which CSV and then JSON escape): a page stops short of PAGE_BYTES, so the
    result stays under 1 MB, and its Link leads to the rest."""
    token = manager["token"]
    category = api.post("/api/v1/categories", {"name": unique("Costly")}, token=token).json()
    for _ in range(130):
        res = api.post("/api/v1/items", {
            "name": _worst(200), "sku": unique("COST"), "description": _worst(2000), "unit": _worst(20),
            "quantity": 1_000_000_000, "price": "9999999999.99", "low_stock_threshold": 1_000_000_000,
            "category_id": category["id"]}, token=token)
        assert res.status == 201, res.text
    export = main_of("items/export")
    result = export(event("GET", token=token, query=f"category_id={category['id']}"))
    assert_shape(result)
    assert result["statusCode"] == 200 and content_type(result) == CSV
    size = len(json.dumps(result, ensure_ascii=False).encode())
    assert csvio.PAGE_BYTES - 10_000 < csvio._cost(result["body"]) <= csvio.PAGE_BYTES < size < RESULT_LIMIT
    first = list(csv.DictReader(io.StringIO(result["body"], newline="")))
    assert first[0]["description"] == _worst(2000) and len(first) < 130
    link = result["headers"]["Link"]
    query = link[len("<?"):link.index(">")]
    assert parse_qs(query)["category_id"] == [str(category["id"])]
    rest = export(event("GET", token=token, query=query))
    assert rest["statusCode"] == 200 and "Link" not in rest["headers"]
    second = list(csv.DictReader(io.StringIO(rest["body"], newline="")))
    assert len(first) + len(second) == 130
    assert not {r["sku"] for r in first} & {r["sku"] for r in second}
