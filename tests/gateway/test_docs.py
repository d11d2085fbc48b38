"""/docs works offline: the page and every file it loads come from this gateway (Swagger UI from the
pinned package), under a Content-Security-Policy that allows nothing else. The browser's view of it:
tests/ui/test_docs_offline.py."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from gateway import docs
from tests.api.helpers import assert_problem


class _References(HTMLParser):
    """Every src and href of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []  # (tag, URL)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [(tag, value) for name, value in attrs if name in ("src", "href") and value]


def references(html: str) -> list[tuple[str, str]]:
    parser = _References()
    parser.feed(html)
    return parser.found


def directives(csp: str) -> dict[str, str]:
    return {part.split()[0]: " ".join(part.split()[1:]) for part in csp.split(";") if part.strip()}


def test_the_page_references_only_files_of_this_gateway(api):
    res = api.get("/docs")
    assert api.get("/docs/").body == res.body
    assert res.status == 200
    assert res.headers["content-type"] == "text/html; charset=utf-8"
    assert res.headers["cache-control"] == "no-cache"
    assert not re.search(r"(https?:)?//", res.text), "the page names another host"
    found = references(res.text)
    assert {tag for tag, _ in found} == {"link", "script"}
    assert all(url.startswith("/docs/") for _, url in found), found
    assert "<script>" not in res.text.replace(" ", ""), "an inline script: the CSP refuses it"
    scripts = [url for tag, url in found if tag == "script"]
    assert scripts[-1] == "/docs/init.js" and any("swagger-ui-bundle.js" in url for url in scripts)


_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8", ".png": "image/png"}


def test_every_file_the_page_loads_answers_with_its_type(api):
    for _, url in references(api.get("/docs").text):
        res = api.get(url)
        assert res.status == 200, url
        path = url.split("?", 1)[0]
        assert res.headers["content-type"] == _TYPES[path[path.rindex("."):]], url
        assert res.headers["x-content-type-options"] == "nosniff"
        assert res.headers["etag"] and res.headers["cache-control"], url
        assert len(res.body) == int(res.headers["content-length"]) > 0
    # Swagger UI's own files name their release in the URL, so they may stay in a cache; ours may not.
    assert api.get("/docs/swagger-ui-bundle.js").headers["cache-control"] == "public, max-age=86400"
    assert api.get("/docs/init.js").headers["cache-control"] == "no-cache"


def test_the_initialiser_loads_this_gateways_document_and_nothing_from_elsewhere(api):
    text = api.get("/docs/init.js").text
    assert 'url: "/openapi.json"' in text
    assert "validatorUrl: null" in text  # else Swagger UI fetches a badge from swagger.io
    assert not re.search(r"https?://", text)


def test_the_swagger_ui_is_release_5_which_reads_openapi_3_1(api):
    assert int(docs.version().split(".")[0]) >= 5
    assert api.get("/openapi.json").json()["openapi"].startswith("3.1")
    assert f"?v={docs.version()}" in api.get("/docs").text


def test_every_answer_carries_the_content_security_policy(api):
    for path in ("/docs", "/docs/init.js", "/docs/swagger-ui.css", "/docs/swagger-ui-bundle.js"):
        csp = directives(api.get(path).headers["content-security-policy"])
        assert csp["default-src"] == "'self'"
        assert csp["script-src"] == "'self'"  # no inline script, no eval
        assert csp["style-src"] == "'self'"
        assert csp["img-src"] == "'self' data:"  # the stylesheet's icons are data: URLs
        assert csp["connect-src"] == "'self'"
        assert csp["object-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
        assert api.get(path).headers["referrer-policy"] == "no-referrer"


def test_an_unchanged_file_is_304_to_a_revalidation(api):
    for path in ("/docs", "/docs/swagger-ui.css"):
        first = api.get(path)
        again = api.get(path, headers={"If-None-Match": first.headers["etag"]})
        assert again.status == 304 and again.body == b""
        assert api.get(path, headers={"If-None-Match": '"other"'}).status == 200


@pytest.mark.parametrize("path", [
    "/docs/index.html", "/docs/swagger-ui.js", "/docs/oauth2-redirect.html", "/docs/VERSION", "/docs/LICENSE",
    "/docs/../gateway/app.py", "/docs/%2e%2e/%2e%2e/project.yml", "/docs/..%2f..%2fproject.yml",
    "/docs//etc/passwd", "/docs/swagger-ui.css/x", "/docs/dist/swagger-ui.css", "/docsx",
])
def test_nothing_else_is_served_under_docs(api, path):
    res = api.get(path)
    assert res.status == 404
    if path != "/docsx":  # not under /docs: whoever serves the rest answers
        assert_problem(res, 404)


def test_head_answers_without_a_body_and_other_methods_are_refused(api):
    head = api.request("HEAD", "/docs/swagger-ui.css")
    assert head.status == 200 and head.body == b""
    assert head.headers["content-type"] == "text/css; charset=utf-8"
    refused = api.post("/docs/init.js", {})
    assert_problem(refused, 405)
    assert refused.headers["allow"] == "GET, HEAD"
