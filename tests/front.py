"""Two ways the tests serve gateway.app.App.

`in_process(app)`: the same App in the test process, behind the stdlib's WSGI reference server in a
thread, so the functions run here and the tests that change settings (settings_env, publishing_to)
reach them. It is a harness, not a server: what a server does (refusing smuggled requests, bounding slow
clients, keep-alive, graceful stop, workers, metrics across them) is tested against `Front`, the real
gunicorn front (gateway.serve) in a child process, as a deployment runs it (localenv.front.Front).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    request_queue_size = 256


class _Handler(WSGIRequestHandler):
    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["RAW_URI"] = self.path  # the path as sent, as gunicorn gives it
        if self.headers.get("content-type") is None:
            environ.pop("CONTENT_TYPE", None)  # wsgiref would make up text/plain; gunicorn sends none
        return environ

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the App writes the access line


@contextmanager
def in_process(app: Any) -> Iterator[str]:
    """Serve `app` on a free loopback port in this process; yield its URL."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.set_app(app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
