"""`/docs`: Swagger UI for /openapi.json, with every file served by this gateway, so it works offline.

Swagger UI's own files come from the pinned `flask-swagger-ui` wheel (requirements-server.txt,
requirements-framework.txt), whose `dist/` is Swagger UI's release as published. It is read from
disk, never imported: importing it would import Flask, which the self-hosted front does not run.
`swagger-ui-bundle`, the package named first for this, carries Swagger UI 4.15 at best, which refuses
OpenAPI 3.1 documents such as IMS's.

Only the files the page uses are answered (a fixed list: no path from the request reaches the file
system). The initialiser is a file of its own because the page's Content-Security-Policy allows
scripts from this origin only, as the web UI's does.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
from pathlib import Path

from shared import errors

PATH = "/docs"
_PACKAGE = "flask_swagger_ui"

# As the web UI's. Swagger UI's `style` attributes are set from script (React), which style-src 'self'
# allows (tests/ui/test_docs_offline.py watches for violations); its stylesheet draws icons from data: URLs.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")

# name -> Content-Type: the package's files this page needs, nothing else it ships.
_PACKAGED = {
    "swagger-ui.css": "text/css; charset=utf-8",
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "favicon-32x32.png": "image/png",
    "favicon-16x16.png": "image/png",
}

# validatorUrl null: Swagger UI would otherwise show a badge fetched from swagger.io.
_INIT_JS = """\
// /docs's initialiser: a file, not an inline script, because the page's CSP allows 'self' scripts only.
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    persistAuthorization: true,
    validatorUrl: null,
  });
});
"""


def handles(path: str) -> bool:
    return path == PATH or path.startswith(PATH + "/")


@functools.cache
def dist() -> Path:
    """The package's dist/ directory, found without importing the package."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{_PACKAGE} is not installed (requirements-server.txt): /docs has no Swagger UI")
    return Path(next(iter(spec.submodule_search_locations))) / "dist"


@functools.cache
def version() -> str:
    """Swagger UI's version, which the asset URLs carry so a new release is never read from a cache."""
    return (dist() / "VERSION").read_text().strip().lstrip("v")


def _html() -> bytes:
    v = version()
    return f"""<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>IMS API</title>
  <link rel="stylesheet" href="{PATH}/swagger-ui.css?v={v}">
  <link rel="icon" type="image/png" href="{PATH}/favicon-32x32.png?v={v}" sizes="32x32">
  <link rel="icon" type="image/png" href="{PATH}/favicon-16x16.png?v={v}" sizes="16x16">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{PATH}/swagger-ui-bundle.js?v={v}"></script>
  <script src="{PATH}/init.js"></script>
</body>
</html>
""".encode()


@functools.cache
def _file(name: str) -> tuple[bytes, str, str]:
    """(body, Content-Type, Cache-Control) of one file of the page."""
    if name == "":
        return _html(), "text/html; charset=utf-8", "no-cache"
    if name == "init.js":
        return _INIT_JS.encode(), "text/javascript; charset=utf-8", "no-cache"
    # The page asks for these with ?v=<version>: a day in a cache is safe, an upgrade changes the URL.
    return (dist() / name).read_bytes(), _PACKAGED[name], "public, max-age=86400"


@functools.cache
def _etag(name: str) -> str:
    return '"' + hashlib.sha256(_file(name)[0]).hexdigest()[:32] + '"'


def answer(path: str, if_none_match: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """The answer to GET `path` (under /docs), 304 when `if_none_match` names the current version."""
    name = path[len(PATH) + 1:]  # "" for the page, at /docs and /docs/
    if name != "" and name != "init.js" and name not in _PACKAGED:
        raise errors.NotFound(f"{path} is not a file of the API documentation.")
    body, content_type, cache = _file(name)
    etag = _etag(name)
    headers = [("Content-Type", content_type), ("Cache-Control", cache), ("ETag", etag),
               ("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
               ("Referrer-Policy", "no-referrer")]
    if if_none_match and etag in [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]:
        return 304, headers, b""
    return 200, headers, body
