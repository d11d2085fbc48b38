"""The HTTP server: a request in, the platform's event to a function, its result back out.

stdlib only (http.server, one thread per connection, HTTP/1.1 keep-alive): the per-request work is
a route lookup, the event dict and one socket write, so it sustains well over a thousand requests a
second on two cores without pulling a framework into the runtime.
"""

from __future__ import annotations

import email.utils
import hmac
import json
import logging
import os
import re
import signal
import socket
import threading
import time
import uuid
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from gateway import activations, asyncapi, cron, events, manifest, openapi
from gateway.activations import Activations
from gateway.manifest import Function
from gateway.routes import Router
from shared import cors, errors, settings
from shared.http import unexpected

log = logging.getLogger("ims.gateway")
access = logging.getLogger("ims.access")

MAX_BODY = 1 << 20
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,64}$")
_HOP_BY_HOP = {"content-length", "connection", "transfer-encoding", "keep-alive"}


def invoke(function: Function, event: dict[str, Any]) -> dict[str, Any]:
    """Run the function on one event, as the platform would; a surprise becomes an opaque 500."""
    request_id = event.get("__ow_headers", {}).get("x-request-id", "-")
    try:
        return manifest.load_main(function)(event)  # type: ignore[no-any-return]
    except Exception:
        log.exception("%s raised (request %s)", function.qualified, request_id)
        return unexpected(request_id)


