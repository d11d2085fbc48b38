"""`make ui-site`: the web UI as a static site, with the config and route table the gateway would give it."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gateway import manifest, site
from gateway.routes import Router


def test_function_url_site_has_config_and_routes_of_every_rest_route(tmp_path: Path) -> None:
    """Behind DigitalOcean's function URLs the site carries routes.json, one entry per REST route."""
    out = tmp_path / "ui"
    site.build(out, "https://faas-nyc1-1.doserverless.co/api/v1/web/fn-1234", "wss://live.example.com/ws")
    assert (out / "index.html").read_bytes() == (site.UI / "index.html").read_bytes()
    assert json.loads((out / "config.json").read_text()) == {
        "api_base": "https://faas-nyc1-1.doserverless.co/api/v1/web/fn-1234",
        "ws_url": "wss://live.example.com/ws", "function_urls": True}
    assert (out / "_headers").read_text().splitlines()[:2] == [
        "/*", "  Content-Security-Policy: default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' blob:; "
        "connect-src 'self' https://faas-nyc1-1.doserverless.co wss://live.example.com; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"]
    table = json.loads((out / "routes.json").read_text())
    functions = manifest.load()
    assert {(r["method"], r["route"], r["function"]) for r in table} == {
        (f.method, f.route, f.qualified) for f in functions if f.routed}


def test_routes_json_resolves_as_the_gateway_does(tmp_path: Path) -> None:
    """The first matching entry (the UI's rule) is the function the gateway's router picks."""
    functions = manifest.load()
    router = Router(functions, "local")
    table = site.routes(functions)
    for f in functions:
        if not f.routed:
            continue
        path = f.route.replace("{id}", "42")
        first = next(r for r in table if r["method"] == f.method and re.fullmatch(
            re.escape(r["route"]).replace(re.escape("{id}"), "[^/]+"), path))
        assert first["function"] == router.match(f.method, "/api/v1" + path)[0].qualified, path


def test_rest_site_has_no_route_table(tmp_path: Path) -> None:
    """In front of the gateway's REST routes (another origin) nothing needs translating."""
    out = tmp_path / "ui"
    settings = site.build(out, "https://api.example.com/api/v1", "wss://api.example.com/ws")
    assert settings["function_urls"] is False
    assert not (out / "routes.json").exists()


@pytest.mark.parametrize("api, ws", [
    ("/api/v1", "wss://x.example/ws"),
    ("ftp://x.example/api/v1", "wss://x.example/ws"),
    ("https://x.example/api/v1", "https://x.example/ws"),
    ("https://x.example/api/v1", ""),
    ("https://x.example;script-src *", "wss://x.example/ws"),  # nothing may widen the _headers policy
    ("https://x.example/api/v1", "wss://x.example/ws 'unsafe-inline'"),
])
def test_unusable_settings_are_refused(tmp_path: Path, api: str, ws: str) -> None:
    assert site.main(["--api", api, "--ws", ws, "--out", str(tmp_path / "ui")]) == 2
    assert not (tmp_path / "ui").exists()
