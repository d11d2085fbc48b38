"""The App over real HTTP (in-process; the server itself: test_front.py): routes, function URLs,
refusals, request ids, OpenAPI, and the launcher's data-dir lock."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from gateway import manifest
from localenv import datadir
from tests.api.helpers import assert_problem, assert_validation
from tests.documents import refs, resolve

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = manifest.load()
WEB = [f for f in FUNCTIONS if f.routed]
VOLATILE = ("request_id",)


def connect(gateway: str) -> http.client.HTTPConnection:
    parts = urlsplit(gateway)
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)


def without_volatile(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in VOLATILE}


# --- routes and function URLs -----------------------------------------------------------------

def test_get_answers_identically_at_rest_route_and_function_url(api, staff, item):
    rest = api.get(f"/api/v1/items/{item['id']}", token=staff["token"])
    web = api.get(f"/api/v1/web/local/items/get/{item['id']}", token=staff["token"])
    assert rest.status == web.status == 200
    assert rest.json() == web.json() == item
    assert rest.headers["etag"] == web.headers["etag"]
    assert rest.headers["content-type"] == web.headers["content-type"] == "application/json"


def test_withdraw_answers_identically_at_rest_route_and_function_url(api, staff, item):
    rest = api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1}, token=staff["token"])
    web = api.post(f"/api/v1/web/local/items/withdraw/{item['id']}", {"quantity": 1}, token=staff["token"])
    assert rest.status == web.status == 200
    first, second = rest.json(), web.json()
    assert (first["quantity"], second["quantity"]) == (99, 98)
    assert second["version"] == first["version"] + 1
    changing = ("quantity", "version", "updated_at")
    assert {k: v for k, v in first.items() if k not in changing} == \
           {k: v for k, v in second.items() if k not in changing}


def test_refusals_are_identical_at_rest_route_and_function_url(api, staff, item):
    rest = api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1000}, token=staff["token"])
    web = api.post(f"/api/v1/web/local/items/withdraw/{item['id']}", {"quantity": 1000}, token=staff["token"])
    assert without_volatile(assert_problem(rest, 409)) == without_volatile(assert_problem(web, 409))
    assert rest.json()["code"] == "insufficient_stock" and rest.json()["available"] == 100
    anonymous_rest = api.get(f"/api/v1/items/{item['id']}")
    anonymous_web = api.get(f"/api/v1/web/local/items/get/{item['id']}")
    assert without_volatile(assert_problem(anonymous_rest, 401)) == \
           without_volatile(assert_problem(anonymous_web, 401))


def test_every_web_function_is_reachable_at_its_function_url(api):
    """Every function URL reaches its function: an anonymous call is the function's own answer, a
    401 where it needs a token, a success or a 422 for the empty body of a public one."""
    for function in WEB:
        suffix = "/1" if "{id}" in function.route else ""
        res = api.request(function.method, f"/api/v1/web/local/{function.package}/{function.name}{suffix}")
        if function.auth == "public":
            assert res.status in (200, 422), (function.qualified, res.text)
        else:
            assert_problem(res, 401)


@pytest.mark.parametrize("path", ["/api/v1/nope", "/nothing", "/api/v1/items/1/explode", "/api/v1/web/local/nope/nope",
                                  "/api/v1/web/other-namespace/items/get/1", "/api/v1/web/local/items",
                                  "/api/v1/web/local/ops/relay", "/api/v2/items"])
def test_unknown_path_is_404_problem(api, path):
    body = assert_problem(api.get(path), 404)
    assert body["code"] == "not_found"


def test_wrong_method_on_known_rest_path_is_405_with_allow(api, item):
    res = api.delete("/api/v1/items")
    assert_problem(res, 405)
    assert [m.strip() for m in res.headers["allow"].split(",")] == ["GET", "POST"]
    res = api.post(f"/api/v1/items/{item['id']}", {})
    assert_problem(res, 405)
    assert {m.strip() for m in res.headers["allow"].split(",")} == {"GET", "PUT", "PATCH", "DELETE"}


def test_wrong_method_at_function_url_is_refused_by_the_function(api, item):
    res = api.delete(f"/api/v1/web/local/items/get/{item['id']}")
    assert_problem(res, 405)
    assert res.headers["allow"] == "GET"


# --- request ids ------------------------------------------------------------------------------

def test_request_id_is_echoed_when_given(api):
    res = api.get("/api/v1/health", headers={"X-Request-Id": "trace-abc.123"})
    assert res.headers["x-request-id"] == "trace-abc.123"
    problem = api.get("/api/v1/nope", headers={"X-Request-Id": "trace-def-456"})
    assert problem.headers["x-request-id"] == "trace-def-456"
    assert problem.json()["request_id"] == "trace-def-456"


def test_request_id_is_echoed_from_functions_errors(api, item):
    res = api.get(f"/api/v1/items/{item['id']}", headers={"X-Request-Id": "trace-fn-1"})
    assert res.status == 401
    assert res.headers["x-request-id"] == "trace-fn-1" and res.json()["request_id"] == "trace-fn-1"


def test_request_id_is_generated_when_missing_or_unusable(api):
    ids = [api.get("/api/v1/health").headers["x-request-id"] for _ in range(3)]
    assert all(ids) and len(set(ids)) == 3
    forged = api.get("/api/v1/health", headers={"X-Request-Id": "bad id\twith spaces"})
    assert forged.headers["x-request-id"] and " " not in forged.headers["x-request-id"]
    assert forged.headers["x-request-id"] != "bad id\twith spaces"


# --- connection handling ----------------------------------------------------------------------

def test_body_over_one_mebibyte_is_413(gateway, staff, item):
    conn = connect(gateway)
    try:
        # Announce the body and send none of it: the refusal must come from the headers alone.
        conn.putrequest("POST", f"/api/v1/items/{item['id']}/withdraw")
        conn.putheader("Authorization", f"Bearer {staff['token']}")
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str((1 << 20) + 1))
        conn.endheaders()
        res = conn.getresponse()
        assert res.status == 413
        assert res.getheader("content-type").startswith("application/problem+json")
        assert b'"payload_too_large"' in res.read()
        assert res.will_close  # the unread body must not be parsed as the next request
    finally:
        conn.close()


def test_body_of_exactly_the_limit_is_read(api, staff, item):
    padding = (1 << 20) - len(b'{"quantity": 1, "notes": ""}')
    res = api.post(f"/api/v1/items/{item['id']}/withdraw", {"quantity": 1, "notes": " " * padding},
                   token=staff["token"])
    # Read whole and validated: the notes are too long for the model (500), not for the gateway.
    [error] = assert_validation(res)
    assert error["loc"] == ["body", "notes"]


# --- OpenAPI ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def openapi(api) -> dict[str, Any]:
    res = api.get("/openapi.json")
    assert res.status == 200
    assert res.headers["content-type"].startswith("application/json")
    return res.json()


def test_openapi_is_3_1_with_every_web_route(openapi):
    assert openapi["openapi"].startswith("3.1")
    servers = [s["url"] for s in openapi.get("servers", [])]
    prefix = "" if any(p.startswith("/api/v1") for p in openapi["paths"]) else "/api/v1"
    assert prefix == "" or prefix in servers
    documented = {(method.upper(), prefix + path) for path, ops in openapi["paths"].items() for method in ops
                  if method in ("get", "post", "put", "patch", "delete")}
    expected = {(f.method, "/api/v1" + f.route) for f in WEB}
    assert documented == expected


def test_openapi_security_matches_ims_auth(openapi):
    scheme = openapi["components"]["securitySchemes"]
    bearer = [name for name, s in scheme.items() if s.get("type") == "http" and s.get("scheme") == "bearer"]
    assert bearer
    for f in WEB:
        op = openapi["paths"][f.route][f.method.lower()]
        security = op.get("security", openapi.get("security"))
        if f.auth == "public":
            assert not security, f.qualified
        else:
            assert security and any(set(req) & set(bearer) for req in security), f.qualified


def test_openapi_declares_both_formats_metrics_answer_in(openapi):
    content = openapi["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert set(content) == {"text/plain", "application/openmetrics-text"}


def test_openapi_request_bodies_for_functions_with_a_model(openapi):
    for f in WEB:
        op = openapi["paths"][f.route][f.method.lower()]
        spec = manifest.load_main(f).spec
        body_model = spec.body
        if body_model is str:  # a text body (CSV): a string of its media type, and nothing else
            assert op["requestBody"]["content"] == {spec.body_media_type: {"schema": {"type": "string",
                                                                                    "minLength": 1}}}
        elif f.method in ("POST", "PUT", "PATCH") and body_model is not None:
            schema = op["requestBody"]["content"]["application/json"]["schema"]
            if "$ref" in schema:
                schema = resolve(openapi, schema["$ref"])
            assert schema.get("type") == "object" and schema.get("properties"), f.qualified
        elif body_model is None:
            assert "requestBody" not in op, f.qualified


def test_openapi_path_ids_are_documented(openapi):
    for f in WEB:
        op = openapi["paths"][f.route][f.method.lower()]
        params = [resolve(openapi, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
        names = {(p["name"], p["in"]) for p in params}
        assert (("id", "path") in names) == ("{id}" in f.route), f.qualified


def _statuses(op: dict[str, Any]) -> set[int]:
    return {int(code) for code in op["responses"]}


def _header_params(openapi, op: dict[str, Any]) -> set[str]:
    params = [resolve(openapi, p["$ref"]) if "$ref" in p else p for p in op.get("parameters", [])]
    return {p["name"] for p in params if p["in"] == "header"}


def test_openapi_declares_every_status_a_route_can_answer(openapi):
    for f in WEB:
        op, spec = openapi["paths"][f.route][f.method.lower()], manifest.load_main(f).spec
        codes = _statuses(op)
        assert 503 in codes, f.qualified  # the database may be down for anyone
        if f.auth != "public":
            assert {401, 403} <= codes, f.qualified
        assert (404 in codes) == ("{id}" in f.route), f.qualified
        if spec.body is not None:
            assert {413, 415, 422} <= codes, f.qualified
        if spec.query is not None:
            assert 422 in codes, f.qualified
        assert set(spec.raises) <= codes, f.qualified
        for code in codes - {spec.status, 200, 204}:
            response = op["responses"][str(code)]
            response = resolve(openapi, response["$ref"]) if "$ref" in response else response
            assert "application/problem+json" in response["content"], (f.qualified, code)
            if code in (429, 503):
                assert "Retry-After" in response["headers"], (f.qualified, code)


def test_openapi_declares_the_conditional_and_idempotency_headers(openapi):
    holds_a_password = {"auth/password", "users/create", "users/password"}  # nothing of their bodies is kept
    for f in WEB:
        op = openapi["paths"][f.route][f.method.lower()]
        headers = _header_params(openapi, op)
        idempotent = f.method == "POST" and f.auth != "public" and f.qualified not in holds_a_password
        assert ("Idempotency-Key" in headers) == idempotent, f.qualified
        conditional = f.route == "/items/{id}" and f.method in ("PUT", "PATCH", "DELETE")
        assert ("If-Match" in headers) == conditional, f.qualified
        assert (412 in _statuses(op)) == conditional, f.qualified
    for method, route in (("get", "/items/{id}"), ("post", "/items"), ("put", "/items/{id}"),
                          ("patch", "/items/{id}"), ("post", "/items/{id}/withdraw")):
        success = next(r for code, r in openapi["paths"][route][method]["responses"].items() if code.startswith("2"))
        assert resolve(openapi, success["headers"]["ETag"]["$ref"])["required"] is True, (method, route)
    login = openapi["paths"]["/auth/login"]["post"]["responses"]
    assert {"401", "403", "429"} <= login.keys()


def test_the_etag_declared_is_the_etag_sent(api, staff, item):
    res = api.get(f"/api/v1/items/{item['id']}", token=staff["token"])
    assert res.headers["etag"] == f'"{res.json()["version"]}"'


def test_openapi_every_ref_resolves(openapi):
    found = refs(openapi)
    assert found
    for ref in set(found):
        resolve(openapi, ref)


def test_docs_page_loads_the_openapi_document(api):
    res = api.get("/docs")
    assert res.status == 200
    assert res.headers["content-type"].startswith("text/html")
    assert "<html" in res.text.lower() and "/openapi.json" in res.text


# --- the launcher -----------------------------------------------------------------------------

def test_second_gateway_on_the_same_data_dir_refuses_to_start(tmp_path):
    held = datadir.lock(tmp_path)
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(IMS_DATA_DIR=str(tmp_path), IMS_PORT="0", IMS_WS_PORT="0")
        proc = subprocess.run([sys.executable, "-m", "gateway"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
    finally:
        held.release()
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "already running" in output
    assert str(os.getpid()) in output  # names the process that holds it
    assert "Traceback" not in output
    # Nothing was started: no database or Redis directory under the data dir.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ims.lock"]
