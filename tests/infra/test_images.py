"""The three images of infra/images/ running together under podman, as a deployment runs them: the jobs
image migrates a fresh database to completion, then the api (the self-hosted front) and realtime serve
against PostgreSQL and Redis over loopback TCP. A session goes through them end to end (register, an
item, a withdrawal received over the WebSocket), both expose IMS's metrics, the jobs image's default
command backs the database up to S3 (moto's server), and SIGTERM under load stops the api with no 5xx.

PostgreSQL and Redis are the machine's own (127.0.0.1:5432, trust auth for postgres; 127.0.0.1:6379;
IMS_IMAGES_POSTGRES_URL and IMS_IMAGES_REDIS_URL name others): the embedded servers listen on Unix
sockets only, which a container on the host's network cannot share as they are. This module takes a database of a unique name and a
Redis database index nobody uses, and drops and flushes only those. Every container runs with a
read-only root filesystem and a /tmp of its own, on the host's network, under a unique name removed
after. infra/check builds the images and names them in IMS_API_IMAGE, IMS_REALTIME_IMAGE and
IMS_JOBS_IMAGE."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.client import Api
from tests.conftest import ROOT, free_port
from tests.infra.conftest import http_get, podman, wait_for

V1 = "/api/v1"
JWT_SECRET = "images-secret-" + "z" * 40
METRICS_TOKEN = "images-metrics-" + uuid.uuid4().hex
# A superuser's URL without a database, and a Redis URL without an index; loopback TCP.
POSTGRES = os.environ.get("IMS_IMAGES_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432").rstrip("/")
REDIS = os.environ.get("IMS_IMAGES_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")
GRACEFUL = 10  # the api's IMS_GRACEFUL_TIMEOUT in this test
# What this machine's podman needs (README, "Container images"), plus the read-only root.
RUN = ["--runtime=runc", "--network=host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
       "--read-only", "--tmpfs", "/tmp"]
USER = "65532:65532"


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    """The tags infra/check built; all three, or the module cannot run."""
    names = {"api": "IMS_API_IMAGE", "realtime": "IMS_REALTIME_IMAGE", "jobs": "IMS_JOBS_IMAGE"}
    missing = [var for var in names.values() if not os.environ.get(var)]
    assert not missing, f"{', '.join(missing)} unset: run these through infra/check (make infra-test)"
    return {kind: os.environ[var] for kind, var in names.items()}


def _sql(url: str, statement: str) -> list[list[Any]]:
    """One statement on its own connection (autocommit: CREATE and DROP DATABASE want no transaction)."""
    import pg8000.native

    from shared.db import connect_args

    conn = pg8000.native.Connection(**connect_args(url))
    try:
        return conn.run(statement) or []
    finally:
        conn.close()


def _redis_index() -> int:
    """A database index of the machine's Redis that holds no key (the highest first: 0 is everyone's)."""
    import redis

    for index in range(15, 0, -1):
        client = redis.Redis.from_url(f"{REDIS}/{index}")
        try:
            if client.dbsize() == 0:
                return index
        finally:
            client.close()
    raise AssertionError("no empty database index in the machine's Redis")


@pytest.fixture(scope="module")
def services() -> Iterator[dict[str, str]]:
    """A fresh database and an unused Redis index on the machine's servers, and the settings every
    container gets; dropped and flushed after (only those)."""
    import redis

    name = f"ims_images_{uuid.uuid4().hex[:12]}"
    try:
        index = _redis_index()
        _sql(f"{POSTGRES}/postgres", f"CREATE DATABASE {name}")
    except Exception as exc:
        raise AssertionError(f"this test wants PostgreSQL at {POSTGRES} and Redis at {REDIS} on loopback "
                             f"TCP (IMS_IMAGES_POSTGRES_URL, IMS_IMAGES_REDIS_URL): {exc}") from exc
    try:
        yield {"DATABASE_URL": f"{POSTGRES}/{name}", "REDIS_URL": f"{REDIS}/{index}",
               "JWT_SECRET": JWT_SECRET, "METRICS_TOKEN": METRICS_TOKEN}
    finally:
        _sql(f"{POSTGRES}/postgres", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        client = redis.Redis.from_url(f"{REDIS}/{index}")
        client.flushdb()
        client.close()


def _env(settings: dict[str, str]) -> list[str]:
    return [arg for key, value in settings.items() for arg in ("-e", f"{key}={value}")]


def _name(kind: str) -> str:
    return f"ims-images-{kind}-{uuid.uuid4().hex[:10]}"


def _run_job(image: str, settings: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    """A one-shot container of the jobs image, run to completion; its output, the container removed."""
    name = _name("jobs")
    try:
        return subprocess.run(["podman", "run", "--name", name, *RUN, *_env(settings), image, *command],
                              capture_output=True, text=True, timeout=300)
    finally:
        podman("rm", "-f", name, check=False)


@pytest.fixture(scope="module")
def migrated(images: dict[str, str], services: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The migration job, as a rollout runs it before the new version starts."""
    done = _run_job(images["jobs"], services, "python", "-m", "shared.migrate")
    assert done.returncode == 0, done.stdout + done.stderr
    return done


