"""The function contract (DESIGN.md §2): every function invoked directly, with the events the platform
sends, the way OpenWhisk and DigitalOcean would call it; no HTTP in between."""

from __future__ import annotations

import base64
import inspect
import json
import logging
from types import SimpleNamespace
from typing import Any

import pytest
import yaml

from gateway import manifest
from gateway.platform_event import build_event
from tests.conftest import settings_env

FUNCTIONS = manifest.load()
WEB = [f for f in FUNCTIONS if f.routed]
BY_NAME = {f.qualified: f for f in FUNCTIONS}
IDS = [f.qualified for f in WEB]

# What must never reach a client: stack traces, exception names and text, SQL, driver names.
LEAKS = ("traceback", 'file "', ".py", "exception", "error(", "pg8000", "psycopg", "redis.", "select ",
         "insert into", "update items", "delete from", "sqlstate", "connection refused", "127.0.0.1:1",
         "secret text")


def main_of(qualified: str):
    return manifest.load_main(BY_NAME[qualified])


def event(method: str, path: str = "", *, token: str | None = None, body: Any = None, query: str = "",
          headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The event the gateway (and the platform) would send for this request."""
    hdrs = {"Content-Type": "application/json", **(headers or {})}
    if token:
        hdrs["Authorization"] = f"Bearer {token}"
    raw = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
    return build_event(method, path, query, hdrs, raw)


def assert_shape(result: Any) -> None:
    """{"statusCode": int, "headers": dict, "body": str}, nothing else will do."""
    assert isinstance(result, dict), f"main returned {type(result).__name__}"
    assert isinstance(result.get("statusCode"), int) and not isinstance(result["statusCode"], bool)
    assert 100 <= result["statusCode"] <= 599
    assert isinstance(result.get("headers"), dict)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in result["headers"].items())
    assert isinstance(result.get("body"), str)


def content_type(result: dict[str, Any]) -> str:
    return {k.lower(): v for k, v in result["headers"].items()}.get("content-type", "")


def assert_problem(result: Any, status: int | None = None) -> dict[str, Any]:
    """A problem+json response that tells nothing about the internals; returns its body."""
    assert_shape(result)
    if status is not None:
        assert result["statusCode"] == status, result
    assert content_type(result).startswith("application/problem+json"), result
    body = json.loads(result["body"])
    assert {"type", "title", "status", "detail", "code"} <= body.keys(), body
    assert body["status"] == result["statusCode"]
    text = result["body"].lower()
    for leak in LEAKS:
        assert leak not in text, f"{leak!r} leaked into {result['body']}"
    return body


def assert_client_error_or_success(result: Any) -> None:
    """Hostile input: anything but a 5xx; a refusal is a clean 4xx problem."""
    assert_shape(result)
    assert result["statusCode"] < 500, result
    if result["statusCode"] >= 400:
        assert_problem(result)


# --- the manifest and the code agree -----------------------------------------------------------

def test_every_functions_folder_is_listed_in_project_yml_and_vice_versa():
    root = manifest.DEFAULT_FUNCTIONS_DIR
    on_disk = {f"{p.parent.name}/{p.name}" for p in root.glob("*/*")
               if p.is_dir() and p.name != "__pycache__" and p.parent.name != "__pycache__"}
    doc = yaml.safe_load(manifest.DEFAULT_MANIFEST.read_text())
    listed = {f"{pkg['name']}/{fn['name']}" for pkg in doc["packages"] for fn in pkg["functions"]}
    assert on_disk == listed
    assert all((root / name / "__main__.py").is_file() for name in listed)


@pytest.mark.parametrize("qualified", IDS)
def test_spec_agrees_with_project_yml(qualified):
    function = BY_NAME[qualified]
    spec = main_of(qualified).spec
    assert spec.method == function.method
    assert spec.auth == function.auth
    assert spec.path_id == ("{id}" in (function.route or ""))


def test_non_web_functions_are_plain_mains():
    """Triggered functions (ops/relay) take (args) and (args, context) and return a dict."""
    for function in FUNCTIONS:
        if not function.is_http:
            signature = inspect.signature(manifest.load_main(function))
            signature.bind({})
            signature.bind({}, SimpleNamespace(activation_id="a1"))


# --- event forms ------------------------------------------------------------------------------

def test_json_body_base64_encoded_as_openwhisk_sends_it(services, manager, item):
    ev = event("POST", f"/{item['id']}", token=manager["token"], body={"quantity": 2})
    assert ev["__ow_body"] == base64.b64encode(b'{"quantity": 2}').decode()
    result = main_of("items/withdraw")(ev)
    assert_shape(result)
    assert result["statusCode"] == 200, result
    assert content_type(result) == "application/json"
    assert json.loads(result["body"])["quantity"] == 98


def test_plain_json_string_body_works(services, manager, item):
    ev = event("POST", f"/{item['id']}", token=manager["token"])
    ev["__ow_body"] = json.dumps({"quantity": 3})
    result = main_of("items/withdraw")(ev)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["quantity"] == 97


def test_already_parsed_json_body_works(services, manager, item):
    ev = event("POST", f"/{item['id']}", token=manager["token"])
    ev["__ow_body"] = {"quantity": 4}
    result = main_of("items/withdraw")(ev)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["quantity"] == 96


def _do_event(method: str, path: str, token: str, body: bytes, b64: bool) -> dict[str, Any]:
    raw = base64.b64encode(body).decode() if b64 else body.decode()
    return {"http": {"method": method, "headers": {"Authorization": f"Bearer {token}",
                                                   "Content-Type": "application/json"},
                     "path": path, "queryString": "", "body": raw, "isBase64Encoded": b64}}


@pytest.mark.parametrize("b64", [False, True], ids=["plain", "base64"])
def test_digitalocean_http_form(services, manager, item, b64):
    withdraw = main_of("items/withdraw")
    result = withdraw(_do_event("POST", f"/{item['id']}", manager["token"], b'{"quantity": 5}', b64))
    assert_shape(result)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["quantity"] == 95
    got = main_of("items/get")(_do_event("GET", f"/{item['id']}", manager["token"], b"", b64))
    assert got["statusCode"] == 200, got
    assert json.loads(got["body"])["quantity"] == 95


def test_digitalocean_http_form_wins_over_ow_keys(services, manager, item):
    ev = _do_event("GET", f"/{item['id']}", manager["token"], b"", False)
    ev.update({"__ow_method": "delete", "__ow_path": "/99999999", "__ow_headers": {}})
    result = main_of("items/get")(ev)
    assert result["statusCode"] == 200, result
    assert json.loads(result["body"])["id"] == item["id"]


def test_main_takes_one_or_two_arguments(services, manager, item):
    get = main_of("items/get")
    context = SimpleNamespace(activation_id="a1b2c3", function_name="/local/items/get", function_version="0.0.1",
                              deadline=0, get_remaining_time_in_millis=lambda: 15000)
    one = get(event("GET", f"/{item['id']}", token=manager["token"]))
    two = get(event("GET", f"/{item['id']}", token=manager["token"]), context)
    for result in (one, two):
        assert_shape(result)
        assert result["statusCode"] == 200
    assert json.loads(one["body"]) == json.loads(two["body"])


@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if f.method == "GET" and "{id}" not in f.route])
def test_get_functions_answer_with_the_contract_shape(services, manager, qualified):
    result = main_of(qualified)(event("GET", token=manager["token"]))
    assert_shape(result)
    assert result["statusCode"] == 200, result
    assert result["headers"]["X-Request-Id"]


# --- hostile events ---------------------------------------------------------------------------

@pytest.mark.parametrize("qualified", IDS)
def test_empty_event_is_never_a_server_error(services, qualified):
    assert_client_error_or_success(main_of(qualified)({}))


@pytest.mark.parametrize("qualified", IDS)
def test_event_without_headers_is_never_a_server_error(services, qualified):
    function = BY_NAME[qualified]
    ev = {"__ow_method": function.method.lower(), "__ow_path": "", "__ow_query": "", "__ow_body": ""}
    result = main_of(qualified)(ev)
    assert_client_error_or_success(result)
    if function.auth != "public":
        assert_problem(result, 401)


@pytest.mark.parametrize("qualified", IDS)
def test_args_that_are_not_a_dict_are_answered_as_an_empty_event(services, qualified):
    expected = main_of(qualified)({})["statusCode"]
    for args in (None, [], "x"):
        result = main_of(qualified)(args)
        assert_client_error_or_success(result)
        assert result["statusCode"] == expected, (args, result)


@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if "{id}" not in f.route])
def test_a_sub_path_of_a_route_without_an_id_is_404(services, manager, qualified):
    function = BY_NAME[qualified]
    assert_problem(main_of(qualified)(event(function.method, "/1", token=manager["token"], body={})), 404)


@pytest.mark.parametrize("path", ["/99999999999999999999", "/-1", "/abc", "/1.5", "/0x10", "/1/2", "/%00", "/ 1",
                                  "/\u00b2", "/\u0661\u0662"])
@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if "{id}" in f.route])
def test_bad_path_ids_are_404(services, manager, qualified, path):
    function = BY_NAME[qualified]
    result = main_of(qualified)(event(function.method, path, token=manager["token"], body={}))
    assert_problem(result, 404)


BAD_BODIES = {
    "garbage-base64": "!!!not*base64@@@",
    "binary": base64.b64encode(b"\xff\xfe\x00\x81").decode(),
    "not-json": base64.b64encode(b"quantity=3").decode(),
    "truncated-json": base64.b64encode(b'{"quantity": ').decode(),
    "json-array": base64.b64encode(b"[1, 2, 3]").decode(),
    "json-string": base64.b64encode(b'"hello"').decode(),
    "empty": "",
    "deep-nesting": base64.b64encode(b"[" * 5000 + b"]" * 5000).decode(),
}


@pytest.mark.parametrize("kind", BAD_BODIES)
@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if main_of(f.qualified).spec.body not in (None, str)])
def test_bad_bodies_are_422(services, manager, qualified, kind):
    """JSON bodies; text ones (CSV): tests/functions/test_items_csv.py."""
    function = BY_NAME[qualified]
    path = "/1" if "{id}" in function.route else ""
    ev = event(function.method, path, token=manager["token"])
    ev["__ow_body"] = BAD_BODIES[kind]
    body = assert_problem(main_of(qualified)(ev), 422)
    assert body["code"] == "validation_error"
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])


@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if main_of(f.qualified).spec.query is not None])
def test_bad_query_strings_are_422(services, manager, qualified):
    function = BY_NAME[qualified]
    for query in ("page=abc", "page=0", "per_page=100000", "page=99999999999999999999999", "nosuch=1"):
        path = "/1" if "{id}" in function.route else ""
        ev = event(function.method, path, token=manager["token"], query=query)
        assert_problem(main_of(qualified)(ev), 422)


def test_body_over_one_mebibyte_is_413(services, manager, item):
    ev = event("POST", f"/{item['id']}", token=manager["token"], body={"notes": "x" * (1 << 20), "quantity": 1})
    assert_problem(main_of("items/withdraw")(ev), 413)


# --- failures: a dependency down, and surprises ----------------------------------------------

@pytest.fixture
def database_down(services, monkeypatch):
    """The pool points at a port nobody listens on; restored afterwards. Any outage before is over."""
    from shared import db

    db.one("SELECT 1 AS ok")
    assert not db.outage.down
    monkeypatch.setattr(db, "_pool", db.Pool("postgresql://x@127.0.0.1:1/x", 1))


@pytest.fixture
def database_without_schema(services, monkeypatch):
    """The pool points at a real database without IMS's tables: every query fails in a way nobody
    planned for (42P01 undefined_table), the kind of surprise that must stay opaque."""
    from urllib.parse import urlsplit, urlunsplit

    from shared import db

    url = urlunsplit(urlsplit(services["DATABASE_URL"])._replace(path="/postgres"))
    monkeypatch.setattr(db, "_pool", db.Pool(url, 1))
    yield
    db._pool.close()


def test_a_database_that_is_down_is_a_503_with_retry_after_logged_once(manager, database_down, caplog):
    """Every function that needs the database answers 503 `database_unavailable`; the log has one line
    for the outage, not a traceback per request."""
    with caplog.at_level(logging.INFO):
        for _ in range(3):
            for function in WEB:
                if function.auth == "public" and function.qualified != "auth/login":
                    continue
                path = "/1" if "{id}" in function.route else ""
                body = {"email": "a@example.com", "password": "whatever-1"} if function.name == "login" else {}
                result = main_of(function.qualified)(event(function.method, path, token=manager["token"], body=body))
                problem = assert_problem(result, 503)
                assert problem["code"] == "database_unavailable", (function.qualified, problem)
                assert int(result["headers"]["Retry-After"]) > 0
    assert not [r for r in caplog.records if r.exc_info], "no traceback for an outage"
    outage_lines = [r.getMessage() for r in caplog.records if r.name == "ims.db"]
    assert len(outage_lines) == 1 and outage_lines[0].startswith("database unavailable ("), outage_lines


@pytest.mark.parametrize("qualified", [f.qualified for f in WEB if f.auth != "public"])
def test_unexpected_failure_is_an_opaque_500(manager, database_without_schema, caplog, qualified):
    function = BY_NAME[qualified]
    path = "/1" if "{id}" in function.route else ""
    request_id = "req-" + function.name
    ev = event(function.method, path, token=manager["token"], body={}, headers={"X-Request-Id": request_id})
    with caplog.at_level(logging.ERROR, logger="ims"):
        result = main_of(qualified)(ev)
    body = assert_problem(result, 500)
    assert body["code"] == "internal_error"
    assert body["request_id"] == request_id
    assert result["headers"]["X-Request-Id"] == request_id
    assert "request id" in body["detail"]
    # The details are in the log, under the same request id, for whoever operates it.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert logged and logged[0].exc_info is not None
    assert qualified in logged[0].getMessage()  # named after its folder when the platform sets no name


def test_unexpected_failure_without_request_id_still_has_one(manager, database_without_schema):
    result = main_of("items/get")(event("GET", "/1", token=manager["token"]))
    body = assert_problem(result, 500)
    assert body["request_id"] and body["request_id"] == result["headers"]["X-Request-Id"]


def test_the_log_names_the_function_after_the_platforms_action_name(manager, database_without_schema, caplog,
                                                                      monkeypatch):
    """Deployed, the code sits in a folder the platform names: __OW_ACTION_NAME says which function it is."""
    monkeypatch.setenv("__OW_ACTION_NAME", "/fn-0d2e4c/items/get")
    with caplog.at_level(logging.ERROR, logger="ims"):
        assert_problem(main_of("items/get")(event("GET", "/1", token=manager["token"])), 500)
    monkeypatch.setenv("__OW_ACTION_NAME", "/fn-0d2e4c/ops/relay")
    with caplog.at_level(logging.ERROR, logger="ims"):
        assert main_of("items/list")(event("GET", token=manager["token"]))["statusCode"] == 500
    messages = [r.getMessage() for r in caplog.records if r.exc_info]
    assert messages[0].startswith("unhandled error in items/get ") and "fn-0d2e4c" not in messages[0]
    assert messages[1].startswith("unhandled error in ops/relay "), "the platform's name wins over the folder"


def test_health_reports_a_down_database_as_503_not_500(database_down):
    result = main_of("ops/health")(event("GET"))
    assert_shape(result)
    assert result["statusCode"] == 503, result
    assert int(result["headers"]["Retry-After"]) > 0
    body = json.loads(result["body"])
    assert body["status"] != "ok" and body["checks"]["database"] != "ok"
    for leak in LEAKS:
        assert leak not in result["body"].lower()


# --- malformed events -------------------------------------------------------------------------

def _malformed(base: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Events no platform sends, built from a good one: each must be refused with a 400."""
    headers = base["__ow_headers"]
    http = {"method": base["__ow_method"], "headers": headers, "path": base["__ow_path"],
            "queryString": base["__ow_query"], "body": base["__ow_body"], "isBase64Encoded": True}
    return {
        "headers-a-list": {**base, "__ow_headers": list(headers.items())},
        "headers-a-string": {**base, "__ow_headers": "content-type: application/json"},
        "header-value-a-number": {**base, "__ow_headers": {**headers, "content-length": 12}},
        "header-value-a-list": {**base, "__ow_headers": {**headers, "accept": ["a", "b"]}},
        "header-value-null": {**base, "__ow_headers": {**headers, "x-thing": None}},
        "method-a-number": {**base, "__ow_method": 1},
        "method-a-list": {**base, "__ow_method": ["get"]},
        "path-a-number": {**base, "__ow_path": 42},
        "query-a-dict": {**base, "__ow_query": {"page": "1"}},
        "body-a-number": {**base, "__ow_body": 12},
        "body-a-boolean": {**base, "__ow_body": True},
        "http-headers-a-list": {"http": {**http, "headers": [["content-type", "application/json"]]}},
        "http-headers-a-string": {"http": {**http, "headers": "x"}},
        "http-method-a-dict": {"http": {**http, "method": {"get": 1}}},
        "http-path-a-list": {"http": {**http, "path": ["/1"]}},
        "http-body-a-number": {"http": {**http, "body": 3.5}},
        "http-base64-flag-a-string": {"http": {**http, "isBase64Encoded": "yes"}},
    }


@pytest.mark.parametrize("kind", list(_malformed(event("GET"))))
@pytest.mark.parametrize("qualified", IDS)
def test_a_malformed_event_is_a_400_problem(services, manager, qualified, kind):
    function = BY_NAME[qualified]
    path = "/1" if "{id}" in function.route else ""
    ev = _malformed(event(function.method, path, token=manager["token"], body={}))[kind]
    body = assert_problem(main_of(qualified)(ev), 400)
    assert body["code"] == "malformed_event"


@pytest.mark.parametrize("kind", ["headers-a-list", "header-value-a-number", "http-headers-a-list"])
def test_a_malformed_event_at_a_secured_function_url_is_a_400(services, kind):
    ev = _malformed(event("POST", headers={"X-Require-Whisk-Auth": "s3cret"}, body={}))[kind]
    assert_problem(main_of("notify/low-stock-mailer")(ev), 400)


@pytest.mark.parametrize("kind", ["header-value-a-number", "method-a-number", "http-body-a-number"])
def test_a_refused_event_still_carries_the_cors_headers(services, kind):
    """A browser on another origin must be able to read even a 400 (or a 413) the boundary answers
    before it has a request to speak of."""
    with settings_env(CORS_ORIGINS="https://ui.example.com"):
        good = event("GET", headers={"Origin": "https://ui.example.com"})
        result = main_of("items/list")(_malformed(good)[kind])
    assert result["statusCode"] == 400
    assert result["headers"]["Access-Control-Allow-Origin"] == "https://ui.example.com"


@pytest.mark.parametrize("function", WEB, ids=IDS)
def test_every_routed_function_answers_a_cors_preflight_itself(function, services):
    """As DigitalOcean hands OPTIONS to a function annotated web-custom-options: no token needed, the
    function's own method allowed, in both event forms."""
    ask = {"Origin": "https://ui.example.com", "Access-Control-Request-Method": function.method}
    with settings_env(CORS_ORIGINS="https://ui.example.com"):
        ow = main_of(function.qualified)(event("OPTIONS", "/1" if "{id}" in function.route else "", headers=ask))
        do = main_of(function.qualified)({"http": {"method": "OPTIONS", "path": "", "headers": {
            k.lower(): v for k, v in ask.items()}}})
    for result in (ow, do):
        assert_shape(result)
        assert result["statusCode"] == 204 and result["body"] == ""
        assert result["headers"]["Access-Control-Allow-Origin"] == "https://ui.example.com"
        assert result["headers"]["Access-Control-Allow-Methods"] == function.method
