"""The web UI as a static site (`make ui-site`) in front of DigitalOcean-style function URLs: served by
a plain static file server from another origin, with the headers of the site's `_headers` file, it
signs in, lists and moves stock through `/api/v1/web/<namespace>/<package>/<function>` alone, with
CORS, and its live feed works."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from gateway import site
from tests.conftest import settings_env, unique

API = "/api/v1"


def site_headers(root: Path) -> list[tuple[str, str]]:
    """The headers `_headers` gives every path (its one `/*` block), as a static host would send them."""
    lines = (root / "_headers").read_text().splitlines()
    assert lines[0] == "/*"
    return [tuple(part.strip() for part in line.split(":", 1)) for line in lines[1:]]  # type: ignore[misc]


@pytest.fixture
def static_site(tmp_path: Path, ui_front: Any, ui_feed: Any) -> Iterator[str]:
    root = tmp_path / "ui"
    site.build(root, f"{ui_front.url}{API}/web/local", ui_feed.url)
    headers = site_headers(root)

    class Handler(http.server.SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            for name, value in headers:
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        with settings_env(CORS_ORIGINS=url):  # the API lets the site's origin in, as the README says to
            yield url
    finally:
        server.shutdown()
        server.server_close()


def test_the_static_site_works_through_function_urls(static_site, open_page, api, manager):
    # static_site first: its CORS setting must outlive the page, which may still be fetching at teardown
    res = api.post(f"{API}/items", {"name": unique("Static item"), "sku": unique("ST").upper(), "quantity": 20},
                   token=manager["token"])
    assert res.status == 201, res.text
    item = res.json()
    asked: list[str] = []
    page = open_page(f"{static_site}/#/login")
    page.on("request", lambda request: asked.append(f"{request.method} {request.url}"))
    policy = page.evaluate("async () => (await fetch('index.html')).headers.get('content-security-policy')")
    assert "connect-src 'self' " in policy and "script-src 'self';" in policy
    page.get_by_label("E-mail").fill(manager["user"]["email"])
    page.get_by_label("Password").fill(manager["password"])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()

    page.goto(f"{static_site}/#/items/{item['id']}")
    page.get_by_label("Quantity", exact=True).fill("3")
    page.get_by_role("button", name="Withdraw").click()
    # "17" alone may be in the SKU, the id or a time shown there already: the quantity with its unit
    expect(page.get_by_role("region", name="Details")).to_contain_text("17 pcs")
    assert api.get(f"{API}/items/{item['id']}", token=manager["token"]).json()["quantity"] == 17

    calls = [a for a in asked if "/api/" in a]
    assert any(a.startswith("POST ") and a.endswith("/api/v1/web/local/auth/login") for a in calls), calls
    assert any(a.startswith("POST ") and a.endswith(f"/api/v1/web/local/items/withdraw/{item['id']}") for a in calls), calls
    assert not [a for a in calls if "/api/v1/web/" not in a and "/api/v1/" in a], calls  # no REST route asked
