"""Fly.io multi-region through real HTTP (gateway.fly): a gateway in a region other than the primary
answers writes with `409` and `fly-replay: region=<primary>` before any function runs, serves reads
itself, and replays the reads of a client that just wrote; the primary marks those clients with a cookie.
Each app here is a real App on the test database, in the environment FLY_REGION / PRIMARY_REGION give it."""

from __future__ import annotations

import importlib.util
import time
import tomllib
from contextlib import ExitStack
from collections.abc import Callable, Iterator

import pytest

from gateway import fly, platform_event
from gateway.app import make_app
from shared import db, settings
from shared.http import handler
from tests.api.helpers import V1
from tests.client import Api
from tests.conftest import ROOT, settings_env, unique
from tests.front import in_process

PRIMARY, REPLICA = "iad", "ams"


@pytest.fixture
def region(gateway: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    """region(FLY_REGION=..., PRIMARY_REGION=...): a client of a gateway started in that environment
    (None leaves a variable unset). `gateway`: the session's, which the functions' chaining calls."""
    with ExitStack() as stack:
        def start(**env: str | None) -> Api:
            for name, value in env.items():
                if value is None:
                    monkeypatch.delenv(name, raising=False)
                else:
                    monkeypatch.setenv(name, value)
            app = make_app()
            stack.callback(app.activations.shutdown)
            client = Api(stack.enter_context(in_process(app)))
            stack.callback(client.close)
            return client

        yield start


def _replay(res) -> dict[str, str]:
    """The fields of the answer's fly-replay header ({} when it has none)."""
    fields = [part.partition("=") for part in res.headers.get("fly-replay", "").split(";") if part]
    return {name.strip(): value.strip() for name, _, value in fields}


def _count(name: str) -> int:
    return int(db.one("SELECT count(*) AS n FROM items WHERE name = :name", name=name)["n"])


def _body() -> dict:
    return {"name": unique("Fly"), "sku": unique("SKU"), "quantity": 5}


def test_a_write_outside_the_primary_region_is_replayed_before_any_work(region, manager):
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    body = _body()
    res = replica.post(f"{V1}/items", body, token=manager["token"])
    assert res.status == 409, res.text
    assert _replay(res) == {"region": PRIMARY, "state": "write"}
    assert res.headers["content-type"] == "application/problem+json"
    assert _count(body["name"]) == 0
    # No function ran: not even the refusals it would have made (no token, a body it cannot parse).
    assert _replay(replica.post(f"{V1}/items", body=b"{not json", headers={"Content-Type": "application/json"}))
    primary = region(FLY_REGION=PRIMARY, PRIMARY_REGION=PRIMARY)
    assert primary.post(f"{V1}/items", body, token=manager["token"]).status == 201  # where the proxy replays it
    assert _count(body["name"]) == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_every_writing_method_is_replayed(region, manager, item, method):
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    res = replica.request(method, f"{V1}/items/{item['id']}", {"name": unique("Renamed")}, token=manager["token"])
    assert res.status == 409 and _replay(res)["region"] == PRIMARY
    after = db.one("SELECT name, version FROM items WHERE id = :id", id=item["id"])
    assert after == {"name": item["name"], "version": item["version"]}  # still there, unchanged


def test_reads_are_served_in_the_replica_region(region, manager, item):
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    res = replica.get(f"{V1}/items/{item['id']}", token=manager["token"])
    assert res.status == 200 and res.json()["name"] == item["name"]
    assert "fly-replay" not in res.headers and "set-cookie" not in res.headers


def test_a_write_in_the_primary_region_marks_the_client_for_a_few_seconds(region, manager):
    primary = region(FLY_REGION=PRIMARY, PRIMARY_REGION=PRIMARY, IMS_FLY_STICKY_SECONDS="7")
    before = time.time()
    res = primary.post(f"{V1}/items", _body(), token=manager["token"])
    assert res.status == 201, res.text
    assert "fly-replay" not in res.headers
    cookie, *attributes = [part.strip() for part in res.headers["set-cookie"].split(";")]
    name, _, until = cookie.partition("=")
    assert name == fly.COOKIE and before + 7 <= int(until) <= time.time() + 8
    assert set(attributes) == {"Max-Age=7", "Path=/", "HttpOnly", "Secure", "SameSite=Lax"}
    # A refused write and a read leave the client where it is.
    assert "set-cookie" not in primary.post(f"{V1}/items", {"name": ""}, token=manager["token"]).headers
    assert "set-cookie" not in primary.get(f"{V1}/items?per_page=1", token=manager["token"]).headers


def test_a_client_that_just_wrote_reads_from_the_primary(region, manager, item):
    primary = region(FLY_REGION=PRIMARY, PRIMARY_REGION=PRIMARY)
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    wrote = primary.post(f"{V1}/items", _body(), token=manager["token"])
    cookie = wrote.headers["set-cookie"].split(";")[0]
    res = replica.get(f"{V1}/items/{item['id']}", token=manager["token"], headers={"Cookie": f"a=1; {cookie}"})
    assert res.status == 409 and _replay(res) == {"region": PRIMARY, "state": "read_own_write"}
    # The same read in the primary region is answered there, cookie or not.
    assert primary.get(f"{V1}/items/{item['id']}", token=manager["token"], headers={"Cookie": cookie}).status == 200


def test_an_expired_or_foreign_cookie_does_not_replay(region, manager, item):
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    for cookie in (f"{fly.COOKIE}={int(time.time()) - 1}", f"{fly.COOKIE}=soon", f"other={int(time.time()) + 60}"):
        res = replica.get(f"{V1}/items/{item['id']}", token=manager["token"], headers={"Cookie": cookie})
        assert res.status == 200 and "fly-replay" not in res.headers, cookie


def test_a_preflight_is_answered_in_the_replica_region(region):
    replica = region(FLY_REGION=REPLICA, PRIMARY_REGION=PRIMARY)
    res = replica.request("OPTIONS", f"{V1}/items", headers={
        "Origin": "https://ui.example.com", "Access-Control-Request-Method": "POST",
        "Cookie": f"{fly.COOKIE}={int(time.time()) + 60}"})
    assert res.status == 204 and "fly-replay" not in res.headers


@pytest.mark.parametrize("env", [{"FLY_REGION": None, "PRIMARY_REGION": PRIMARY},
                                 {"FLY_REGION": REPLICA, "PRIMARY_REGION": None}])
def test_off_fly_nothing_changes(region, manager, env):
    front = region(**env)
    body = _body()
    res = front.post(f"{V1}/items", body, token=manager["token"])
    assert res.status == 201, res.text
    assert "fly-replay" not in res.headers and "set-cookie" not in res.headers
    assert _count(body["name"]) == 1


def test_the_regions_come_from_the_environment():
    assert fly.Regions.from_env({}) is None
    assert fly.Regions.from_env({"FLY_REGION": "ams"}) is None
    assert fly.Regions.from_env({"PRIMARY_REGION": "iad"}) is None
    regions = fly.Regions.from_env({"FLY_REGION": "ams", "PRIMARY_REGION": "iad"})
    assert regions == fly.Regions("ams", "iad", 5) and not regions.is_primary
    assert fly.Regions.from_env({"FLY_REGION": "iad", "PRIMARY_REGION": "iad", "IMS_FLY_STICKY_SECONDS": "0"}) \
        == fly.Regions("iad", "iad", 0)
    with pytest.raises(ValueError, match="IMS_FLY_STICKY_SECONDS"):
        fly.Regions.from_env({"FLY_REGION": "ams", "PRIMARY_REGION": "iad", "IMS_FLY_STICKY_SECONDS": "soon"})


def test_no_cookie_when_sticky_is_zero():
    regions = fly.Regions("iad", "iad", 0)
    assert regions.after("POST", 201, [], b"{}") is None


# --- a write the read replica refused ------------------------------------------------------------

@handler("GET", auth="public")
def writes_behind_a_read(req):
    """A read that writes, on a database that refuses writes as a read replica does."""
    with db.transaction() as conn:
        conn.execute("SET TRANSACTION READ ONLY")
        conn.execute("UPDATE items SET name = name WHERE id = -1")


def test_a_write_the_replica_refused_is_replayed(services):
    event = platform_event.build_event("GET", "", "", {"x-request-id": "ro-1"}, b"")
    status, headers, payload = platform_event.to_http(writes_behind_a_read(event), "ro-1")
    assert status == 503 and fly._code(payload) == fly.READ_ONLY_CODE  # what any region answers on its own
    replayed = fly.Regions(REPLICA, PRIMARY).after("GET", status, headers, payload)
    assert replayed is not None and replayed[0] == 409
    assert dict(replayed[1])["fly-replay"] == f"region={PRIMARY};state=captured_write"
    assert fly.Regions(PRIMARY, PRIMARY).after("GET", status, headers, payload) is None  # the primary's own 503


# --- the region's read replica -------------------------------------------------------------------

REPLICA_URL = "postgresql://ims@top1.nearest.of.ims-db.internal:5433/ims"


@pytest.mark.parametrize(("env", "replica"), [
    ({"FLY_REGION": REPLICA, "PRIMARY_REGION": PRIMARY, "DATABASE_REPLICA_URL": REPLICA_URL}, True),
    ({"FLY_REGION": PRIMARY, "PRIMARY_REGION": PRIMARY, "DATABASE_REPLICA_URL": REPLICA_URL}, False),
    ({"FLY_REGION": None, "PRIMARY_REGION": PRIMARY, "DATABASE_REPLICA_URL": REPLICA_URL}, False),
    ({"FLY_REGION": REPLICA, "PRIMARY_REGION": PRIMARY, "DATABASE_REPLICA_URL": None}, False),
])
def test_the_functions_read_the_replica_outside_the_primary_region(services, env, replica):
    with settings_env(**env):
        assert settings.get().database_url == (REPLICA_URL if replica else services["DATABASE_URL"])


# --- infra/fly: the apps' configuration (flyctl is not here; the files are read as Fly reads TOML) ---

FLY = ROOT / "infra" / "fly"


def _config(name: str) -> dict:
    with open(FLY / f"{name}.toml", "rb") as f:
        return tomllib.load(f)


@pytest.mark.parametrize(("name", "port_setting", "health"), [("api", "IMS_PORT", "/api/v1/health"),
                                                               ("realtime", "IMS_WS_PORT", "/healthz")])
def test_each_app_runs_in_the_primary_region_the_gateway_is_told(name, port_setting, health):
    config = _config(name)
    env, service = config["env"], config["http_service"]
    assert config["primary_region"] == env["PRIMARY_REGION"] == PRIMARY
    # flyctl resolves the Dockerfile relative to the fly.toml's folder (the build context is the repository root)
    assert (FLY / config["build"]["dockerfile"]).resolve() == ROOT / "infra" / "images" / f"{name}.Dockerfile"
    assert config["kill_signal"] == "SIGTERM"  # what both servers drain on
    assert service["internal_port"] == int(env[port_setting])
    assert env.get("IMS_HOST", env.get("IMS_WS_HOST")) == "0.0.0.0"
    assert service["force_https"] is True and service["min_machines_running"] >= 1
    assert service["concurrency"]["soft_limit"] <= service["concurrency"]["hard_limit"]
    assert [(c["method"], c["path"]) for c in service["checks"]] == [("GET", health)]


def test_the_api_migrates_before_it_deploys_and_answers_its_health_check(api):
    config = _config("api")
    command = config["deploy"]["release_command"].split()
    assert command[:2] == ["python", "-m"] and importlib.util.find_spec(command[2]) is not None
    assert command[2] == "shared.migrate"
    assert api.get(config["http_service"]["checks"][0]["path"]).status == 200
    assert int(config["env"]["IMS_FLY_STICKY_SECONDS"]) > 0


def test_fly_waits_for_the_api_to_drain_before_killing_it():
    """kill_timeout outlasts IMS_GRACEFUL_TIMEOUT (30 s by default), so requests in flight finish."""
    timeout = _config("api")["kill_timeout"]
    assert timeout.endswith("s") and int(timeout[:-1]) > 30


def test_the_live_feed_keeps_its_sockets():
    service = _config("realtime")["http_service"]
    assert service["auto_stop_machines"] == "off"  # a stopped Machine would drop its clients
    assert service["concurrency"]["type"] == "connections"
