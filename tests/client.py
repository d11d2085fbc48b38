"""A small HTTP client for the tests: JSON in and out, one keep-alive connection per thread."""

from __future__ import annotations

import http.client
import json
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Resp:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.body)


class Api:
    def __init__(self, base_url: str, source: str | None = None) -> None:
        """`source`: the loopback address (127.x.y.z) to send from, so the server sees another client."""
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.source = (source, 0) if source else None
        self._local = threading.local()
        self._all: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def _conn(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = http.client.HTTPConnection(self.host, self.port, timeout=30,
                                                                 source_address=self.source)
            with self._lock:
                self._all.append(conn)
        return conn

    def close(self) -> None:
        """Close every connection any thread opened."""
        with self._lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    def request(self, method: str, path: str, json_body: Any = None, *, token: str | None = None,
                headers: dict[str, str] | None = None, body: bytes | None = None) -> Resp:
        hdrs = dict(headers or {})
        if json_body is not None:
            body = json.dumps(json_body).encode()
            hdrs.setdefault("Content-Type", "application/json")
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):
            conn = self._conn()
            try:
                conn.request(method, path, body=body, headers=hdrs)
                res = conn.getresponse()
                data = res.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                conn.close()
                self._local.conn = None
                if attempt == 2:
                    raise
        return Resp(res.status, {k.lower(): v for k, v in res.getheaders()}, data)

    def get(self, path: str, **kw: Any) -> Resp:
        return self.request("GET", path, **kw)

    def post(self, path: str, json_body: Any = None, **kw: Any) -> Resp:
        return self.request("POST", path, json_body, **kw)

    def put(self, path: str, json_body: Any = None, **kw: Any) -> Resp:
        return self.request("PUT", path, json_body, **kw)

    def patch(self, path: str, json_body: Any = None, **kw: Any) -> Resp:
        return self.request("PATCH", path, json_body, **kw)

    def delete(self, path: str, **kw: Any) -> Resp:
        return self.request("DELETE", path, **kw)
