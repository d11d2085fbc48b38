"""tests/infra/: the Knative image as a running container (podman, as root), against embedded
PostgreSQL and Redis started here. Only `make infra-test` (infra/check) runs these: it builds the image
and names it in IMS_INFRA_IMAGE; without it tests/conftest.py leaves this folder out of `make test`."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.conftest import free_port

JWT_SECRET = "infra-secret-" + "y" * 40
STARTUP = 120.0  # seconds for the container to answer: bounded, generous for a loaded 2-core machine


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["podman", *args], capture_output=True, text=True, check=check, timeout=120)


def sockets(env: dict[str, str]) -> list[Path]:
    """The unix sockets DATABASE_URL and REDIS_URL name (the embedded servers listen on nothing else)."""
    db = urlsplit(env["DATABASE_URL"])
    query = {k: v[0] for k, v in parse_qs(db.query).items()}
    assert db.hostname is None and query["host"].startswith("/"), env["DATABASE_URL"]
    redis = urlsplit(env["REDIS_URL"])
    assert redis.scheme == "unix", env["REDIS_URL"]
    return [Path(query["host"]) / f".s.PGSQL.{query.get('port', '5432')}", Path(redis.path)]


@pytest.fixture(scope="session")
def image() -> str:
    return os.environ["IMS_INFRA_IMAGE"]


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """Embedded PostgreSQL and Redis under a data dir of their own, a fresh migrated database."""
    from localenv import scratch

    from shared import db

    data_dir = Path(tempfile.mkdtemp(prefix="ims-infra-"))  # short: the sockets live in it
    for name in ("DATABASE_URL", "REDIS_URL"):  # never the machine's own servers on 5432 / 6379
        os.environ.pop("INFRA_" + name, None)
    started, env = scratch.scratch(data_dir, "INFRA_", "ims_infra", JWT_SECRET)
    try:
        yield env
    finally:
        db.close_pool()
        started.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def container(image: str, stack: dict[str, str]) -> Iterator[dict[str, str]]:
    """The image running as on Knative (its CMD, $PORT, a read-only root filesystem), on the host's
    network. PostgreSQL's and Redis's sockets are bind-mounted at their own paths, so the URLs work
    unchanged; only the sockets, not their directories (0700, the servers' own): the container's
    user reaches PostgreSQL's (0777, trust auth as the embedded server is set up) and Redis's once
    made 0666 (its directory still keeps every other host user out)."""
    name = f"ims-infra-{uuid.uuid4().hex[:12]}"
    port = free_port()
    mounts: list[str] = []
    for sock in sockets(stack):
        if sock.name == "redis.sock":
            sock.chmod(0o666)
        mounts += ["-v", f"{sock}:{sock}"]
    env = {**stack, "PORT": str(port), "__OW_API_KEY": f"{uuid.uuid4()}:{uuid.uuid4().hex * 2}",
           "WORKERS": "1", "THREADS": "4"}
    args = [arg for k, v in env.items() for arg in ("-e", f"{k}={v}")]
    podman("run", "-d", "--name", name, "--runtime=runc", "--network=host",
           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024", "--read-only",
           *mounts, *args, image)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/openapi.json", name)
        yield {"name": name, "url": url}
    finally:
        logs = podman("logs", name, check=False)
        print(f"\n--- podman logs {name} (last lines)\n" + "\n".join((logs.stdout + logs.stderr).splitlines()[-20:]))
        podman("rm", "-f", "-t", "5", name, check=False)


def http_get(url: str, token: str | None = None) -> tuple[int, str]:
    """(status, body) of a GET, with a bearer token when given; an error status is an answer too."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def wait_for(url: str, name: str) -> None:
    """Until `url` answers a success, while container `name` runs; bounded by STARTUP."""
    deadline = time.monotonic() + STARTUP
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5):
                return
        except (urllib.error.URLError, OSError):
            state = podman("inspect", "--format", "{{.State.Status}}", name, check=False).stdout.strip()
            if state != "running":
                logs = podman("logs", name, check=False)
                raise AssertionError(f"container {name} is {state!r}:\n{logs.stdout}{logs.stderr}") from None
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {STARTUP:.0f} s") from None
            time.sleep(0.5)
