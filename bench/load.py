"""The load generator: asyncio, one keep-alive HTTP/1.1 connection per simulated client.

The gateway runs in another process; this one must stay cheap so it leaves the CPU to the server.
Hence no HTTP library: a request is a bytes template, a response is a status line, headers up to
the blank line and exactly Content-Length bytes of body. Every loop is bounded by a deadline and
every request by a timeout, so a run always ends by itself.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass, field
from typing import Callable

REQUEST_TIMEOUT = 10.0  # seconds; a request slower than this counts as an error



def percentile_ms(latencies: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of latencies in seconds, in milliseconds (nan if none)."""
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    rank = min(len(ordered), max(1, math.ceil(p / 100 * len(ordered))))
    return ordered[rank - 1] * 1000

class ProtocolError(Exception):
    pass


@dataclass
class Result:
    concurrency: int
    seconds: float  # length of the measured window
    latencies: list[float] = field(default_factory=list)  # seconds, measured requests only
    errors: int = 0  # measured requests that were not 200 (or failed outright)
    statuses: dict[int, int] = field(default_factory=dict)  # every non-200 status seen (0 = failure)

    @property
    def count(self) -> int:
        return len(self.latencies) + self.errors

    @property
    def throughput(self) -> float:
        return self.count / self.seconds if self.seconds > 0 else 0.0

    def percentile(self, p: float) -> float:
        """Nearest-rank percentile (p in 0..100) of the successful requests, in milliseconds (nan if none)."""
        return percentile_ms(self.latencies, p)


class Connection:
    """One keep-alive connection; reconnects after the server closed it or a request failed."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send one complete request; return (status, body)."""
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(raw)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ProtocolError("response head too long") from None
        except asyncio.IncompleteReadError:
            raise ProtocolError("connection closed by the server") from None
        status_line, _, rest = head.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        length, close = 0, False
        for line in rest.split(b"\r\n"):
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                close = True
            elif name == b"transfer-encoding":
                raise ProtocolError("chunked responses are not expected from the gateway")
        body = await self.reader.readexactly(length) if length else b""
        if close:
            self.close()
        return status, body


def build_request(method: str, path: str, host: str, token: str | None = None,
                  body: bytes | None = None) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {host}"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


async def _client(conn: Connection, next_request: Callable[[], bytes], start_measuring: float,
                  stop: float, result: Result) -> None:
    clock = time.perf_counter
    try:
        while True:
            began = clock()
            if began >= stop:
                return
            raw = next_request()
            try:
                async with asyncio.timeout(REQUEST_TIMEOUT):
                    status, _ = await conn.request(raw)
            except (OSError, ProtocolError, TimeoutError, asyncio.IncompleteReadError, ValueError):
                conn.close()
                status = 0
            ended = clock()
            if began < start_measuring or ended > stop:
                continue  # warm-up, or straddling the end of the window
            if status == 200:
                result.latencies.append(ended - began)
            else:
                result.errors += 1
                result.statuses[status] = result.statuses.get(status, 0) + 1
    finally:
        conn.close()


async def _run(host: str, port: int, next_request: Callable[[], bytes], concurrency: int,
               warmup: float, seconds: float) -> Result:
    result = Result(concurrency=concurrency, seconds=seconds)
    conns = [Connection(host, port) for _ in range(concurrency)]
    # Connect everyone first, so connection set-up is not part of the first requests' latency.
    await asyncio.gather(*(c._open() for c in conns))
    start = time.perf_counter() + warmup
    stop = start + seconds
    await asyncio.gather(*(_client(c, next_request, start, stop, result) for c in conns))
    return result


def run(host: str, port: int, next_request: Callable[[], bytes], concurrency: int,
        warmup: float = 1.0, seconds: float = 5.0) -> Result:
    """`concurrency` clients send `next_request()` back to back: `warmup` s unmeasured, then `seconds`."""
    return asyncio.run(_run(host, port, next_request, concurrency, warmup, seconds))
