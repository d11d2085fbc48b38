"""Mail test set-up: a real SMTP server (aiosmtpd) and a local server speaking SendGrid's v3
`mail/send`, both on ephemeral loopback ports; a way to configure mail for one test.

The session gateway runs the functions in this process, so changing the environment and resetting
shared.settings reconfigures what the chained mailer does, exactly as a redeploy would."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.conftest import free_port, settings_env, wait_until  # noqa: F401  (the notify tests import them from here too)

MAIL_VARS = ("SMTP_URL", "SENDGRID_API_KEY", "SENDGRID_API_HOST", "ALERT_EMAIL_TO", "MAIL_FROM", "PUBLIC_URL",
             "MAILER_SECRET", "MAIL_MAX_ATTEMPTS", "MAIL_RETRY_SECONDS", "MAIL_TIMEOUT_SECONDS")


class Inbox:
    """What the SMTP server received, as parsed messages."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"

    def about(self, text: str) -> list[EmailMessage]:
        with self._lock:
            return [m for m in self.messages if text in str(m["Subject"])]


@pytest.fixture
def mail_env(services: dict[str, str]) -> Iterator[Callable[..., None]]:
    """configure(SMTP_URL=…, …): set mail variables (None unsets) and re-read the settings."""
    with settings_env(**{name: None for name in MAIL_VARS}) as env:
        def configure(**values: str | None) -> None:
            assert set(values) <= set(MAIL_VARS), values
            env.set(**values)

        yield configure


@pytest.fixture
def smtp(mail_env: Callable[..., None]) -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on an ephemeral port, configured as the transport: (inbox, port)."""
    from aiosmtpd.controller import Controller

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    mail_env(SMTP_URL=f"smtp://127.0.0.1:{port}", MAIL_FROM="IMS Alerts <alerts@ims.test>")
    yield inbox, port
    controller.stop()


class SendGridFake(ThreadingHTTPServer):
    """Speaks SendGrid's v3 `POST /v3/mail/send`: 202 and no body, or `status` when told to fail."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 202
        super().__init__(("127.0.0.1", 0), _SendGridHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SendGridHandler(BaseHTTPRequestHandler):
    server: SendGridFake

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        self.server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                                     "json": json.loads(body)})
        if self.server.status == 202:
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            payload = json.dumps({"errors": [{"message": "The from address does not match a verified Sender "
                                                         "Identity.", "field": "from"}]}).encode()
            self.send_response(self.server.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def sendgrid(mail_env: Callable[..., None]) -> Iterator[SendGridFake]:
    server = SendGridFake()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mail_env(SENDGRID_API_KEY="SG.test-key", SENDGRID_API_HOST=server.url, MAIL_FROM="IMS <alerts@ims.test>")
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def hanging_smtp(mail_env: Callable[..., None]) -> Iterator[threading.Event]:
    """An SMTP port that accepts connections and never says a word until the event is set, then
    hangs up on them all."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    release = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        listener.settimeout(0.1)
        while not release.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except (TimeoutError, OSError):
                continue
        for conn in held:  # hang up on everyone: their SMTP sessions fail at once
            conn.close()
        listener.close()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    mail_env(SMTP_URL=f"smtp://127.0.0.1:{listener.getsockname()[1]}", MAIL_TIMEOUT_SECONDS="30")
    yield release
    release.set()
    thread.join(timeout=5)
