"""The self-hosted front (gateway.serve: gunicorn serving the App) in a child process, as deployed: what
the server does, not the functions. Its own fresh database, so its scheduled triggers touch nothing of
the session's."""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pg8000.native
import pytest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as openmetrics_families
from prometheus_client.parser import text_string_to_metric_families

from localenv import process, scratch
from localenv.front import Front
from shared.db import connect_args
from tests.conftest import ROOT, wait_until

API_KEY = "0c6b8c1e-2a1f-4f8e-9d4c-3b1f0a9e8d7c:front-test-key"


@pytest.fixture(scope="module")
def front_env(services: dict[str, str]) -> dict[str, str]:
    url = scratch.fresh_database(services["DATABASE_URL"], "ims_test_front")
    env = process.child_env({"DATABASE_URL": url, "IMS_WORKERS": "2", "IMS_HEADER_TIMEOUT": "1",
                             "__OW_API_KEY": API_KEY, "IMS_LOG_LEVEL": "INFO"})
    for name in ("METRICS_TOKEN", "PROMETHEUS_MULTIPROC_DIR"):
        env.pop(name, None)
    migrated = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=120)
    assert migrated.returncode == 0, migrated.stderr
    return env


@pytest.fixture(scope="module")
def front(front_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Front]:
    server = Front(front_env, tmp_path_factory.mktemp("front") / "front.log")
    yield server
    assert server.stop() == 0, server.text()