@pytest.fixture(scope="module")
def deployment(images: dict[str, str], services: dict[str, str],
               migrated: subprocess.CompletedProcess[str]) -> Iterator[dict[str, str]]:
    """The api and realtime containers on free ports, both answering their health checks."""
    api_port, ws_port = free_port(), free_port()
    api, live = _name("api"), _name("realtime")
    started: list[str] = []
    try:
        podman("run", "-d", "--name", api, *RUN, *_env({
            **services, "IMS_PORT": str(api_port), "IMS_WORKERS": "2", "IMS_THREADS": "4",
            "IMS_GRACEFUL_TIMEOUT": str(GRACEFUL)}), images["api"])
        started.append(api)
        podman("run", "-d", "--name", live, *RUN, *_env({**services, "IMS_WS_PORT": str(ws_port)}),
               images["realtime"])
        started.append(live)
        api_url, live_url = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{ws_port}"
        wait_for(f"{api_url}{V1}/health", api)
        wait_for(f"{live_url}/healthz", live)
        yield {"api": api, "realtime": live, "api_url": api_url, "live_url": live_url,
               "ws_url": f"ws://127.0.0.1:{ws_port}/ws"}
    finally:
        for name in started:
            logs = podman("logs", name, check=False)
            print(f"\n--- podman logs {name} (last lines)\n"
                  + "\n".join((logs.stdout + logs.stderr).splitlines()[-15:]))
            podman("rm", "-f", "-t", "5", name, check=False)


@pytest.fixture(scope="module")
def session(deployment: dict[str, str]) -> dict[str, Any]:
    """The first user (a manager) and an item with stock enough for every withdrawal here."""
    api = Api(deployment["api_url"])
    try:
        account = {"email": "images@example.com", "password": "images-pass-1", "full_name": "Images"}
        registered = api.post(f"{V1}/auth/register", account)
        assert registered.status == 201, registered.text
        assert registered.json()["role"] == "manager"
        login = api.post(f"{V1}/auth/login", {"email": account["email"], "password": account["password"]})
        assert login.status == 200, login.text
        token = login.json()["access_token"]
        created = api.post(f"{V1}/items", {"name": "Washer M8", "sku": "IMG-1", "quantity": 100_000},
                           token=token)
        assert created.status == 201, created.text
        return {"token": token, "item": created.json()["id"]}
    finally:
        api.close()


def test_the_migration_job_runs_to_completion(migrated: subprocess.CompletedProcess[str],
                                              services: dict[str, str]) -> None:
    applied = _sql(services["DATABASE_URL"], "SELECT count(*) FROM schema_migrations")[0][0]
    assert applied == len(list((ROOT / "migrations").glob("*.sql"))) > 0, migrated.stderr


def test_each_image_runs_as_a_user_that_is_not_root(images: dict[str, str], deployment: dict[str, str],
                                                     services: dict[str, str]) -> None:
    for image in images.values():
        assert json.loads(podman("image", "inspect", image).stdout)[0]["Config"]["User"] == USER, image
    for name in (deployment["api"], deployment["realtime"]):
        assert podman("exec", name, "id", "-u").stdout.strip() == "65532", name
        inspected = json.loads(podman("inspect", name).stdout)[0]
        assert inspected["HostConfig"]["ReadonlyRootfs"] is True
        write = podman("exec", name, "python3", "-c", "open('/app/x', 'w')", check=False)
        assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr
    assert _run_job(images["jobs"], services, "id", "-u").stdout.strip() == "65532"


def test_the_servers_listen_on_every_interface(deployment: dict[str, str]) -> None:
    """IMS_HOST and IMS_WS_HOST default to loopback, which nothing outside a container reaches: the
    images set 0.0.0.0. Read from the kernel's table of listening sockets (LISTEN is state 0A)."""
    for name, url in ((deployment["api"], deployment["api_url"]), (deployment["realtime"], deployment["live_url"])):
        table = podman("exec", name, "cat", "/proc/net/tcp").stdout.splitlines()[1:]
        listening = {row.split()[1] for row in table if row.split()[3] == "0A"}
        assert f"00000000:{urlsplit(url).port:04X}" in listening, (name, sorted(listening))


def test_the_api_image_serves_the_web_ui(deployment: dict[str, str]) -> None:
    api = Api(deployment["api_url"])
    try:
        shell = api.get("/")  # the image carries ui/ (COPY ui/ ui/)
        assert shell.status == 200 and shell.headers["content-type"] == "text/html; charset=utf-8"
        assert "content-security-policy" in shell.headers
        assert api.get("/js/main.js").headers["content-type"] == "text/javascript; charset=utf-8"
    finally:
        api.close()


def test_the_healthchecks_pass(deployment: dict[str, str]) -> None:
    for name in (deployment["api"], deployment["realtime"]):
        run = podman("healthcheck", "run", name, check=False)
        assert run.returncode == 0, run.stdout + run.stderr
        state = podman("inspect", "--format", "{{.State.Health.Status}}", name).stdout.strip()
        assert state == "healthy", name


