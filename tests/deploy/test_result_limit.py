"""The platform's 1 MB result limit: the largest page the API can answer still fits, as the launcher
writes it (the function's result dict as JSON, UTF-8, its body a JSON text inside a JSON string)."""

from __future__ import annotations

import json

from tests.conftest import unique

RESULT_LIMIT = 1_000_000  # 1 MB, read as strictly as it can be
# The costliest characters a client may send, 4 bytes each in the result: a character outside the
# BMP, and the two that JSON escapes, then escaped again when the body becomes a string in the result.
WORST = '😀"\\'


def _worst(length: int) -> str:
    return (WORST * length)[:length]


def test_a_full_page_of_the_longest_items_fits_in_a_result(api, manager):
    token = manager["token"]
    category = api.post("/api/v1/categories", {"name": unique("Result limit")}, token=token)
    assert category.status == 201, category.text
    for _ in range(100):
        res = api.post("/api/v1/items", {
            "name": _worst(200), "sku": unique("LIMIT")[:64], "description": _worst(2000), "unit": _worst(20),
            "quantity": 1_000_000_000, "price": "9999999999.99", "low_stock_threshold": 1_000_000_000,
            "category_id": category.json()["id"]}, token=token)
        assert res.status == 201, res.text

    page = api.get(f"/api/v1/items?category_id={category.json()['id']}&per_page=100", token=token)
    assert page.status == 200, page.text
    assert len(page.json()["data"]) == 100
    result = {"statusCode": page.status, "headers": {k: v for k, v in page.headers.items()}, "body": page.text}
    size = len(json.dumps(result, ensure_ascii=False).encode())
    assert size < RESULT_LIMIT, f"a full page is {size:,} bytes as a function result"


def test_control_characters_are_refused_in_text(api, manager):
    res = api.post("/api/v1/items", {"name": "Bell\x07", "sku": unique("CTRL"), "quantity": 1},
                   token=manager["token"])
    assert res.status == 422, res.text
    res = api.post("/api/v1/items", {"name": "Tabs\tand\nlines", "sku": unique("CTRL"), "quantity": 1,
                                     "description": "line one\r\nline\ttwo"}, token=manager["token"])
    assert res.status == 201, res.text
