"""Two ways the tests serve gateway.app.App.

`in_process(app)`: the same App in the test process, behind the stdlib's WSGI reference server in a
thread, so the functions run here and the tests that change settings (settings_env, publishing_to)
reach them. It is a harness, not a server: what a server does (refusing smuggled requests, bounding slow
clients, keep-alive, graceful stop, workers, metrics across them) is tested against `Front`, the real
gunicorn front (gateway.serve) in a child process, as a deployment runs it.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

from localenv import process

ROOT = Path(__file__).resolve().parent.parent


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


class Front:
    """`python -m gateway.serve` (the self-hosted front) in a child process on a free port, logging
    to `log`. `env` is the whole environment of the child. Its own process group (the pid's), which a
    test signals as a terminal's Ctrl-C would."""

    def __init__(self, env: dict[str, str], log: Path, timeout: float = 60) -> None:
        self.log = log
        env = {**env, "IMS_HOST": "127.0.0.1", "IMS_PORT": "0"}
        with open(log, "w") as sink:
            self.proc = subprocess.Popen([sys.executable, "-m", "gateway.serve"], cwd=ROOT, env=env, text=True,
                                         stdout=subprocess.PIPE, stderr=sink, stdin=subprocess.DEVNULL,
                                         start_new_session=True)  # a group of its own, as under a terminal
        self.url = process.read_line(self.proc, timeout)
        if not self.url.startswith("http://"):
            self.stop()
            raise RuntimeError(f"the front did not start:\n{self.text()}")
        self.host, self.port = self.url.removeprefix("http://").rsplit(":", 1)[0], int(self.url.rsplit(":", 1)[1])

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60) -> int:
        return process.stop(self.proc, timeout)
