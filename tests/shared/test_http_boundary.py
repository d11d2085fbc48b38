"""shared/http.py on its own: event parsing, problem documents, the handler's error boundary and
JSON serialization. No database: the handlers here are public and touch nothing."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import logging

import pytest

from shared import errors
from shared.http import MAX_BODY, Response, dumps, handler, parse_event, problem


@handler("GET", auth="public")
def explode(req):
    raise ValueError("secret text")


@handler("POST", auth="public", path_id=True)
def echo(req):
    """Echoes what the boundary parsed."""
    return {"id": req.id, "method": req.method, "query": req.raw_query, "body": req.body.decode(),
            "price": decimal.Decimal("12.50"), "at": dt.datetime(2024, 5, 6, 7, 8, 9, tzinfo=dt.timezone.utc)}


@handler("DELETE", auth="public")
def nothing(req):
    return None


@handler("GET", auth="public")
def conflict(req):
    raise errors.Conflict("Only 2 in stock.", code="insufficient_stock", available=2)


# --- parse_event --------------------------------------------------------------------------------

def test_parse_openwhisk_event_with_base64_json_body():
    req = parse_event({"__ow_method": "post", "__ow_headers": {"content-type": "application/json",
                                                               "x-request-id": "rid-1"},
                       "__ow_path": "/42", "__ow_query": "a=1&b=2",
                       "__ow_body": base64.b64encode(b'{"quantity": 3}').decode()})
    assert (req.method, req.path, req.raw_query, req.body) == ("POST", "/42", "a=1&b=2", b'{"quantity": 3}')
    assert req.request_id == "rid-1"
    assert req.header("Content-Type") == "application/json"


def test_parse_openwhisk_event_with_plain_json_and_text_bodies():
    plain = parse_event({"__ow_method": "post", "__ow_headers": {"content-type": "application/json"},
                         "__ow_body": '{"quantity": 3}'})
    assert plain.body == b'{"quantity": 3}'
    text = parse_event({"__ow_method": "post", "__ow_headers": {"content-type": "text/plain"},
                        "__ow_body": "aGVsbG8="})
    assert text.body == b"aGVsbG8=", "a text body is never base64-decoded"


def test_parse_digitalocean_http_form():
    for b64, raw in ((True, base64.b64encode(b'{"a": 1}').decode()), (False, '{"a": 1}')):
        req = parse_event({"http": {"method": "PATCH", "headers": {"Content-Type": "application/json",
                                                                   "X-Request-Id": "do-1"},
                                    "path": "/7", "queryString": "x=y", "body": raw, "isBase64Encoded": b64}})
        assert (req.method, req.path, req.raw_query, req.body) == ("PATCH", "/7", "x=y", b'{"a": 1}')
        assert req.headers["content-type"] == "application/json" and req.request_id == "do-1"


def test_parse_empty_event_defaults():
    req = parse_event({})
    assert (req.method, req.path, req.raw_query, req.body, req.headers) == ("GET", "", "", b"", {})
    assert req.request_id


def test_parse_event_refuses_an_oversized_body():
    with pytest.raises(errors.PayloadTooLarge):
        parse_event({"__ow_method": "post", "__ow_headers": {"content-type": "text/plain"},
                     "__ow_body": "x" * (MAX_BODY + 1)})


def test_request_id_is_bounded():
    req = parse_event({"__ow_headers": {"x-request-id": "r" * 500}})
    assert len(req.request_id) <= 64


# --- problem documents ----------------------------------------------------------------------------

def test_problem_shape_and_content_type():
    result = problem(errors.NotFound("Item 5 does not exist."), "rid-9")
    assert result["statusCode"] == 404
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert result["headers"]["X-Request-Id"] == "rid-9"
    body = json.loads(result["body"])
    assert body == {"type": "https://ims.dev/problems/not-found", "title": "Not Found", "status": 404,
                    "detail": "Item 5 does not exist.", "code": "not_found", "request_id": "rid-9"}


def test_problem_carries_extra_members_and_headers():
    result = problem(errors.Unauthorized("No token."), "r")
    assert result["headers"]["WWW-Authenticate"] == "Bearer"
    body = json.loads(conflict({"__ow_method": "get", "__ow_headers": {}})["body"])
    assert (body["status"], body["code"], body["available"]) == (409, "insufficient_stock", 2)


def test_validation_problem_lists_errors():
    exc = errors.ValidationFailed([{"loc": ["body", "quantity"], "msg": "Input should be > 0", "type": "greater_than"}])
    body = json.loads(problem(exc, "r")["body"])
    assert body["status"] == 422 and body["code"] == "validation_error"
    assert body["errors"] == [{"loc": ["body", "quantity"], "msg": "Input should be > 0", "type": "greater_than"}]


# --- the handler's boundary ---------------------------------------------------------------------

def test_unexpected_exception_is_an_opaque_500(caplog):
    with caplog.at_level(logging.ERROR, logger="ims"):
        result = explode({"__ow_method": "get", "__ow_headers": {"x-request-id": "boom-1"}})
    assert result["statusCode"] == 500
    assert result["headers"]["Content-Type"] == "application/problem+json"
    assert "secret text" not in result["body"] and "ValueError" not in result["body"]
    body = json.loads(result["body"])
    assert body["code"] == "internal_error" and body["request_id"] == "boom-1"
    # ... while the operator finds it in the log, by the same request id.
    [record] = [r for r in caplog.records if "boom-1" in r.getMessage()]
    assert record.exc_info and "secret text" in str(record.exc_info[1])


def test_handler_derives_its_name_and_spec():
    assert explode.spec.method == "GET" and explode.spec.auth == "public" and explode.spec.path_id is False
    assert echo.spec.summary == "Echoes what the boundary parsed."


def test_handler_checks_method_and_path():
    wrong = explode({"__ow_method": "post", "__ow_headers": {}})
    assert wrong["statusCode"] == 405 and wrong["headers"]["Allow"] == "GET"
    extra_path = explode({"__ow_method": "get", "__ow_headers": {}, "__ow_path": "/5"})
    assert extra_path["statusCode"] == 404
    for bad in ("", "/", "/abc", "/-3", "/99999999999999999999", "/\u00b2", "/\u0661"):
        result = echo({"__ow_method": "post", "__ow_headers": {}, "__ow_path": bad})
        assert result["statusCode"] == 404, bad


def test_handler_serializes_decimals_and_datetimes():
    result = echo({"__ow_method": "post", "__ow_headers": {"content-type": "text/plain"}, "__ow_path": "/12",
                   "__ow_query": "q=1", "__ow_body": "hi"}, object())
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "application/json"
    assert json.loads(result["body"]) == {"id": 12, "method": "POST", "query": "q=1", "body": "hi",
                                          "price": "12.50", "at": "2024-05-06T07:08:09Z"}


def test_none_result_is_204_with_empty_body():
    result = nothing({"__ow_method": "delete", "__ow_headers": {}})
    assert result["statusCode"] == 204 and result["body"] == ""


def test_dumps():
    tz = dt.timezone(dt.timedelta(hours=2))
    assert json.loads(dumps({"p": decimal.Decimal("12.50"), "z": decimal.Decimal("0.10"),
                             "t": dt.datetime(2024, 1, 2, 5, 4, 5, 120000, tzinfo=tz), "d": dt.date(2024, 1, 2)})) == \
        {"p": "12.50", "z": "0.10", "t": "2024-01-02T03:04:05.120000Z", "d": "2024-01-02"}
    with pytest.raises(TypeError):
        dumps({"x": object()})


def test_response_headers_are_kept():
    @handler("GET", auth="public")
    def tagged(req):
        return Response({"ok": True}, 201, {"ETag": '"3"'})

    result = tagged({"__ow_method": "get", "__ow_headers": {}})
    assert result["statusCode"] == 201 and result["headers"]["ETag"] == '"3"'
    assert json.loads(result["body"]) == {"ok": True}
