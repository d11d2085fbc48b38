"""`functions-framework --target <package>_<function>`: one function per server, at the root, given
exactly the platform's event for what follows its URL, and nothing else; a wrong target or a missing
setting stops the start."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator

import pytest

from gateway import framework, manifest
from tests.api.helpers import assert_problem
from tests.client import Api
from tests.conftest import loopback_address, unique
from tests.framework.conftest import MAILER_SECRET, Served, framework as serve

SAMPLE = ("items_withdraw", "auth_login", "ops_health", "notify_low_stock_mailer")


def test_every_http_function_has_a_target_named_after_it():
    http = [f for f in manifest.load() if f.is_http]
    targets = framework.targets()
    assert sorted(targets.values()) == sorted(f.qualified for f in http)
    assert targets["items_withdraw"] == "items/withdraw"
    assert targets["dashboard_category_breakdown"] == "dashboard/category-breakdown"
    assert targets["notify_low_stock_mailer"] == "notify/low-stock-mailer"


@pytest.fixture(scope="module")
def servers(framework_env: dict[str, str]) -> Iterator[dict[str, Served]]:
    """The sample targets, started side by side."""
    with contextlib.ExitStack() as stack:
        started = {t: stack.enter_context(serve(t, framework_env, wait=False)) for t in SAMPLE}
        for served in started.values():
            served.wait_ready()
        yield started


@pytest.fixture(scope="module")
def people(ims, boss: dict[str, str]) -> dict[str, str]:
    """A manager token and a staff member (email, password, token), made through the ims target."""
    api = Api(ims.url, source=loopback_address())
    signed_in = api.post("/api/v1/auth/login", {"email": boss["email"], "password": boss["password"]})
    boss_token = signed_in.json()["access_token"]
    email = f"{unique('ffone')}@example.com"
    created = api.post("/api/v1/users", {"email": email, "password": "one-pass-12", "full_name": "One",
                                         "role": "staff"}, token=boss_token)
    assert created.status == 201, created.text
    staff_token = api.post("/api/v1/auth/login", {"email": email, "password": "one-pass-12"}).json()["access_token"]
    api.close()
    return {"manager": boss_token, "email": email, "password": "one-pass-12", "staff": staff_token}


@pytest.fixture
def main(ims) -> Iterator[Api]:
    api = Api(ims.url)
    yield api
    api.close()


def _client(served: Served) -> Api:
    return Api(served.url, source=loopback_address())


def test_items_withdraw_alone_withdraws_by_the_path_after_its_url(servers, main, people):
    item = main.post("/api/v1/items", {"name": unique("One"), "sku": unique("ONE"), "quantity": 20},
                     token=people["manager"]).json()
    one = _client(servers["items_withdraw"])
    res = one.post(f"/{item['id']}", {"quantity": 3}, token=people["staff"])
    assert res.status == 200, res.text
    assert res.json()["quantity"] == 17
    assert main.get(f"/api/v1/items/{item['id']}", token=people["staff"]).json()["quantity"] == 17
    # Only withdraw answers here: another function's route is a path this function does not know.
    assert_problem(one.post("/api/v1/items", {"name": "x", "sku": "x"}, token=people["manager"]), 404)
    assert_problem(one.get(f"/{item['id']}", token=people["staff"]), 405)
    assert_problem(one.post(f"/{item['id']}", {"quantity": 3}), 401)
    assert main.get(f"/api/v1/items/{item['id']}", token=people["staff"]).json()["quantity"] == 17
    one.close()


def test_auth_login_alone_signs_in_at_its_root(servers, main, people):
    one = _client(servers["auth_login"])
    res = one.post("/", {"email": people["email"], "password": people["password"]})
    assert res.status == 200, res.text
    token = res.json()["access_token"]
    assert main.get("/api/v1/auth/me", token=token).json()["email"] == people["email"]
    assert_problem(one.post("/", {"email": people["email"], "password": "wrong-password"}), 401)
    assert_problem(one.get("/"), 405)
    one.close()


def test_ops_health_alone_answers_health_and_serves_nothing_else(servers):
    one = _client(servers["ops_health"])
    res = one.get("/")
    assert res.status == 200 and res.json()["status"] == "ok", res.text
    # No documents, no invoke API: the paths go to health, which has no sub-resources.
    assert "request_id" in assert_problem(one.get("/openapi.json"), 404)
    invoke = one.post("/api/v1/namespaces/_/actions/notify/digest?blocking=true", {})
    assert assert_problem(invoke, 405)["detail"] == "Use GET."  # health's own refusal of a POST
    one.close()


def test_the_mailer_alone_wants_its_secret(servers):
    one = _client(servers["notify_low_stock_mailer"])
    assert_problem(one.post("/", {}), 401)
    res = one.post("/", {}, headers={"X-Require-Whisk-Auth": MAILER_SECRET})
    assert res.status == 200 and {"sent", "retry", "failed"} <= res.json().keys(), res.text
    one.close()


def _start_fails(target: str, env: dict[str, str]) -> str:
    with serve(target, env, wait=False) as served:
        try:
            served.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"--target {target} kept running:\n{served.output()}") from None
        assert served.process.returncode != 0
        return served.output()


def test_an_unknown_target_stops_the_start_naming_the_targets(framework_env):
    out = _start_fails("items_nope", framework_env)
    assert "items_nope" in out and "items_withdraw" in out and "'ims'" in out


def test_a_missing_setting_stops_the_start_naming_it(framework_env):
    env = {k: v for k, v in framework_env.items() if k != "JWT_SECRET"}
    env["JWT_SECRET"] = ""
    assert "JWT_SECRET" in _start_fails("ops_health", env)
