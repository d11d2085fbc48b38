"""CORS through real HTTP: CORS_ORIGINS decides which browser origins may call the API; preflights
are answered by the function itself (as on DigitalOcean with web-custom-options) at REST routes and
function URLs, and the gateway's own answers carry the same headers."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator

import pytest

from gateway import manifest
from tests.api.helpers import V1
from tests.conftest import settings_env

UI = "https://ui.example.com"


@pytest.fixture
def cors(services: dict[str, str]) -> Iterator[Callable[[str | None], None]]:
    """configure("a, b" | "*" | None): CORS_ORIGINS for the functions and the gateway in this process."""
    with settings_env(CORS_ORIGINS=f"{UI}, https://admin.example.com/") as env:
        yield lambda value: env.set(CORS_ORIGINS=value)


def preflight(api, path: str, method: str, origin: str = UI):
    return api.request("OPTIONS", path, headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, if-match"})


def test_an_allowed_origin_may_read_answers_and_their_headers(api, staff, cors):
    res = api.get(f"{V1}/items?per_page=1", token=staff["token"], headers={"Origin": UI})
    assert res.status == 200
    assert res.headers["access-control-allow-origin"] == UI
    assert "Origin" in res.headers["vary"]
    exposed = {h.strip() for h in res.headers["access-control-expose-headers"].split(",")}
    assert {"ETag", "Retry-After", "X-Request-Id", "Idempotent-Replayed"} <= exposed
    second = api.get(f"{V1}/items?per_page=1", token=staff["token"], headers={"Origin": "https://admin.example.com"})
    assert second.headers["access-control-allow-origin"] == "https://admin.example.com"


def test_refusals_carry_the_headers_so_the_browser_can_read_them(api, cors):
    res = api.get(f"{V1}/items", headers={"Origin": UI})  # no token: the function's 401
    assert res.status == 401 and res.headers["access-control-allow-origin"] == UI
    res = api.get(f"{V1}/no-such-route", headers={"Origin": UI})  # the gateway's own 404
    assert res.status == 404 and res.headers["access-control-allow-origin"] == UI


def test_a_disallowed_origin_gets_no_allow_origin(api, staff, cors):
    res = api.get(f"{V1}/items?per_page=1", token=staff["token"], headers={"Origin": "https://evil.example.com"})
    assert res.status == 200
    assert "access-control-allow-origin" not in res.headers
    assert "Origin" in res.headers["vary"]
    res = preflight(api, f"{V1}/items", "GET", origin="https://evil.example.com")
    assert res.status == 204 and "access-control-allow-origin" not in res.headers
    assert "access-control-allow-methods" not in res.headers


def test_unset_means_no_cors_headers_at_all(api, staff, cors):
    cors(None)
    res = api.get(f"{V1}/items?per_page=1", token=staff["token"], headers={"Origin": UI})
    assert res.status == 200
    assert not [h for h in res.headers if h.startswith("access-control-")] and "vary" not in res.headers
    res = preflight(api, f"{V1}/items", "GET")
    assert not [h for h in res.headers if h.startswith("access-control-")]


def test_any_origin_with_a_star(api, staff, cors):
    cors("*")
    res = api.get(f"{V1}/items?per_page=1", token=staff["token"], headers={"Origin": "https://anyone.example"})
    assert res.headers["access-control-allow-origin"] == "*"


def _assert_preflight(res, method: str) -> None:
    assert res.status == 204, res.text
    assert res.headers["access-control-allow-origin"] == UI
    assert res.headers["access-control-allow-methods"] == method
    allowed = {h.strip().lower() for h in res.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "if-match", "x-request-id"} <= allowed
    assert int(res.headers["access-control-max-age"]) > 0
    assert "Origin" in res.headers["vary"]
    assert res.body == b""


def test_preflight_on_a_rest_route_is_answered_by_the_function_for_that_method(api, item, cors):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        _assert_preflight(preflight(api, f"{V1}/items/{item['id']}", method), method)
    _assert_preflight(preflight(api, f"{V1}/items/{item['id']}/withdraw", "POST"), "POST")
    _assert_preflight(preflight(api, f"{V1}/auth/login", "POST"), "POST")  # needs no token either


def test_preflight_at_a_function_url(api, item, cors):
    _assert_preflight(preflight(api, f"{V1}/web/local/items/withdraw/{item['id']}", "POST"), "POST")
    _assert_preflight(preflight(api, f"{V1}/web/local/items/list", "GET"), "GET")


def test_a_preflight_for_a_method_the_resource_lacks_names_only_what_it_serves(api, cors):
    res = preflight(api, f"{V1}/items", "DELETE")
    assert res.status == 204
    assert "DELETE" not in res.headers["access-control-allow-methods"]


@pytest.mark.parametrize("document", ["/openapi.json", "/asyncapi.json"])
def test_the_gateway_s_own_documents_carry_the_headers(api, cors, document):
    res = api.get(document, headers={"Origin": UI})
    assert res.status == 200 and res.headers["access-control-allow-origin"] == UI
    _assert_preflight(preflight(api, document, "GET"), "GET")


def test_a_request_through_the_allowed_origin_still_works_end_to_end(api, staff, item, cors):
    res = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1}, token=staff["token"],
                   headers={"Origin": UI, "Idempotency-Key": "cors-1"})
    assert res.status == 200 and res.headers["access-control-allow-origin"] == UI
    assert res.headers["etag"] == f'"{res.json()["version"]}"'


def test_every_routed_function_is_annotated_to_answer_options_itself():
    functions = [f for f in manifest.load() if f.routed]
    assert functions and all(f.annotations.get("web-custom-options") is True for f in functions)
    bare = dataclasses.replace(functions[0], annotations={k: v for k, v in functions[0].annotations.items()
                                                          if k != "web-custom-options"})
    with pytest.raises(manifest.ManifestError, match="web-custom-options"):
        manifest.check_spec(bare, manifest.load_main(bare))