def test_a_withdrawal_reaches_the_live_feed(deployment: dict[str, str], session: dict[str, Any]) -> None:
    from websockets.sync.client import connect

    api = Api(deployment["api_url"])
    item = session["item"]
    try:
        with connect(f"{deployment['ws_url']}?token={session['token']}", compression=None,
                     open_timeout=10, close_timeout=2) as ws:
            ready = json.loads(ws.recv(timeout=10))
            assert ready["event"] == "ready", ready
            withdrawn = api.post(f"{V1}/items/{item}/withdraw", {"quantity": 2}, token=session["token"])
            assert withdrawn.status == 200, withdrawn.text
            deadline = time.monotonic() + 15
            while True:
                message = json.loads(ws.recv(timeout=max(0.1, deadline - time.monotonic())))
                if message.get("event") == "stock_changed" and message["data"].get("item_id") == item:
                    break
        assert message["data"]["action"] == "withdraw"
        assert (message["data"]["previous_quantity"], message["data"]["quantity"]) == (100_000, 99_998)
    finally:
        api.close()


def test_both_expose_ims_metrics_behind_the_metrics_token(deployment: dict[str, str],
                                                          session: dict[str, Any]) -> None:
    api_metrics, live_metrics = f"{deployment['api_url']}{V1}/metrics", f"{deployment['live_url']}/metrics"
    assert http_get(api_metrics, None)[0] == 401
    assert http_get(live_metrics, None)[0] == 401
    status, text = http_get(api_metrics, METRICS_TOKEN)
    assert status == 200, text
    lines = text.splitlines()
    assert "ims_items 1.0" in lines, text
    assert any(line.startswith("ims_outbox_pending ") for line in lines), text
    assert any(line.startswith("http_requests_total{") and 'route="items/create"' in line
               and 'status="201"' in line for line in lines), text
    status, text = http_get(live_metrics, METRICS_TOKEN)
    assert status == 200, text
    lines = text.splitlines()
    assert "ims_realtime_redis_up 1.0" in lines, text
    assert any(line.startswith("ims_realtime_connections") for line in lines), text
    assert any(line.startswith("ims_realtime_events_received_total") and not line.endswith(" 0.0")
               for line in lines), text


def test_the_jobs_image_backs_the_database_up_to_s3(images: dict[str, str], services: dict[str, str],
                                                    session: dict[str, Any]) -> None:
    """Its default command, `python -m backup take`, with pg_dump 16 from the image."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        endpoint = f"http://127.0.0.1:{port}"
        credentials = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="test")
        s3.create_bucket(Bucket="ims-images")
        done = _run_job(images["jobs"], {**services, **credentials, "AWS_ENDPOINT_URL": endpoint,
                                         "BACKUP_URL": "s3://ims-images/nightly"})
        assert done.returncode == 0, done.stdout + done.stderr
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket="ims-images").get("Contents", [])]
        assert any(key.endswith(".dump") for key in keys) and any(key.endswith(".json") for key in keys), keys
    finally:
        server.stop()


def _load(url: str, token: str, item: int, until: float, statuses: Counter[str]) -> None:
    """One client alternating reads and withdrawals until `until`, each outcome counted: an HTTP status,
    or `refused` when the connection could not be made or was closed (the server stopping)."""
    conn = http.client.HTTPConnection("127.0.0.1", urlsplit(url).port, timeout=15)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    turn = 0
    while time.monotonic() < until:
        turn += 1
        try:
            if turn % 2:
                conn.request("GET", f"{V1}/items/{item}", headers=headers)
            else:
                conn.request("POST", f"{V1}/items/{item}/withdraw", body=b'{"quantity": 1}', headers=headers)
            res = conn.getresponse()
            res.read()
            statuses[str(res.status)] += 1
            if res.getheader("Connection", "").lower() == "close":
                conn.close()
        except (http.client.HTTPException, OSError):  # refused, reset, closed
            statuses["refused"] += 1
            conn.close()
            time.sleep(0.05)
    conn.close()


def test_sigterm_under_load_answers_no_5xx_and_exits_0(deployment: dict[str, str],
                                                      session: dict[str, Any]) -> None:
    """Last: it stops the api. 8 clients for about 3 s, SIGTERM after 1 s; only HTTP 5xx count as failures
    (a refused connection once the front stopped listening is what a balancer retries elsewhere)."""
    counts: list[Counter[str]] = [Counter() for _ in range(8)]
    until = time.monotonic() + 3.0
    threads = [threading.Thread(target=_load, args=(deployment["api_url"], session["token"], session["item"],
                                                     until, c)) for c in counts]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    podman("kill", "--signal", "TERM", deployment["api"])
    # Bounded by the graceful timeout and a margin for the workers' exit.
    waited = subprocess.run(["podman", "wait", deployment["api"]], capture_output=True, text=True,
                            timeout=GRACEFUL + 15)
    for thread in threads:
        thread.join()
    total: Counter[str] = sum(counts, Counter())
    print(f"\nresponses under SIGTERM: {dict(total)}")
    assert not [status for status in total if status.startswith("5")], dict(total)
    assert total["200"] > 0, dict(total)
    assert waited.stdout.strip() == "0", waited.stdout + waited.stderr
