"""Live-feed fan-out: from a committed withdrawal to its receipt by every connected client, and the
realtime server's resident memory per idle connection.

For each client count a fresh `python -m realtime` (one process) and a client process
(`python -m bench.feed`, its own GIL) holding that many WebSocket connections, each subscribed to one
item's stock_changed. The client process withdraws one unit over HTTP, round after round, and times
each connection's receipt of the event from the moment the request was sent: an upper bound on the
time from the commit. The clients speak just enough WebSocket (handshake, unmasked server frames,
pong) to time the server rather than a client library. Memory is the server's RSS once every client
is connected, authenticated and idle, minus its RSS after one warm-up connection came and went (which
pays the one-off costs: database driver and pool, thread pool), divided by the count.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.load import percentile_ms
from realtime import launch
from localenv import process

ROUND_TIMEOUT = 10.0  # seconds for every client to receive one event
CONNECT_TIMEOUT = 120.0  # seconds for all clients to connect and authenticate
CONNECTING_AT_ONCE = 100  # handshakes in flight: stays inside the server's listen backlog


# --- the client process ------------------------------------------------------------------------

def _frame(buf: bytearray) -> tuple[int, bytes, int] | None:
    """(opcode, payload, bytes used) of the first complete server frame in buf (servers don't mask)."""
    if len(buf) < 2:
        return None
    opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
    if length == 126:
        if len(buf) < 4:
            return None
        length, start = int.from_bytes(buf[2:4], "big"), 4
    elif length == 127:
        if len(buf) < 10:
            return None
        length, start = int.from_bytes(buf[2:10], "big"), 10
    if len(buf) < start + length:
        return None
    return opcode, bytes(buf[start:start + length]), start + length


class FeedClient(asyncio.Protocol):
    """One connection: the first text message is `ready`; every later one is an event, timed on arrival."""

    def __init__(self, request: bytes, round_: Round) -> None:
        self.request, self.round = request, round_
        self.buf = bytearray()
        self.upgraded = False
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.arrivals: list[float] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buf.startswith(b"HTTP/1.1 101"):
                return self._fail(f"handshake refused: {bytes(self.buf[:60])!r}")
            del self.buf[:end + 4]
            self.upgraded = True
        while (frame := _frame(self.buf)) is not None:
            opcode, payload, used = frame
            del self.buf[:used]
            if opcode == 0x1:
                self._text(now)
            elif opcode == 0x9 and self.transport is not None:  # ping: pong it back, masked with a zero key
                self.transport.write(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
            elif opcode == 0x8:
                return self._fail(f"closed by the server: {payload[:2].hex()} {payload[2:]!r}")

    def _text(self, now: float) -> None:
        if not self.ready.done():
            self.ready.set_result(None)
        else:
            self.arrivals.append(now)
            self.round.arrived()

    def _fail(self, why: str) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(why))
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))


class Round:
    """Counts arrivals of the current event; done when every client has it."""

    def __init__(self) -> None:
        self.expected = 0
        self.count = 0
        self.done = asyncio.Event()

    def start(self, expected: int) -> None:
        self.expected, self.count = expected, 0
        self.done.clear()

    def arrived(self) -> None:
        self.count += 1
        if self.count >= self.expected:
            self.done.set()