def raw(front: Front, data: bytes, timeout: float = 30) -> bytes:
    """Send bytes as they are; return everything the server answers until it closes or goes quiet."""
    with socket.create_connection((front.host, front.port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        try:
            while chunk := sock.recv(65536):
                chunks.append(chunk)
                if b"\r\n\r\n" in b"".join(chunks) and b"keep-alive" in b"".join(chunks).lower():
                    break
        except TimeoutError:
            pass
        return b"".join(chunks)


def status_of(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1])


def connect(front: Front) -> http.client.HTTPConnection:
    return http.client.HTTPConnection(front.host, front.port, timeout=30)


# --- refusals ---------------------------------------------------------------------------------

def test_two_content_lengths_are_refused_with_400(front):
    answer = raw(front, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ims\r\nContent-Type: application/json\r\n"
                        b"Content-Length: 2\r\nContent-Length: 40\r\n\r\n{}"
                        b"GET /api/v1/health HTTP/1.1\r\nHost: ims\r\n\r\n")
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.1") == 1, "the smuggled request was answered"


def test_transfer_encoding_with_a_space_before_the_colon_is_refused_with_400(front):
    answer = raw(front, b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ims\r\nTransfer-Encoding : chunked\r\n"
                        b"Content-Type: application/json\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
    assert status_of(answer) == 400
    assert answer.count(b"HTTP/1.1") == 1


def test_the_web_ui_is_served_and_a_way_out_of_it_is_not(front):
    """gunicorn hands the path over as the client wrote it (RAW_URI): dot segments, encoded or not, reach
    gateway.ui, which refuses them (tests/gateway/test_ui_serving.py has every spelling)."""
    shell = raw(front, b"GET / HTTP/1.1\r\nHost: ims\r\nConnection: close\r\n\r\n")
    assert status_of(shell) == 200 and b"content-security-policy: default-src 'self'" in shell.lower()
    for target in (b"/../project.yml", b"/%2e%2e/project.yml", b"/css/..%2f..%2fproject.yml", b"/..%5cproject.yml"):
        answer = raw(front, b"GET " + target + b" HTTP/1.1\r\nHost: ims\r\nConnection: close\r\n\r\n")
        assert status_of(answer) in (400, 404), (target, answer[:200])
        assert b"functions:" not in answer


def test_a_client_trickling_its_headers_is_cut_off(front):
    """IMS_HEADER_TIMEOUT=1 here: the client sends a byte every 0.2 s and would take 40 s. The bound on
    the time is loose against 1 s but out of reach of the 10 s default (the setting must be read)."""
    request = b"GET /api/v1/health HTTP/1.1\r\nHost: ims\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    sent = 0
    started = time.monotonic()
    with socket.create_connection((front.host, front.port), timeout=30) as sock:
        try:
            for sent, byte in enumerate(request, 1):
                sock.sendall(bytes([byte]))
                if sock.recv(1024, socket.MSG_PEEK | socket.MSG_DONTWAIT) if _readable(sock) else b"":
                    break
                threading.Event().wait(0.2)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _read_all(sock)
    assert sent < len(request), "the server waited for the whole trickle"
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert time.monotonic() - started < 5, "IMS_HEADER_TIMEOUT=1 was not applied"
    assert "sent its request headers too slowly (over 1 s)" in front.text()


def test_the_header_clock_starts_at_the_first_byte_not_at_the_connection(front):
    """A client (a pool, a balancer) connects ahead and sends its request later than IMS_HEADER_TIMEOUT
    (1 s here): it is served, not refused."""
    with socket.create_connection((front.host, front.port), timeout=30) as sock:
        threading.Event().wait(2.5)
        sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: ims\r\nConnection: close\r\n\r\n")
        answer = _read_all(sock)
    assert status_of(answer) == 200, answer[:200]


def _readable(sock: socket.socket) -> bool:
    import select

    return bool(select.select([sock], [], [], 0)[0])


def _one_answer(sock: socket.socket) -> bytes:
    """One answer, head and body (by its Content-Length), however the segments split it."""
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536) or b"\r\n\r\n"
    head, _, body = data.partition(b"\r\n\r\n")
    found = re.search(rb"(?i)\r\ncontent-length: (\d+)", head)
    while found and len(body) < int(found[1]) and (more := sock.recv(65536)):
        body += more
    return head + b"\r\n\r\n" + body


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except (ConnectionResetError, TimeoutError):
        pass
    return b"".join(chunks)


def test_an_unknown_method_is_405_with_allow(front):
    conn = connect(front)
    try:
        conn.request("BREW", "/api/v1/items")
        res = conn.getresponse()
        assert res.status == 405
        assert "GET" in res.getheader("allow", "") and "POST" in res.getheader("allow", "")
        assert res.getheader("content-type").startswith("application/problem+json")
    finally:
        conn.close()


def test_keep_alive_serves_several_requests_over_one_connection(front):
    conn = connect(front)
    try:
        conn.request("GET", "/api/v1/health")
        first = conn.getresponse()
        first.read()
        sock = conn.sock
        for path in ("/openapi.json", "/api/v1/health", "/docs"):
            conn.request("GET", path)
            res = conn.getresponse()
            assert res.status == 200 and res.read()
            assert not res.will_close and conn.sock is sock, "the connection was reopened"
        conn.request("HEAD", "/api/v1/health")
        head = conn.getresponse()
        assert head.status == 200 and head.read() == b""
        assert conn.sock is sock
    finally:
        conn.close()


def test_a_body_over_one_mebibyte_is_413_from_the_headers_alone_and_never_a_request(front):
    """The refusal comes before the body is sent; sent later, the body is drained as a body (gunicorn
    reads it by its Content-Length), never answered as the request it looks like."""
    smuggled = b"GET /api/v1/health HTTP/1.1\r\nHost: ims\r\n\r\n"
    body = smuggled * ((1 << 20) // len(smuggled) + 1)
    head = (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ims\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body))
    with socket.create_connection((front.host, front.port), timeout=30) as sock:
        sock.sendall(head)
        first = _one_answer(sock)
        assert status_of(first) == 413 and b'"payload_too_large"' in first
        sock.sendall(body)
        sock.settimeout(3)
        rest = _read_all(sock)
    assert b"HTTP/1.1" not in rest


def test_a_client_resetting_its_connection_leaves_no_traceback(front):
    reset = struct.pack("ii", 1, 0)  # SO_LINGER on, 0 s: close() sends RST
    for request in (b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ims\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 500\r\n\r\n{\"email\": ",
                    b"GET /openapi.json HTTP/1.1\r\nHost: ims\r\n\r\n",
                    b"GET /api/v1/heal"):
        for _ in range(5):
            sock = socket.create_connection((front.host, front.port), timeout=30)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, reset)
            sock.sendall(request)
            sock.close()
    conn = connect(front)
    conn.request("GET", "/api/v1/health")
    assert conn.getresponse().status == 200  # still serving
    conn.close()
    assert "Traceback" not in front.text()


# --- workers and metrics --------------------------------------------------------------------------

def _health(front: Front, count: int) -> None:
    """`count` GETs of /api/v1/health from 8 threads, each on a fresh connection."""
    def run(n: int) -> None:
        for _ in range(n):
            conn = connect(front)
            conn.request("GET", "/api/v1/health", headers={"Connection": "close"})
            assert conn.getresponse().status == 200
            conn.close()

    threads = [threading.Thread(target=run, args=(count // 8 + (i < count % 8),)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def _serving_pids(front: Front) -> set[str]:
    return set(re.findall(r"ims\.access\[(\d+)\] GET /api/v1/health ", front.text()))


def _metrics(front: Front, accept: str | None = None) -> dict:
    """One scrape, parsed by prometheus_client's parser for the format the front answered in."""
    conn = connect(front)
    conn.request("GET", "/api/v1/metrics", headers={"Accept": accept} if accept else {})
    res = conn.getresponse()
    assert res.status == 200
    text = res.read().decode()
    conn.close()
    openmetrics = res.getheader("content-type", "").startswith("application/openmetrics-text")
    parse = openmetrics_families if openmetrics else text_string_to_metric_families
    return {f.name: f for f in parse(text)} | {"text": text, "content-type": res.getheader("content-type")}


def _health_count(families: dict, sample: str, family: str) -> float:
    return sum(s.value for s in families[family].samples
               if s.name == sample and s.labels["route"] == "ops/health" and s.labels["method"] == "GET"
               and s.labels.get("status", "200") == "200") if family in families else 0


def test_two_workers_serve_and_metrics_count_the_requests_of_both(front):
    """IMS_WORKERS=2: both worker processes answer; /api/v1/metrics counts every request, whichever
    worker answered it (prometheus_client's multiprocess mode), by route, method and status."""
    before = _metrics(front)
    _health(front, 200)
    sent = 200
    while len(_serving_pids(front)) < 2 and sent < 4000:  # bounded: the kernel spreads connections
        _health(front, 200)
        sent += 200
    assert len(_serving_pids(front)) == 2, "only one worker answered"
    after = _metrics(front)
    # the parser names a counter's family without _total
    assert _health_count(after, "http_requests_total", "http_requests") - \
        _health_count(before, "http_requests_total", "http_requests") == sent
    assert _health_count(after, "http_request_duration_seconds_count", "http_request_duration_seconds") - \
        _health_count(before, "http_request_duration_seconds_count", "http_request_duration_seconds") == sent
    assert "http_requests_in_flight" in after
    assert "ims_items" in after  # the business gauges of the ops/metrics function, in the same answer


@pytest.mark.parametrize("accept", ["application/openmetrics-text; version=1.0.0", None])
def test_metrics_are_one_exposition_in_the_format_the_scraper_asks_for(front, accept):
    """Prometheus asks for OpenMetrics: the gauges and the request metrics come in it, one `# EOF` at
    the end (the strict parser refuses anything after it); without Accept, text 0.0.4 throughout."""
    _health(front, 8)
    families = _metrics(front, accept)
    if accept:
        assert families["content-type"].startswith("application/openmetrics-text")
        assert families["text"].endswith("# EOF\n") and families["text"].count("# EOF") == 1
    else:
        assert families["content-type"].startswith("text/plain; version=0.0.4")
        assert "# EOF" not in families["text"]
    assert _health_count(families, "http_requests_total", "http_requests") >= 8
    assert [s.name for s in families["ims_items"].samples] == ["ims_items"]


def test_the_scheduler_fires_each_minute_once_across_workers(front, front_env):
    """IMS_WORKERS=2, each with a scheduler thread: relay-every-minute fires once for its minute, by
    one worker (the lock holder), claimed once in cron_runs. Waits for the next minute (up to ~70 s)."""
    fired = re.compile(r"ims\.cron\[(\d+)\] cron (\S+ \S+): fired .*relay-every-minute")
    wait_until(lambda: fired.search(front.text()), 75, "the scheduler to fire relay-every-minute")
    pid, minute = fired.search(front.text()).groups()
    wait_until(lambda: re.search(rf"ims\.activations\[{pid}\] activation \w+ ops/relay ", front.text()), 30,
               "the scheduled relay to run")
    assert [m for m in fired.findall(front.text()) if m[1] == minute] == [(pid, minute)]
    conn = pg8000.native.Connection(**connect_args(front_env["DATABASE_URL"]))
    try:
        rows = conn.run("SELECT count(*) FROM cron_runs WHERE trigger = 'relay-every-minute' "
                        "AND scheduled_at = CAST(:at AS timestamptz)", at=f"{minute}:00+00")
    finally:
        conn.close()
    assert rows == [[1]]


def test_the_front_does_not_serve_the_open_trigger_path(front):
    """Its own scheduler fires the triggers: the path a PingSource calls without a key (gateway.openwhisk.ping,
    functions-framework only) is the invoke API's here, and that wants the key."""
    conn = connect(front)
    conn.request("POST", "/api/v1/namespaces/_/triggers/relay-every-minute", body=b"{}",
                 headers={"Content-Type": "application/json"})
    res = conn.getresponse()
    body = res.read()
    conn.close()
    assert res.status == 401, body
    assert b"fired" not in body


# --- start and stop ---------------------------------------------------------------------------

@pytest.mark.parametrize("module", ["gateway", "gateway.serve"])
def test_a_port_in_use_is_one_line_and_nothing_starts(front, front_env, tmp_path, module):
    env = {**front_env, "IMS_HOST": "127.0.0.1", "IMS_PORT": str(front.port), "IMS_DATA_DIR": str(tmp_path / "data")}
    env.pop("DATABASE_URL")  # make run would start its own databases, if it got that far
    proc = subprocess.run([sys.executable, "-m", module], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    output = (proc.stdout + proc.stderr).strip()
    assert proc.returncode != 0
    assert output.splitlines() == [f"IMS cannot listen on 127.0.0.1:{front.port}: the port is in use (set IMS_PORT)"]
    assert not (tmp_path / "data").exists()  # no data dir, no lock, no database


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_under_load_finishes_every_request_then_exits_0(front_env, tmp_path, sig):
    """SIGTERM, or Ctrl-C: the terminal sends SIGINT to the master and its workers alike. Besides the
    load, one request is in flight when the signal comes (its body half sent): it is answered in full."""
    server = Front({**front_env, "IMS_KEEPALIVE": "30"}, tmp_path / "front.log")
    outcomes: list[str] = []
    stop = threading.Event()

    def client() -> None:
        conn = connect(server)
        while not stop.is_set():
            try:
                conn.request("GET", "/openapi.json")
                res = conn.getresponse()
                body = res.read()
            except (ConnectionRefusedError, http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                outcomes.append("closed")  # the front had stopped accepting, or closed an idle connection
                conn.close()
                if stop.wait(0.05):
                    return
                conn = connect(server)
                continue
            except http.client.IncompleteRead:
                outcomes.append("cut")
                return
            outcomes.append(str(res.status) if len(body) == int(res.getheader("content-length", "-1")) else "cut")
            if res.will_close:
                conn.close()
                conn = connect(server)
        conn.close()

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    wait_until(lambda: len(outcomes) >= 200, 60, "requests to flow")
    body = json.dumps({"email": "nobody@example.com", "password": "not the password"}).encode()
    slow = socket.create_connection((server.host, server.port), timeout=30)
    slow.sendall(b"POST /api/v1/auth/login HTTP/1.1\r\nHost: ims\r\nContent-Type: application/json\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body[:10])
    threading.Event().wait(0.5)  # a worker thread is now reading that body
    if sig == signal.SIGINT:
        os.killpg(server.proc.pid, sig)  # as a terminal does: its own group (localenv.front.Front), every process
    else:
        os.kill(server.proc.pid, sig)
    try:
        threading.Event().wait(0.5)  # the workers are stopping
        slow.sendall(body[10:])
        with slow:
            answer = _read_all(slow)
        code = server.proc.wait(60)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        server.stop()
    answered = [o for o in outcomes if o not in ("closed",)]
    assert code == 0, server.text()
    assert set(answered) == {"200"}, {o: outcomes.count(o) for o in set(outcomes)}
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401 "), answer or "the request in flight was cut"
    assert json.loads(payload)["title"]
    assert int(re.search(rb"(?i)content-length: (\d+)", head)[1]) == len(payload)
    assert "Traceback" not in server.text()
