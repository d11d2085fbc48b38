"""Small builders the API tests share: fresh, uniquely named objects so tests never see each other."""

from __future__ import annotations

from typing import Any

from tests.client import Api
from tests.conftest import unique

V1 = "/api/v1"


def new_item(api: Api, token: str, **fields: Any) -> dict:
    body = {"name": unique("Item"), "sku": unique("SKU"), **fields}
    res = api.post(f"{V1}/items", body, token=token)
    assert res.status == 201, res.text
    return res.json()


def withdraw(api: Api, token: str, item_id: int, quantity: int = 1) -> dict:
    res = api.post(f"{V1}/items/{item_id}/withdraw", {"quantity": quantity}, token=token)
    assert res.status == 200, res.text
    return res.json()


def new_category(api: Api, token: str, **fields: Any) -> dict:
    res = api.post(f"{V1}/categories", {"name": unique("Cat"), **fields}, token=token)
    assert res.status == 201, res.text
    return res.json()


def new_location(api: Api, token: str, **fields: Any) -> dict:
    res = api.post(f"{V1}/locations", {"name": unique("Loc"), **fields}, token=token)
    assert res.status == 201, res.text
    return res.json()


def login(api: Api, email: str, password: str) -> dict:
    res = api.post(f"{V1}/auth/login", {"email": email, "password": password})
    assert res.status == 200, res.text
    return res.json()


def assert_problem(res: Any, status: int, code: str | None = None) -> dict:
    """The response is an RFC 9457 problem with this status (and code)."""
    assert res.status == status, res.text
    assert res.headers["content-type"].startswith("application/problem+json"), res.headers
    body = res.json()
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == status
    if code is not None:
        assert body["code"] == code, body
    return body


def assert_validation(res: Any) -> list[dict]:
    """A 422 whose `errors` keep only loc/msg/type (never the rejected input)."""
    body = assert_problem(res, 422)
    assert body["errors"], body
    for err in body["errors"]:
        assert set(err) == {"loc", "msg", "type"}, err
        assert isinstance(err["loc"], list) and isinstance(err["msg"], str) and isinstance(err["type"], str)
    return body["errors"]
