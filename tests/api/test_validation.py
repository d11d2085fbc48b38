"""Strict input: malformed bodies and query strings are 422 problems that never echo the input."""

from __future__ import annotations

import pytest

from tests.api.helpers import V1, assert_problem, assert_validation
from tests.conftest import unique

SECRET = "s3cr3t-" + "q" * 12  # a value that must never come back in an error


def raw_post(api, path, body: bytes, token, content_type="application/json"):
    return api.request("POST", path, token=token, body=body, headers={"Content-Type": content_type})


BAD_MOVEMENTS = {
    "integer as string": {"quantity": "5"},
    "fraction": {"quantity": 5.5},
    "fraction near an integer": {"quantity": 5.000001},
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


def quantity(api, token, item) -> int:
    return api.get(f"{V1}/items/{item['id']}", token=token).json()["quantity"]


@pytest.mark.parametrize("number", [b"5.0", b"5.00", b"0.5e1", b"5E0"])
def test_an_integral_number_is_an_integer_as_json_schema_has_it(api, staff, item, number):
    res = raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": %s}' % number, staff["token"])
    assert res.status == 200, res.text
    assert res.json()["quantity"] == 105


def test_duplicate_keys_are_refused_not_resolved(api, staff, manager, item):
    res = raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": 1, "quantity": 1000}', staff["token"])
    errors = assert_validation(res)
    assert errors[0]["loc"] == ["body", "quantity"] and errors[0]["type"] == "duplicate_key"
    nested = b'{"name": "n", "sku": "dup-nested", "description": "a", "description": "b"}'
    assert_validation(raw_post(api, f"{V1}/items", nested, manager["token"]))
    assert quantity(api, staff["token"], item) == 100


@pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity", b"1e400"])
def test_non_finite_numbers_are_422(api, staff, item, constant):
    assert_validation(raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": %s}' % constant,
                               staff["token"]))


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/xml", "text/json"])
def test_a_body_that_is_not_json_is_415(api, staff, item, content_type):
    res = raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": 5}', staff["token"], content_type)
    assert_problem(res, 415, "unsupported_media_type")
    assert quantity(api, staff["token"], item) == 100


def test_json_with_a_charset_or_a_json_suffix_is_json(api, staff, item):
    for content_type in ("application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"):
        res = raw_post(api, f"{V1}/items/{item['id']}/restock", b'{"quantity": 1}', staff["token"], content_type)
        assert res.status == 200, (content_type, res.text)
    assert quantity(api, staff["token"], item) == 103


def test_without_content_type_json_is_read_and_anything_else_is_415(api, staff, item):
    path = f"{V1}/items/{item['id']}/restock"
    ok = api.request("POST", path, token=staff["token"], body=b'{"quantity": 2}')
    assert ok.status == 200, ok.text
    assert_problem(api.request("POST", path, token=staff["token"], body=b"quantity=2"), 415, "unsupported_media_type")
    duplicate = api.request("POST", path, token=staff["token"], body=b'{"quantity": 2, "quantity": 3}')
    assert assert_validation(duplicate)[0]["type"] == "duplicate_key"  # JSON, just not acceptable JSON
    for refused, kind in ((b'{"quantity": NaN}', "json_number"), (b'{"quantity": 1e400}', "json_number"),
                          (b'{"quantity": ' + b"9" * 5000 + b"}", "json_number")):
        assert assert_validation(api.request("POST", path, token=staff["token"], body=refused))[0]["type"] == kind
    assert quantity(api, staff["token"], item) == 102


def test_null_where_the_document_allows_it_clears_the_field(api, manager):
    category = api.post(f"{V1}/categories", {"name": unique("Null")}, token=manager["token"]).json()
    created = api.post(f"{V1}/items", {"name": unique("N"), "sku": unique("N"), "description": "old",
                                       "price": "3.00", "category_id": category["id"]}, token=manager["token"])
    assert created.status == 201, created.text
    item_id = created.json()["id"]
    res = api.patch(f"{V1}/items/{item_id}", {"description": None, "price": None, "category_id": None},
                    token=manager["token"])
    assert res.status == 200, res.text
    assert (res.json()["description"], res.json()["price"], res.json()["category_id"]) == (None, None, None)
    res = api.post(f"{V1}/items/{item_id}/restock", {"quantity": 1, "notes": None}, token=manager["token"])
    assert res.status == 200, res.text


@pytest.mark.parametrize("field", ["name", "sku", "quantity", "unit", "low_stock_threshold"])
def test_null_where_the_document_does_not_allow_it_is_422(api, manager, openapi_schemas, item, field):
    patch = openapi_schemas["ItemPatch"]["properties"][field]
    assert "null" not in str(patch), patch  # the document says what the server does
    errors = assert_validation(api.patch(f"{V1}/items/{item['id']}", {field: None}, token=manager["token"]))
    assert errors[0]["loc"] == ["body", field]


@pytest.mark.parametrize("path", ["/items/{id}", "/users/{user}"])
def test_an_empty_patch_is_refused_as_the_document_says(api, manager, openapi_schemas, item, path):
    name = "ItemPatch" if "items" in path else "UserPatch"
    assert openapi_schemas[name]["minProperties"] == 1
    url = V1 + path.format(id=item["id"], user=manager["user"]["id"])
    assert_validation(api.patch(url, {}, token=manager["token"]))


def test_money_is_a_two_decimal_string_or_a_number_rounded_to_cents(api, manager):
    res = api.post(f"{V1}/items", {"name": unique("M"), "sku": unique("M"), "price": 0.5700000000000001},
                   token=manager["token"])
    assert res.status == 201, res.text
    assert res.json()["price"] == "0.57"
    for price in ("1.005", "1e3", " 1.00", "-0.01", -0.001, 1e10):
        assert_validation(api.post(f"{V1}/items", {"name": unique("M"), "sku": unique("M"), "price": price},
                                   token=manager["token"]))


def test_email_fields_are_declared_as_email(openapi_schemas):
    for name in ("RegisterIn", "UserCreate", "LoginIn"):
        assert openapi_schemas[name]["properties"]["email"]["format"] == "email", name


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
               "search=", "search=" + "x" * 101, "sort_by=bogus", "order=up", "unknown=1",
               # what the document does not call an integer or a boolean
               "page=1.0", "page=+1", "page=%201", "page=1_0", "below_threshold=1", "below_threshold=yes",
               "below_threshold=True", "sku=", "sku=has%20space"]


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_item_query_is_422(api, staff, query):
    errors = assert_validation(api.get(f"{V1}/items?{query}", token=staff["token"]))
    assert all(err["loc"][0] == "query" for err in errors)


@pytest.mark.parametrize("path", ["/users?page=0", "/categories?per_page=0", "/locations?page=abc",
                                  "/logs?action=steal", "/logs?since=yesterday", "/alerts?acknowledged=maybe",
                                  "/logs?since=0.5", "/logs?since=1732170000", "/logs?until=2026-11-30",
                                  "/logs?since=2026-11-30T08:00:00", "/logs?since=2026-13-01T00:00:00Z",
                                  "/alerts?mail_status=delivered"])
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


@pytest.fixture(scope="module")
def openapi_schemas(api) -> dict:
    return api.get("/openapi.json").json()["components"]["schemas"]


def test_a_query_parameter_given_twice_is_422_not_the_last_one_silently(api, staff):
    res = api.get(f"{V1}/items?sku=A-1&sku=B-2", token=staff["token"])
    assert [(e["loc"], e["type"]) for e in assert_validation(res)] == [(["query", "sku"], "duplicate_parameter")]
