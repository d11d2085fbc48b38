"""A login storm beside ordinary reads: what bcrypt costs everyone else.

bcrypt is ~0.25 s of CPU per check and releases the GIL, so unbounded it takes every core; the
front bounds it across its workers (IMS_BCRYPT_CONCURRENCY). This measures `GET /items` latency with the
gateway idle, then while STORM clients log in back to back (each as one of STORM users, so the
per-account throttle never refuses a right password; a 503 busy, when the front's bcrypt queue is
full, is waited out for its Retry-After), and reports both side by side.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from bench import load

STORM = 40
PASSWORD = "storm-pass-1"


@dataclass
class Storm:
    idle: load.Result
    during: load.Result
    logins: list[float]  # seconds, each login completed (200) while the reads were measured
    login_busy: int  # 503 busy: the front's bcrypt queue was full (the client waits Retry-After, then retries)
    login_errors: int
    seconds: float  # how long the storm ran

    @property
    def login_rate(self) -> float:
        return len(self.logins) / self.seconds if self.seconds > 0 else 0.0


def add_users(conn: Any, n: int = STORM) -> list[str]:
    """`n` active staff sharing one password (hashed once), straight into the database; their e-mails."""
    import bcrypt

    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(12)).decode()
    emails = [f"storm-{i}@example.com" for i in range(n)]
    for email in emails:
        conn.run("INSERT INTO users (email, full_name, password_hash, role, is_active) "
                 "VALUES (:e, 'Storm', :h, 'staff', true)", e=email, h=hashed)
    return emails


def _login_loop(host: str, port: int, email: str, stop: threading.Event, done: list[float],
                busy: list[int], errors: list[int]) -> None:
    body = json.dumps({"email": email, "password": PASSWORD})
    conn = http.client.HTTPConnection(host, port, timeout=60)
    try:
        while not stop.is_set():
            began = time.perf_counter()
            try:
                conn.request("POST", "/api/v1/auth/login", body=body, headers={"Content-Type": "application/json"})
                res = conn.getresponse()
                res.read()
                status, retry_after = res.status, float(res.getheader("retry-after") or 1)
            except (OSError, http.client.HTTPException):
                conn.close()
                status, retry_after = 0, 0.0
            if stop.is_set():
                return  # ended after the reads were measured: not part of the figure
            if status == 200:
                done.append(time.perf_counter() - began)
            elif status == 503:  # as a well-behaved client: wait as told, then try again
                busy.append(1)
                stop.wait(retry_after)
            else:
                errors.append(1)
    finally:
        conn.close()


def run(host: str, port: int, token: str, emails: list[str], warmup: float, seconds: float) -> Storm:
    read = load.build_request("GET", "/api/v1/items", f"{host}:{port}", token)
    idle = load.run(host, port, lambda: read, 1, warmup, seconds)
    stop = threading.Event()
    done: list[float] = []
    busy: list[int] = []
    errors: list[int] = []
    # One client per user, logging in back to back (the logins queue for bcrypt; reads should not).
    threads = [threading.Thread(target=_login_loop, args=(host, port, e, stop, done, busy, errors), daemon=True)
               for e in emails]
    began = time.perf_counter()
    for t in threads:
        t.start()
    during = load.run(host, port, lambda: read, 1, warmup, seconds)
    stop.set()
    ran = time.perf_counter() - began
    for t in threads:
        t.join(70)
    return Storm(idle, during, list(done), len(busy), len(errors), ran)
