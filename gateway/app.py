"""The HTTP app: a request in, the platform's event to a function, its result back out (WSGI).

One app, three servers: gunicorn runs it for `make run` and the self-hosted front (gateway.serve),
functions-framework runs it on Knative and Cloud Run (gateway.framework), and each runs it the same
way. What it answers: every function at its REST route (`/api/v1/...`, from project.yml) and at its
DigitalOcean-style function URL (`/api/v1/web/<namespace>/<package>/<function>`), the platform's
invoke API (gateway.openwhisk.activations), the triggers an outside scheduler fires (gateway.openwhisk.ping, on
functions-framework only),
`/openapi.json`, `/asyncapi.json`, `/docs`, and the web UI at every other path (gateway.ui). FunctionApp
serves one function alone.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from typing import Any

from gateway import asyncapi, fly, manifest, openapi, platform_event, ui
from gateway.openwhisk import activations, cron, websecure
from gateway.openwhisk.activations import Activations
from gateway.manifest import Function
from gateway.openwhisk.ping import Pings
from gateway.routes import Router
from shared import cors, errors, settings
from shared.http import unexpected

log = logging.getLogger("ims.gateway")
access = logging.getLogger("ims.access")

MAX_BODY = 1 << 20  # the platform's request limit: 1 MB
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive", "upgrade"}
# The CGI names WSGI gives two headers without the HTTP_ prefix.
_UNPREFIXED = {"CONTENT_TYPE": "content-type", "CONTENT_LENGTH": "content-length"}

Headers = platform_event.Headers
StartResponse = Callable[..., Any]


def invoke(function: Function, event: dict[str, Any]) -> dict[str, Any]:
    """Run the function on one event, as the platform would; a surprise becomes an opaque 500."""
    request_id = event.get("__ow_headers", {}).get("x-request-id", "-")
    try:
        return manifest.load_main(function)(event)  # type: ignore[no-any-return]
    except Exception:
        log.exception("%s raised (request %s)", function.qualified, request_id)
        return unexpected(request_id)


def request_headers(environ: dict[str, Any]) -> Headers:
    """The request's headers, names lower-cased, from a WSGI environ."""
    headers = [(_UNPREFIXED[k], v) for k, v in environ.items() if k in _UNPREFIXED and v]
    headers += [(k[5:].replace("_", "-").lower(), v) for k, v in environ.items() if k.startswith("HTTP_")]
    return headers


def raw_path(environ: dict[str, Any]) -> str:
    """The path as the client wrote it: WSGI's PATH_INFO is percent-decoded, the platform's is not."""
    uri = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if uri:
        return str(uri).partition("?")[0]
    return str(environ.get("PATH_INFO") or "/").encode("latin-1").decode("utf-8", errors="replace")


def read_body(environ: dict[str, Any]) -> bytes:
    """The request body, at most MAX_BODY bytes; a chunked body (no Content-Length) is read too."""
    raw = environ.get("CONTENT_LENGTH") or ""
    stream = environ["wsgi.input"]
    if raw:
        if not raw.isdigit():
            raise errors.BadRequest("Content-Length is not a number.")
        if int(raw) > MAX_BODY:
            raise errors.PayloadTooLarge(f"The body may be at most {MAX_BODY} bytes.")
        return bytes(stream.read(int(raw)))
    if "chunked" not in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
        return b""
    body = bytes(stream.read(MAX_BODY + 1))
    if len(body) > MAX_BODY:
        raise errors.PayloadTooLarge(f"The body may be at most {MAX_BODY} bytes.")
    return body


