"""The Knative image (infra/knative/Dockerfile) as a running container: it serves all of IMS from its
CMD on $PORT with a read-only root filesystem, as a user that is not root, against real PostgreSQL
and Redis, and its HEALTHCHECK passes."""

from __future__ import annotations

import json

from tests.client import Api
from tests.infra.conftest import podman

V1 = "/api/v1"


def test_the_documents_the_health_and_the_web_ui_answer(container: dict[str, str]) -> None:
    api = Api(container["url"])
    try:
        docs = api.get("/openapi.json")
        assert docs.status == 200, docs.text
        assert "/items/{id}/withdraw" in docs.json()["paths"]  # relative to the server, /api/v1
        health = api.get(f"{V1}/health")
        assert health.status == 200, health.text
        assert health.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
        shell = api.get("/")  # the image carries ui/ (COPY ui/ ui/)
        assert shell.status == 200 and shell.headers["content-type"] == "text/html; charset=utf-8"
        assert "content-security-policy" in shell.headers
    finally:
        api.close()


def test_a_working_session_through_the_container(container: dict[str, str]) -> None:
    api = Api(container["url"])
    try:
        account = {"email": "infra@example.com", "password": "infra-pass-1", "full_name": "Infra"}
        registered = api.post(f"{V1}/auth/register", account)
        assert registered.status == 201, registered.text
        assert registered.json()["role"] == "manager"  # the first user of the fresh database
        login = api.post(f"{V1}/auth/login", {"email": account["email"], "password": account["password"]})
        assert login.status == 200, login.text
        token = login.json()["access_token"]
        created = api.post(f"{V1}/items", {"name": "Bolt M6", "sku": "INFRA-1", "quantity": 5}, token=token)
        assert created.status == 201, created.text
        item = created.json()
        withdrawn = api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 2}, token=token)
        assert withdrawn.status == 200, withdrawn.text
        assert withdrawn.json()["quantity"] == 3
        again = api.get(f"{V1}/items/{item['id']}", token=token)
        assert again.status == 200 and again.json()["quantity"] == 3, again.text
    finally:
        api.close()


def test_the_healthcheck_passes(container: dict[str, str], image: str) -> None:
    check = json.loads(podman("image", "inspect", image).stdout)[0]["Healthcheck"]
    assert "openapi.json" in " ".join(check["Test"])
    run = podman("healthcheck", "run", container["name"], check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    state = podman("inspect", "--format", "{{.State.Health.Status}}", container["name"]).stdout.strip()
    assert state == "healthy"


def test_it_runs_as_a_user_that_is_not_root_on_a_read_only_root(container: dict[str, str], image: str) -> None:
    config = json.loads(podman("image", "inspect", image).stdout)[0]["Config"]
    assert config["User"] == "65532:65532"
    uid = podman("exec", container["name"], "id", "-u").stdout.strip()
    assert uid == "65532"
    served_by = podman("top", container["name"], "user", "args").stdout
    assert "functions-framework" in served_by and "root" not in served_by, served_by
    inspected = json.loads(podman("inspect", container["name"]).stdout)[0]
    assert inspected["HostConfig"]["ReadonlyRootfs"] is True
    write = podman("exec", container["name"], "python3", "-c", "open('/app/x', 'w')", check=False)
    assert write.returncode != 0 and "Read-only file system" in write.stderr, write.stderr

