"""The live feed with real WebSocket clients: `python -m realtime` as a child process (as `make run`
starts it) on an ephemeral port, fed by the session's Redis stream, authenticating against the
session's database; writes go through the real gateway."""

from __future__ import annotations

import asyncio
import base64
import functools
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator
from urllib.parse import urlencode

import jwt
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from realtime import launch
from localenv import process
from tests.api.helpers import withdraw  # noqa: F401  (the realtime tests import it from here)
from shared import db
from tests.conftest import JWT_SECRET

WAIT = 10.0  # seconds: the most any single expected message may take before a test fails


def feed_env(**extra: str) -> dict[str, str]:
    return process.child_env({"IMS_WS_PORT": "0", "IMS_WS_HOST": "127.0.0.1", "IMS_WS_AUTH_TIMEOUT": "1",
                             "IMS_LOG_LEVEL": "WARNING", **extra})


@pytest.fixture(scope="session")
def feed(services: dict[str, str], gateway: str) -> Iterator[launch.Realtime]:
    server = launch.start(feed_env(IMS_WS_CLIENT_BUFFER="65536"))
    yield server
    server.stop()


def aio(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Run an async test to completion in a fresh event loop (no plugin needed)."""
    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        asyncio.run(asyncio.wait_for(test(*args, **kwargs), 60))
    return run


class Peer:
    """A real WebSocket client of the feed, reading JSON messages with bounded waits."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), timeout))

    async def ready(self) -> dict[str, Any]:
        message = await self.next()
        assert message["event"] == "ready", message
        return message

    async def until(self, predicate: Callable[[dict[str, Any]], bool], count: int = 1,
                    timeout: float = WAIT) -> list[dict[str, Any]]:
        """The next `count` messages matching `predicate`, skipping others."""
        found: list[dict[str, Any]] = []
        async with asyncio.timeout(timeout):
            while len(found) < count:
                message = await self.next(timeout)
                if predicate(message):
                    found.append(message)
        return found

    async def about(self, item_id: int, count: int = 1,
                    events: tuple[str, ...] = ("stock_changed",)) -> list[dict[str, Any]]:
        """The next `count` events of these types about this item. The type matters: the item's own
        item_created may still arrive after `ready` when the feed read it a moment after the
        client registered (it is after the client's resume point, so it is rightly sent)."""
        return await self.until(lambda m: m.get("event") in events and about(m, item_id), count)

    async def closed(self, timeout: float = WAIT) -> tuple[int | None, str | None]:
        """Read until the server closes; the close code and reason."""
        try:
            async with asyncio.timeout(timeout):
                async for _ in self.ws:
                    pass
        except ConnectionClosed:  # any code but 1000/1001 ends the iteration with this
            pass
        return self.ws.close_code, self.ws.close_reason

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))


def about(message: dict[str, Any], item_id: int) -> bool:
    data = message.get("data") or {}
    return data.get("item_id") == item_id or (data.get("item") or {}).get("id") == item_id


@asynccontextmanager
async def peer(url: str, **params: Any) -> AsyncIterator[Peer]:
    query = urlencode({k: v for k, v in params.items() if v is not None})
    async with connect(f"{url}?{query}" if query else url, compression=None, open_timeout=WAIT,
                       close_timeout=2) as ws:
        yield Peer(ws)


def raw_client(url: str, token: str, receive_buffer: int | None = None) -> socket.socket:
    """A bare socket that completes the WebSocket handshake and reads nothing more unless told to:
    a client that stops reading, or one that never answers a ping."""
    host, port = url.removeprefix("ws://").split("/")[0].split(":")
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(WAIT)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET /ws?token={token} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)  # byte by byte: leave everything after the handshake unread
        assert byte, f"the server closed the connection during the handshake: {head!r}"
        head += byte
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def read_frame(sock: socket.socket) -> tuple[int, bytes]:
    """(opcode, payload) of the next frame from the server (unmasked); (-1, b"") at end of stream."""
    def exactly(n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    try:
        first, second = exactly(2)
        length = second & 0x7F
        if length >= 126:
            length = int.from_bytes(exactly(2 if length == 126 else 8), "big")
        return first & 0x0F, exactly(length)
    except (EOFError, ConnectionResetError):
        return -1, b""


def http_get(url: str) -> tuple[int, str, str]:
    """(status, content type, body) of a plain GET."""
    try:
        with urllib.request.urlopen(url, timeout=WAIT) as res:
            return res.status, res.headers.get("Content-Type", ""), res.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type", ""), exc.read().decode()


def metric(text: str, name: str) -> float:
    """The value of one sample (`name` includes its labels) in Prometheus text."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")


def token_for(user_id: int, role: str, expires_in: float, typ: str = "access") -> str:
    """A correctly signed token for `user_id` that expires `expires_in` seconds from now, in a live
    session of its own."""
    version = db.one("SELECT token_version FROM users WHERE id = :id", id=user_id)["token_version"]
    now = int(time.time())
    session = uuid.uuid4().hex
    db.execute("INSERT INTO refresh_tokens (jti, user_id, family, expires_at) "
               "VALUES (:jti, :user_id, :family, now() + interval '1 hour')",
               jti=uuid.uuid4().hex, user_id=user_id, family=session)
    claims = {"sub": str(user_id), "role": role, "ver": version, "typ": typ, "iat": now,
              "exp": int(now + expires_in), "jti": "t" * 32, "sid": session}
    return jwt.encode(claims, JWT_SECRET, algorithm="HS256")