class App:
    """The WSGI application. Build it with `make_app()`."""

    def __init__(self, functions: list[Function], namespace: str, api_key: str, trusted_proxies: int = 0,
                 pings: bool = False, regions: fly.Regions | None = None, site: ui.Site | None = None) -> None:
        self.functions = [f for f in functions if f.is_http]
        self.trusted_proxies = trusted_proxies
        self.site = site  # the web UI at / (gateway.ui); None: not served
        self.regions = regions  # on Fly.io, in several regions: which requests go to the primary (gateway.fly)
        # Import every function now: a broken one fails at start, and no request pays for an import.
        for f in functions:
            manifest.check_spec(f, manifest.load_main(f))
        self.router = Router(self.functions, namespace)
        self.activations = Activations(functions, namespace, api_key)
        self.schedule = cron.triggers(functions)  # what the scheduler fires; refused here if malformed
        # The same, fired by an outside scheduler over an open path: only where no scheduler of our own runs
        # (functions-framework's `ims` target); the self-hosted front's cron fires them itself.
        self.pings = Pings(self.schedule, namespace, self.activations) if pings else None
        self._documents: dict[str, bytes] = {}
        self._documents_lock = threading.Lock()
        # Hooks the server adds (request metrics): called with (route, method, status, seconds).
        self.observers: list[Callable[[str, str, int, float], None]] = []

    def host_functions(self, url: str, public_url: str | None = None) -> None:
        """Be the platform of the functions in this process: their chaining (shared.invoke) calls the
        invoke API at `url`, as the platform arranges for a function annotated `provide-api-key: true`,
        and links in mail point at `public_url` unless PUBLIC_URL says otherwise (a default, not the
        environment)."""
        os.environ["__OW_API_HOST"] = url
        os.environ["__OW_API_KEY"] = self.activations.api_key
        settings.local_default("PUBLIC_URL", public_url or url)

    def document(self, name: str) -> bytes:
        """/openapi.json or /asyncapi.json, built on first use."""
        with self._documents_lock:
            if name not in self._documents:
                if name == "openapi":
                    doc = openapi.build([(f, manifest.load_main(f)) for f in self.functions if f.routed])
                else:
                    from realtime import config

                    live = config.load()  # where this machine's realtime server listens, as make run starts it
                    doc = asyncapi.build(live.host, live.port)
                self._documents[name] = json.dumps(doc, indent=1).encode()
            return self._documents[name]

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        start = time.perf_counter()
        method = environ["REQUEST_METHOD"].upper()
        path = raw_path(environ)
        headers = request_headers(environ)
        supplied = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        route = "unmatched"
        replay = self.regions.before(method, environ.get("HTTP_COOKIE", "")) if self.regions else None
        try:
            if replay is not None:  # before the body is read: nothing is done here
                route, (status, out, payload) = "fly-replay", replay
            else:
                body = read_body(environ)
                route, (status, out, payload) = self._route(environ, method, path, headers, body, request_id)
        except errors.HTTPError as exc:
            status, out, payload = platform_event.error(exc, request_id)
        if self.regions and replay is None:
            status, out, payload = self.regions.after(method, status, out, payload) or (status, out, payload)
        if route != "ui" and not path.startswith(activations.PREFIX) and not platform_event.has_header(out, "vary"):
            # The gateway's own answers (/openapi.json, its refusals) carry CORS headers as the
            # functions' do; the invoke API is for the platform's machines, not for browsers, and the
            # web UI's files are read by its own pages, same-origin.
            try:
                out = out + list(cors.headers(environ.get("HTTP_ORIGIN")).items())
            except Exception:  # the settings cannot be read: the answer goes out without CORS
                log.exception("CORS headers (request %s)", request_id)
        elapsed = time.perf_counter() - start
        for observe in self.observers:
            observe(route, method, status, elapsed)
        access.info("%s %s %d %.1fms %s", method, path, status, elapsed * 1000, request_id)
        return self._respond(start_response, method, status, out, payload, request_id)

    def _route(self, environ: dict[str, Any], method: str, path: str, headers: Headers, body: bytes,
               request_id: str) -> tuple[str, tuple[int, Headers, bytes]]:
        """(the route's name for metrics, the answer)."""
        get = method in ("GET", "HEAD")  # HEAD is answered as GET without the body
        if path in ("/openapi.json", "/asyncapi.json", "/docs"):
            if cors.is_preflight(method, environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD")):
                return path, (204, list(cors.preflight(environ.get("HTTP_ORIGIN"), "GET").items()), b"")
            if not get:
                raise errors.MethodNotAllowed("Use GET.", headers={"Allow": "GET, HEAD"})
            if path == "/docs":
                return path, (200, [("Content-Type", "text/html; charset=utf-8")], openapi.DOCS_HTML.encode())
            return path, (200, [("Content-Type", "application/json")], self.document(path[1:-5]))
        if path.startswith(activations.PREFIX):
            if self.pings is not None and self.pings.is_ping(path):
                return "trigger", self.pings.handle(method, path)
            query = environ.get("QUERY_STRING", "")
            return "invoke", self.activations.handle(method, path, query, environ.get("HTTP_AUTHORIZATION"), body)
        if self.site is not None and is_ui_path(path):
            return "ui", self.site.answer(method, path, environ)
        function, suffix = self.router.match("GET" if method == "HEAD" else method, path,
                                             environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"))
        return function.qualified, self._call(function, suffix, environ, method, headers, body, request_id)

    def _call(self, function: Function, suffix: str, environ: dict[str, Any], method: str, headers: Headers,
              body: bytes, request_id: str) -> tuple[int, Headers, bytes]:
        """Run `function` on this request as the platform would: `suffix` is what follows its URL."""
        websecure.check(function, environ.get("HTTP_X_REQUIRE_WHISK_AUTH", ""))
        forwarded = [(k, v) for k, v in headers if k not in ("x-request-id", "x-forwarded-for")]
        forwarded += [("x-request-id", request_id), ("x-forwarded-for", self._client_address(environ))]
        event = platform_event.build_event("GET" if method == "HEAD" else method, suffix,
                                   environ.get("QUERY_STRING", ""), forwarded, body)
        return platform_event.to_http(invoke(function, event), request_id)

    def _client_address(self, environ: dict[str, Any]) -> str:
        """The client's address, handed to the functions in X-Forwarded-For as the platform does.

        With no trusted proxy (the default) that is the socket's peer, and whatever X-Forwarded-For
        the client sent is dropped: anyone can write one. Behind N trusted proxies, each appended the
        address it saw: the client is the entry the outermost trusted one appended, N from the right
        (the peer, the nearest proxy, counted as the last entry); what lies left of it is hearsay."""
        peer = str(environ.get("REMOTE_ADDR") or "")
        hops = self.trusted_proxies
        if not hops:
            return peer
        sent = environ.get("HTTP_X_FORWARDED_FOR", "")
        chain = [part.strip() for part in sent.split(",") if part.strip()] + [peer]
        return chain[-1 - hops] if len(chain) > hops else chain[0]

    @staticmethod
    def _respond(start_response: StartResponse, method: str, status: int, headers: Headers, payload: bytes,
                 request_id: str) -> list[bytes]:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Unknown"
        out: Headers = []
        has_request_id = False
        for name, value in headers:
            low = name.lower()
            if low in _HOP_BY_HOP:
                continue
            has_request_id = has_request_id or low == "x-request-id"
            # A newline in a value would let a function's output forge headers.
            out.append((name, value.replace("\r", " ").replace("\n", " ")))
        if not has_request_id:
            out.append(("X-Request-Id", request_id))
        if status >= 200 and status not in (204, 304):
            out.append(("Content-Length", str(len(payload))))
        else:
            payload = b""
        start_response(f"{status} {phrase}", out)
        return [] if method == "HEAD" else [payload]


class FunctionApp(App):
    """One function alone, served at the root as at its function URL: the request path is what follows
    that URL (`/42`; `/` is the URL itself). Nothing else is answered: no routes, no invoke API."""

    def __init__(self, function: Function, namespace: str, api_key: str, trusted_proxies: int = 0,
                 regions: fly.Regions | None = None) -> None:
        super().__init__([function], namespace, api_key, trusted_proxies, regions=regions)
        self.function = function

    def _route(self, environ: dict[str, Any], method: str, path: str, headers: Headers, body: bytes,
               request_id: str) -> tuple[str, tuple[int, Headers, bytes]]:
        suffix = "" if path == "/" else path
        return self.function.qualified, self._call(self.function, suffix, environ, method, headers, body, request_id)


def make_app(*, manifest_path: Path | None = None, functions_dir: Path | None = None, namespace: str | None = None,
             api_key: str | None = None, trusted_proxies: int | None = None, only: str | None = None,
             pings: bool = False) -> App:
    """Load project.yml and import every function; with `only` ("package/function"), that one alone,
    as a FunctionApp.

    `api_key` guards the invoke API: __OW_API_KEY when set, else a fresh random one.
    `trusted_proxies`: how many proxies in front of the gateway append to X-Forwarded-For and are
    believed (IMS_TRUST_PROXY: a number, or true for one); 0, the default, trusts none.
    `pings`: answer an outside scheduler's trigger path (gateway.openwhisk.ping), open to anyone.
    On Fly.io (FLY_REGION and PRIMARY_REGION set), writes are answered in the primary region (gateway.fly).
    The web UI's settings (IMS_UI_API_BASE, IMS_UI_WS_URL: gateway.ui) are checked here, so a bad one stops
    the start."""
    namespace = namespace or os.environ.get("IMS_NAMESPACE") or "local"
    regions = fly.Regions.from_env()
    api_key = api_key or os.environ.get("__OW_API_KEY") or activations.new_api_key()
    if trusted_proxies is None:
        trusted_proxies = trusted_proxy_hops(os.environ.get("IMS_TRUST_PROXY", ""))
    functions = manifest.load(manifest_path, functions_dir)
    if only is not None:
        function = next((f for f in functions if f.qualified == only and f.is_http), None)
        if function is None:
            raise manifest.ManifestError(f"project.yml has no HTTP function {only!r}")
        return FunctionApp(function, namespace, api_key, trusted_proxies, regions)
    return App(functions, namespace, api_key, trusted_proxies, pings, regions, ui.Site.from_env(trusted_proxies))


def is_ui_path(path: str) -> bool:
    """A path of the web UI: anything but the API's and the documents' (/docs/ included: Swagger UI's files)."""
    if path in ("/api", "/openapi.json", "/asyncapi.json", "/docs"):
        return False
    return not path.startswith(("/api/", "/docs/"))


def loopback_url(host: str, port: int | str) -> str:
    """Where this machine reaches a server listening on host:port: loopback for a wildcard address,
    brackets around an IPv6 one."""
    host = "127.0.0.1" if host in ("0.0.0.0", "") else "::1" if host == "::" else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def trusted_proxy_hops(value: str) -> int:
    """IMS_TRUST_PROXY: "", false or 0 trust no proxy; true is one; a number is that many."""
    value = value.strip().lower()
    if value in ("", "false", "no", "off"):
        return 0
    if value in ("true", "yes", "on"):
        return 1
    if value.isdigit():
        return int(value)
    raise ValueError(f"IMS_TRUST_PROXY must be true, false or a number of proxies, not {value!r}")
