"""Test set-up: real PostgreSQL and Redis (embedded under .ims-test-data/ unless TEST_DATABASE_URL /
TEST_REDIS_URL name others), a fresh `ims_test` database per session, and the real gateway on an
ephemeral port. Layers: tests/shared (library), tests/functions (platform-shaped events),
tests/gateway (HTTP), tests/api (the product through HTTP)."""

from __future__ import annotations

import contextlib
import itertools
import os
import socket
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from collections.abc import Callable
from typing import Any, Iterator

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.client import Api  # noqa: E402

# tests/infra/ builds on a container image only `make infra-test` makes (infra/check names it here).
collect_ignore = [] if os.environ.get("IMS_INFRA_IMAGE") else ["infra"]

TEST_DATA = Path(os.environ.get("IMS_TEST_DATA_DIR") or ROOT / ".ims-test-data")
TEST_DB = "ims_test"
JWT_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(scope="session")
def services() -> Iterator[dict[str, str]]:
    from localenv import scratch

    from shared import db

    started, env = scratch.scratch(TEST_DATA, "TEST_", TEST_DB, JWT_SECRET)
    yield env
    db.close_pool()
    started.stop()


@pytest.fixture(scope="session")
def gateway(services: dict[str, str]) -> Iterator[str]:
    """The App in this process (tests/front.py says why); server behaviours: tests/gateway/test_front.py."""
    from gateway.app import make_app
    from tests.front import in_process

    app = make_app()
    with in_process(app) as url:
        app.host_functions(url)  # writes that raise an alert chain the mailer through this gateway
        yield url
    app.activations.shutdown()


@pytest.fixture(scope="session")
def api(gateway: str) -> Iterator[Api]:
    client = Api(gateway)
    yield client
    client.close()


@contextlib.contextmanager
def publishing_to(redis_url: str) -> Iterator[None]:
    """Point this process's event publisher (the gateway's functions run in it) at another Redis."""
    from shared import events, settings

    original = os.environ["REDIS_URL"]
    os.environ["REDIS_URL"] = redis_url
    settings.reset()
    events.reset()
    try:
        yield
    finally:
        os.environ["REDIS_URL"] = original
        settings.reset()
        events.reset()


_addresses = itertools.count(1)


def loopback_address() -> str:
    """A loopback address no other test sends from (127.77.x.y; all of 127/8 reaches this host)."""
    n = next(_addresses)
    return f"127.77.{n // 250}.{n % 250 + 1}"


@pytest.fixture
def client_from(gateway: str) -> Iterator[Callable[..., Api]]:
    """Clients of the gateway, each sending from a loopback address of its own (a client address
    the login throttle has not seen): `client_from()`, or `client_from(url)` for another gateway."""
    clients: list[Api] = []

    def make(url: str = gateway) -> Api:
        clients.append(Api(url, source=loopback_address()))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll until `predicate()` is truthy; return its value. Bounded: fails after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def run_threads(count: int, work: Callable[[int], list[Any]]) -> list[Any]:
    """Run work(i) on `count` threads released at once; every thread's results, flattened, in order of i."""
    barrier = threading.Barrier(count)

    def start(i: int) -> list[Any]:
        barrier.wait(timeout=60)
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, i) for i in range(count)]
        return [r for f in futures for r in f.result(timeout=120)]


class SettingsEnv:
    """The settings of the functions running in this process, which read the environment once:
    `set(NAME=value)` changes some (None unsets) and has them read again; `restore()` puts back
    what was there before the first change."""

    def __init__(self) -> None:
        self.saved: dict[str, str | None] = {}

    def set(self, **values: str | None) -> None:
        for name, value in values.items():
            self.saved.setdefault(name, os.environ.get(name))
            _put_env(name, value)
        _reread_settings()

    def restore(self) -> None:
        for name, value in self.saved.items():
            _put_env(name, value)
        self.saved.clear()
        _reread_settings()


@contextlib.contextmanager
def settings_env(**values: str | None) -> Iterator[SettingsEnv]:
    """Change settings for a block (or a fixture's life): `with settings_env(X="1") as env: env.set(Y=None)`."""
    env = SettingsEnv()
    env.set(**values)
    try:
        yield env
    finally:
        env.restore()


def _put_env(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def _reread_settings() -> None:
    from shared import settings

    settings.reset()


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def manager(api: Api) -> dict:
    """The first user ever registered: an active manager. {"user", "token", "refresh", "password"}."""
    password = "manager-pass-1"
    reg = api.post("/api/v1/auth/register", {"email": "boss@example.com", "password": password,
                                             "full_name": "Boss"})
    assert reg.status == 201, reg.text
    assert reg.json()["role"] == "manager" and reg.json()["is_active"] is True
    login = api.post("/api/v1/auth/login", {"email": "boss@example.com", "password": password}).json()
    return {"user": login["user"], "token": login["access_token"], "refresh": login["refresh_token"],
            "password": password}


def make_user(api: Api, manager: dict, role: str = "staff") -> dict:
    """A fresh active user created by the manager, logged in."""
    email, password = f"{unique(role)}@example.com", "staff-pass-1"
    created = api.post("/api/v1/users", {"email": email, "password": password, "full_name": role.title(),
                                         "role": role}, token=manager["token"])
    assert created.status == 201, created.text
    login = api.post("/api/v1/auth/login", {"email": email, "password": password}).json()
    return {"user": login["user"], "token": login["access_token"], "refresh": login["refresh_token"],
            "password": password, "email": email}


@pytest.fixture(scope="session")
def staff(api: Api, manager: dict) -> dict:
    return make_user(api, manager, "staff")


@pytest.fixture
def item(api: Api, manager: dict) -> dict:
    """A fresh item with 100 in stock and a threshold of 10."""
    res = api.post("/api/v1/items", {"name": unique("Widget"), "sku": unique("SKU"), "quantity": 100,
                                     "price": "2.50", "low_stock_threshold": 10}, token=manager["token"])
    assert res.status == 201, res.text
    return res.json()


@pytest.fixture
def rewind_outbox(services: dict[str, str]) -> Iterator[Callable[[int], None]]:
    """What a restore of an older backup does to the outbox: `rewind(first)` drops the rows from id
    `first` on and starts the id sequence there again, below ids Redis has seen already. Afterwards
    the sequence is put back past every id handed out, so later tests' ids stay unique."""
    from shared import db

    highest = 0

    def rewind(first: int) -> None:
        nonlocal highest
        highest = max(highest, db.one("SELECT last_value FROM events_id_seq")["last_value"])
        db.execute("DELETE FROM events WHERE id >= :first", first=first)
        db.one("SELECT setval('events_id_seq', :first, false)", first=first)

    yield rewind
    db.one("SELECT setval('events_id_seq', greatest(:n, (SELECT last_value FROM events_id_seq)))", n=highest)