class _Clock:
    """The Date header, formatted once a second rather than once a request."""

    def __init__(self) -> None:
        self._second = 0
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._text = email.utils.formatdate(second, usegmt=True)
            self._second = second
        return self._text


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a lingering keep-alive connection must not hold up shutdown
    request_queue_size = 512  # the stdlib default of 5 refuses bursts of new connections

    def __init__(self, address: tuple[str, int], functions: list[Function], namespace: str,
                 api_key: str, trusted_proxies: int = 0) -> None:
        self.functions = [f for f in functions if f.is_http]
        self.trusted_proxies = trusted_proxies
        # Import every function now: a broken one fails at start, and no request pays for an import.
        for f in functions:
            manifest.check_spec(f, manifest.load_main(f))
        self.router = Router(self.functions, namespace)
        self.activations = Activations(functions, namespace, api_key)
        self.schedule = cron.triggers(functions)  # what the scheduler fires; refused here if malformed
        self.clock = _Clock()
        self._openapi: bytes | None = None
        self._asyncapi: bytes | None = None
        self._openapi_lock = threading.Lock()
        super().__init__(address, Handler)

    def openapi(self) -> bytes:
        with self._openapi_lock:
            if self._openapi is None:
                doc = openapi.build([(f, manifest.load_main(f)) for f in self.functions if f.routed])
                self._openapi = json.dumps(doc, indent=1).encode()
            return self._openapi

    def asyncapi(self) -> bytes:
        with self._openapi_lock:
            if self._asyncapi is None:
                from realtime import config

                live = config.load()  # where this machine's realtime server listens, as make run starts it
                self._asyncapi = json.dumps(asyncapi.build(live.host, live.port), indent=1).encode()
            return self._asyncapi

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def public_url(self) -> str:
        """This gateway as a person reaches it from this machine (not 0.0.0.0)."""
        host, port = self.server_address[:2]
        host = "localhost" if str(host) in ("0.0.0.0", "::", "") else str(host)
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def host_functions(self) -> None:
        """Be the platform of the functions in this process (make run, the tests' gateway; not every
        server a test starts beside it): their chaining (shared.invoke) calls this server's invoke
        API, as the platform arranges for a function annotated `provide-api-key: true`, and links in
        mail point here unless PUBLIC_URL says otherwise (a default, not the environment)."""
        os.environ["__OW_API_HOST"] = self.url
        os.environ["__OW_API_KEY"] = self.activations.api_key
        settings.local_default("PUBLIC_URL", self.public_url)

    def server_close(self) -> None:
        super().server_close()
        self.activations.shutdown()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: Server
    timeout = 75  # idle keep-alive connections are closed after this many seconds

    def setup(self) -> None:
        # Small responses go out in one write; without this, Nagle delays every keep-alive reply.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()

    def _serve(self) -> None:
        start = time.perf_counter()
        method = self.command
        path, _, query = self.path.partition("?")
        supplied = self.headers.get("x-request-id", "")
        request_id = supplied if _REQUEST_ID.match(supplied) else uuid.uuid4().hex
        try:
            body = self._read_body()
            status, headers, payload = self._route(method, path, query, body, request_id)
        except errors.HTTPError as exc:
            status, headers, payload = events.error(exc, request_id)
        if not path.startswith(activations.PREFIX) and not events.has_header(headers, "vary"):
            # The gateway's own answers (/openapi.json, its refusals) carry CORS headers as the
            # functions' do; the invoke API is for the platform's machines, not for browsers.
            try:
                headers = headers + list(cors.headers(self.headers.get("origin")).items())
            except Exception:  # the settings cannot be read: the answer goes out without CORS
                log.exception("CORS headers (request %s)", request_id)
        self._send(status, headers, payload, request_id)
        access.info("%s %s %d %.1fms %s", method, path, status, (time.perf_counter() - start) * 1000,
                    request_id)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    def _route(self, method: str, path: str, query: str, body: bytes,
               request_id: str) -> tuple[int, events.Headers, bytes]:
        if method == "HEAD":
            method = "GET"  # answered as GET; _send leaves the body out
        if path in ("/openapi.json", "/asyncapi.json", "/docs") and cors.is_preflight(
                method, self.headers.get("access-control-request-method")):
            return 204, list(cors.preflight(self.headers.get("origin"), "GET").items()), b""
        if method == "GET":
            if path == "/openapi.json":
                return 200, [("Content-Type", "application/json")], self.server.openapi()
            if path == "/asyncapi.json":
                return 200, [("Content-Type", "application/json")], self.server.asyncapi()
            if path == "/docs":
                return 200, [("Content-Type", "text/html; charset=utf-8")], openapi.DOCS_HTML.encode()
        if path.startswith(activations.PREFIX):
            return self.server.activations.handle(method, path, query, self.headers.get("authorization"), body)
        function, suffix = self.server.router.match(method, path, self.headers.get("access-control-request-method"))
        secret = function.secret()
        if secret and not hmac.compare_digest(self.headers.get("x-require-whisk-auth", "").encode(), secret.encode()):
            raise errors.Unauthorized("This function requires the X-Require-Whisk-Auth header (webSecure).")
        headers = [(k, v) for k, v in self.headers.items() if k.lower() not in ("x-request-id", "x-forwarded-for")]
        headers.append(("x-request-id", request_id))
        headers.append(("x-forwarded-for", self._client_address()))
        event = events.build_event(method, suffix, query, headers, body)
        return events.to_http(invoke(function, event), request_id)

    def _client_address(self) -> str:
        """The client's address, handed to the functions in X-Forwarded-For as the platform does.

        With no trusted proxy (the default) that is the socket's peer, and whatever X-Forwarded-For
        the client sent is dropped: anyone can write one. Behind N trusted proxies, each appended the
        address it saw: the client is the entry the outermost trusted one appended, N from the right
        (the peer, the nearest proxy, counted as the last entry); what lies left of it is hearsay."""
        peer = str(self.client_address[0])
        hops = self.server.trusted_proxies
        if not hops:
            return peer
        sent = ",".join(self.headers.get_all("x-forwarded-for") or [])
        chain = [part.strip() for part in sent.split(",") if part.strip()] + [peer]
        return chain[-1 - hops] if len(chain) > hops else chain[0]

    def handle_expect_100(self) -> bool:
        # Don't invite a client to send a body we will refuse; _read_body answers 413 instead.
        raw = self.headers.get("content-length", "")
        if raw.isdigit() and int(raw) > MAX_BODY:
            return True
        return super().handle_expect_100()

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding"):
            self.close_connection = True  # we do not read chunked bodies, so the stream is lost
            raise events.LengthRequired("Send the body with a Content-Length.")
        raw = self.headers.get("content-length")
        if not raw:
            return b""
        if not raw.isdigit():
            self.close_connection = True
            raise errors.BadRequest("Content-Length is not a number.")
        length = int(raw)
        if length > MAX_BODY:
            self.close_connection = True  # the unread body would be taken for the next request
            raise errors.PayloadTooLarge(f"The body may be at most {MAX_BODY} bytes.")
        return self.rfile.read(length)

    def _send(self, status: int, headers: events.Headers, payload: bytes, request_id: str) -> None:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = ""
        lines = [f"HTTP/1.1 {status} {phrase}", f"Date: {self.server.clock.now()}"]
        has_request_id = False
        for name, value in headers:
            low = name.lower()
            if low in _HOP_BY_HOP:
                continue
            has_request_id = has_request_id or low == "x-request-id"
            # A newline in a value would let a function's output forge headers.
            lines.append(f"{name}: {value.replace(chr(13), ' ').replace(chr(10), ' ')}")
        if not has_request_id:
            lines.append(f"X-Request-Id: {request_id}")
        if status >= 200 and status not in (204, 304):
            lines.append(f"Content-Length: {len(payload)}")
        else:
            payload = b""
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", errors="replace")
        self.wfile.write(head if self.command == "HEAD" else head + payload)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # The stdlib's own refusals (bad request line, headers too long, unknown method) in our format.
        self.close_connection = True
        exc = errors.HTTPError(message or explain)
        try:
            exc.status, exc.title = code, HTTPStatus(code).phrase
        except ValueError:
            exc.status = code
        exc.code = exc.title.lower().replace(" ", "_")
        if not hasattr(self, "command") or self.command is None:
            self.command = ""
        request_id = uuid.uuid4().hex
        status, headers, payload = events.error(exc, request_id)
        self._send(status, headers, payload, request_id)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # _serve writes the access line, with the duration and request id

    def log_message(self, format: str, *args: Any) -> None:
        # Not address_string(): no reverse DNS, and the stdlib's own messages go through logging.
        log.debug("%s %s", self.client_address[0], format % args)


