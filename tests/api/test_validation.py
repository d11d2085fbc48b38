"""Strict input: malformed bodies and query strings are 422 problems that never echo the input."""

from __future__ import annotations

import pytest

from tests.api.helpers import V1, assert_validation
from tests.conftest import unique

SECRET = "s3cr3t-" + "q" * 12  # a value that must never come back in an error


def raw_post(api, path, body: bytes, token, content_type="application/json"):
    return api.request("POST", path, token=token, body=body, headers={"Content-Type": content_type})


BAD_MOVEMENTS = {
    "integer as string": {"quantity": "5"},
    "fraction": {"quantity": 5.5},
    "integral float": {"quantity": 5.0},
    "boolean": {"quantity": True},
    "unknown field": {"quantity": 5, "colour": "red"},
    "missing quantity": {"notes": "none"},
    "null quantity": {"quantity": None},
    "huge quantity": {"quantity": 10**12},
    "enormous quantity": {"quantity": 10**40},
    "negative quantity": {"quantity": -1},
    "zero quantity": {"quantity": 0},
    "notes not text": {"quantity": 1, "notes": 5},
}


@pytest.mark.parametrize("body", BAD_MOVEMENTS.values(), ids=BAD_MOVEMENTS.keys())
def test_bad_movement_body_is_422_and_stock_unchanged(api, staff, item, body):
    assert_validation(api.post(f"{V1}/items/{item['id']}/withdraw", body, token=staff["token"]))
    assert api.get(f"{V1}/items/{item['id']}", token=staff["token"]).json()["quantity"] == 100


RAW_BODIES = {
    "wrong json": b'{"quantity": 5',
    "not json at all": b"quantity=5",
    "empty body": b"",
    "whitespace body": b"   ",
    "json array": b'[{"quantity": 5}]',
    "json string": b'"5"',
    "json number": b"5",
    "json null": b"null",
    "invalid utf-8": b'{"quantity": 5, "notes": "\xff\xfe"}',
}


@pytest.mark.parametrize("body", RAW_BODIES.values(), ids=RAW_BODIES.keys())
def test_malformed_body_is_422(api, staff, item, body):
    assert_validation(raw_post(api, f"{V1}/items/{item['id']}/restock", body, staff["token"]))


def test_json_body_sent_as_text_plain_is_still_validated(api, staff, item):
    res = raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": "5"}', staff["token"], "text/plain")
    assert_validation(res)


BAD_ITEMS = {
    "integer as string": {"quantity": "5"},
    "fraction": {"low_stock_threshold": 2.5},
    "unknown field": {"colour": "red"},
    "negative quantity": {"quantity": -1},
    "huge quantity": {"quantity": 2**31},
    "negative price": {"price": "-1.00"},
    "price with three decimals": {"price": "1.005"},
    "price not a number": {"price": "cheap"},
    "blank name": {"name": "   "},
    "sku with spaces": {"sku": "has space"},
    "id as string": {"category_id": "1"},
    "zero id": {"category_id": 0},
}


@pytest.mark.parametrize("change", BAD_ITEMS.values(), ids=BAD_ITEMS.keys())
def test_bad_item_body_is_422(api, manager, change):
    body = {"name": unique("V"), "sku": unique("V"), **change}
    errors = assert_validation(api.post(f"{V1}/items", body, token=manager["token"]))
    assert all(err["loc"][0] == "body" for err in errors)


def test_validation_errors_never_echo_the_input(api, manager, item):
    bodies = [{"quantity": SECRET}, {"quantity": 1, "notes": [SECRET]}, {"quantity": 1, "notes": SECRET * 40}]
    for body in bodies:
        res = api.post(f"{V1}/items/{item['id']}/withdraw", body, token=manager["token"])
        assert_validation(res)
        assert SECRET not in res.text
    res = api.post(f"{V1}/auth/login", {"email": "boss@example.com", "password": SECRET * 20})
    assert_validation(res)
    assert SECRET not in res.text


def test_unknown_field_is_named_in_loc_but_its_value_is_not_echoed(api, staff, item):
    res = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1, "colour": SECRET}, token=staff["token"])
    errors = assert_validation(res)
    assert errors[0]["loc"] == ["body", "colour"] and errors[0]["type"] == "extra_forbidden"
    assert SECRET not in res.text


def test_validation_error_locates_the_field(api, staff, item):
    errors = assert_validation(api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": "5"}, token=staff["token"]))
    assert errors[0]["loc"] == ["body", "quantity"]


BAD_QUERIES = ["page=abc", "page=0", "page=-1", "per_page=0", "per_page=abc", "min_quantity=-1",
               "max_quantity=1.5", "below_threshold=maybe", "category_id=abc", "category_id=0",
               "search=", "search=" + "x" * 101, "sort_by=bogus", "order=up", "unknown=1"]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_item_query_is_422(api, staff, query):
    errors = assert_validation(api.get(f"{V1}/items?{query}", token=staff["token"]))
    assert all(err["loc"][0] == "query" for err in errors)


@pytest.mark.parametrize("path", ["/users?page=0", "/categories?per_page=0", "/locations?page=abc",
                                  "/logs?action=steal", "/logs?since=yesterday", "/alerts?acknowledged=maybe"])
def test_bad_query_on_other_lists_is_422(api, manager, path):
    assert_validation(api.get(f"{V1}{path}", token=manager["token"]))


NUL_REQUESTS = {
    "item name": ("POST", "/items", {"name": "a\u0000b", "sku": "nul-sku"}),
    "movement notes": ("POST", "/items/{id}/restock", {"quantity": 1, "notes": "a\u0000b"}),
    "category name": ("POST", "/categories", {"name": "c\u0000"}),
    "login e-mail": ("POST", "/auth/login", {"email": "a\u0000@example.com", "password": "whatever-1"}),
    "register name": ("POST", "/auth/register", {"email": "nul@example.com", "password": "long-enough-1",
                                                 "full_name": "x\u0000"}),
}


@pytest.mark.parametrize("method,path,body", NUL_REQUESTS.values(), ids=NUL_REQUESTS.keys())
def test_nul_character_in_a_body_string_is_422(api, manager, item, method, path, body):
    res = api.request(method, V1 + path.replace("{id}", str(item["id"])), body, token=manager["token"])
    assert_validation(res)


def test_nul_character_in_a_search_is_422(api, staff):
    errors = assert_validation(api.get(f"{V1}/items?search=a%00b", token=staff["token"]))
    assert errors[0]["loc"] == ["query", "search"]


def test_password_longer_than_bcrypt_accepts_is_422_on_register(api, manager):
    res = api.post(f"{V1}/auth/register", {"email": f"{unique('long')}@example.com", "password": "é" * 40,
                                           "full_name": "Long"})
    assert assert_validation(res)[0]["loc"] == ["body", "password"]


def test_overlong_password_at_login_is_a_plain_401(api, manager):
    res = api.post(f"{V1}/auth/login", {"email": f"{unique('long')}@example.com", "password": "x" * 100})
    assert res.status == 401, res.text