def _upgrade(host: str, port: int, query: str) -> bytes:
    key = base64.b64encode(os.urandom(16)).decode()
    return (f"GET /ws?{query} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()


async def _connect(params: dict[str, Any], round_: Round) -> list[FeedClient]:
    host, port = params["ws_host"], params["ws_port"]
    query = f"token={params['token']}&events=stock_changed&items={params['item_id']}"
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    loop = asyncio.get_running_loop()

    async def one() -> FeedClient:
        async with gate:
            _, client = await loop.create_connection(lambda: FeedClient(_upgrade(host, port, query), round_),
                                                     host, port)
            await client.ready
            return client

    async with asyncio.timeout(CONNECT_TIMEOUT):
        return await asyncio.gather(*(one() for _ in range(params["clients"])))


async def _rounds(params: dict[str, Any], clients: list[FeedClient], round_: Round) -> dict[str, Any]:
    from bench import load

    gw = load.Connection(params["gw_host"], params["gw_port"])
    raw = load.build_request("POST", f"/api/v1/items/{params['item_id']}/withdraw",
                             f"{params['gw_host']}:{params['gw_port']}", params["token"], b'{"quantity":1}')
    latencies: list[float] = []
    missing = 0
    for _ in range(params["rounds"]):
        marks = [len(c.arrivals) for c in clients]
        round_.start(len(clients))
        began = time.perf_counter()
        status, body = await gw.request(raw)
        if status != 200:
            raise RuntimeError(f"withdraw answered {status}: {body[:200]!r}")
        try:
            await asyncio.wait_for(round_.done.wait(), ROUND_TIMEOUT)
        except TimeoutError:
            pass
        for client, mark in zip(clients, marks):
            if len(client.arrivals) > mark:
                latencies.append(client.arrivals[mark] - began)
            else:
                missing += 1
        await asyncio.sleep(0.05)  # let the server settle (pings, buffers) between rounds
    gw.close()
    return {"latencies": latencies, "missing": missing}


async def _client_main(params: dict[str, Any]) -> None:
    round_ = Round()
    clients = await _connect(params, round_)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)  # the parent measured memory
    result = await _rounds(params, clients, round_)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    print(json.dumps(result), flush=True)


# --- the parent: one phase per client count ---------------------------------------------------

@dataclass
class Phase:
    clients: int
    rounds: int
    latencies: list[float]  # seconds
    missing: int
    rss_idle_kib: int  # server RSS with every client connected and idle
    rss_base_kib: int  # server RSS after a warm-up connection, before the measured ones

    def percentile(self, p: float) -> float:
        return percentile_ms(self.latencies, p)

    @property
    def kib_per_connection(self) -> float:
        return (self.rss_idle_kib - self.rss_base_kib) / self.clients


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def _warm_up(url: str, token: str) -> None:
    """One connection first, so the baseline already holds what only the first one costs: the
    database pool and driver, the auth thread pool."""
    from websockets.sync.client import connect

    with connect(f"{url}?token={token}", compression=None, open_timeout=30) as ws:
        json.loads(ws.recv(timeout=30))
    time.sleep(0.5)


def phase(root: Path, env: dict[str, str], gateway: tuple[str, int], token: str, item_id: int,
          clients: int, rounds: int, log: Any) -> Phase:
    server = launch.start({**env, "IMS_WS_HOST": "127.0.0.1", "IMS_WS_PORT": "0", "IMS_LOG_LEVEL": "WARNING"},
                          stderr=log)
    child = None
    try:
        _warm_up(server.url, token)
        base = rss_kib(server.pid)
        params = {"clients": clients, "rounds": rounds, "token": token, "item_id": item_id,
                  "ws_host": server.host, "ws_port": server.port, "gw_host": gateway[0], "gw_port": gateway[1]}
        child = subprocess.Popen([sys.executable, "-m", "bench.feed", json.dumps(params)], cwd=root, env=env,
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
        if process.read_line(child, CONNECT_TIMEOUT + 10) != "ready":
            raise RuntimeError(f"{clients} feed clients did not all connect; see {log.name}")
        time.sleep(1.0)  # let the server finish every handshake's allocations
        idle = rss_kib(server.pid)
        assert child.stdin is not None
        child.stdin.write("go\n")
        child.stdin.flush()
        result = json.loads(process.read_line(child, rounds * (ROUND_TIMEOUT + 1) + 30) or "null")
        if result is None:
            raise RuntimeError(f"the feed clients did not report; see {log.name}")
        return Phase(clients, rounds, result["latencies"], result["missing"], idle, base)
    finally:
        if child is not None:
            if child.poll() is None:
                child.kill()
            child.wait(10)
        server.stop()


if __name__ == "__main__":
    process.raise_fd_limit()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    asyncio.run(_client_main(json.loads(sys.argv[1])))