def make_server(host: str = "127.0.0.1", port: int = 8000, *, manifest_path: Path | None = None,
                functions_dir: Path | None = None, namespace: str | None = None,
                api_key: str | None = None, trusted_proxies: int | None = None) -> Server:
    """Load project.yml and every function, and bind; `port=0` picks a free port.

    `api_key` guards the invoke API: __OW_API_KEY when set, else a fresh random one.
    `trusted_proxies`: how many proxies in front of the gateway append to X-Forwarded-For and are
    believed (IMS_TRUST_PROXY: a number, or true for one); 0, the default, trusts none."""
    namespace = namespace or os.environ.get("IMS_NAMESPACE") or "local"
    api_key = api_key or os.environ.get("__OW_API_KEY") or activations.new_api_key()
    if trusted_proxies is None:
        trusted_proxies = trusted_proxy_hops(os.environ.get("IMS_TRUST_PROXY", ""))
    return Server((host, port), manifest.load(manifest_path, functions_dir), namespace, api_key, trusted_proxies)


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


def run(server: Server) -> None:
    """Serve until SIGINT/SIGTERM, then close the listening socket and the database pool."""
    def stop(signum: int, frame: Any) -> None:
        log.info("received %s, shutting down", signal.Signals(signum).name)
        # shutdown() waits for serve_forever() to return, so it cannot run on serve_forever's thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        server.serve_forever()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        server.server_close()
        _close_pool()


def _close_pool() -> None:
    import sys

    db = sys.modules.get("shared.db")  # only if a function ever used it
    if db is not None and hasattr(db, "close_pool"):
        try:
            db.close_pool()
        except Exception:
            log.exception("closing the database pool failed")


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    run(make_server(host, port))
