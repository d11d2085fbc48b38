"""`functions-framework --target ims`: every function of project.yml through one real
functions-framework server, chaining through its own invoke API, and the schedule's ping path."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any

import pytest

from gateway import manifest
from gateway.routes import Router
from tests.api.helpers import assert_problem
from tests.client import Api, Resp
from tests.conftest import loopback_address, unique, wait_until
from tests.framework.conftest import API_KEY, MAILER_SECRET

V1 = "/api/v1"
FUNCTIONS = [f for f in manifest.load() if f.is_http]
ROUTED = [f for f in FUNCTIONS if f.routed]


def _path(route: str) -> str:
    return V1 + route.replace("{id}", "987654")


def _function_url(function: manifest.Function) -> str:
    suffix = "/987654" if "{id}" in (function.route or "") else ""
    return f"{V1}/web/local/{function.package}/{function.name}{suffix}"


# What each public function answers an anonymous caller who sends an empty JSON object.
_PUBLIC = {"auth/register": 422, "auth/login": 422, "auth/refresh": 422, "ops/health": 200, "ops/metrics": 200}


@pytest.fixture(scope="module")
def client(ims) -> Any:
    api = Api(ims.url, source=loopback_address())
    yield api
    api.close()


def test_the_public_functions_are_the_ones_this_layer_expects():
    assert {f.qualified for f in ROUTED if f.auth == "public"} == set(_PUBLIC)


# Every HTTP function at its function URL, and the routed ones (all but the webSecure mailer) at their route.
_ADDRESSES = [(f, "function URL") for f in FUNCTIONS] + [(f, "route") for f in ROUTED]


@pytest.mark.parametrize(("function", "at"), _ADDRESSES, ids=lambda v: v if isinstance(v, str) else v.qualified)
def test_every_http_function_answers_an_anonymous_call_itself(client, function, at):
    """Staff and manager functions refuse with their own 401, public ones answer; the mailer's
    function URL wants its secret. Each at its REST route and at its function URL."""
    path = _path(function.route) if at == "route" else _function_url(function)
    res = client.request(function.method or "POST", path, {})
    if function.web_secure:
        assert_problem(res, 401)
        assert "X-Require-Whisk-Auth" in res.json()["detail"]
    elif function.auth == "public":
        assert res.status == _PUBLIC[function.qualified], res.text
    else:
        assert_problem(res, 401)
    assert res.headers["x-request-id"]


class Flow:
    """A client that records which function answered each call (by the routes of project.yml)."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.router = Router(FUNCTIONS, "local")
        self.reached: set[str] = set()

    def call(self, method: str, path: str, body: Any = None, status: int = 200, raw: bytes | None = None,
             **kw: Any) -> Resp:
        """`body` goes as JSON, `raw` as it is (with its Content-Type among the headers)."""
        res = self.api.request(method, V1 + path, body, body=raw, **kw)
        assert res.status == status, (method, path, res.status, res.text)
        self.reached.add(self.router.match(method, (V1 + path).partition("?")[0])[0].qualified)
        return res


def test_a_whole_working_day_reaches_every_routed_function_and_chains_the_mailer(ims, client, boss, inbox):
    """Sign-in, users, catalogue, stock movements, ledger, alerts, dashboard, audit, health and
    metrics through the one target; a withdrawal below threshold mails through the same server."""
    received, _ = inbox
    flow = Flow(client)
    login = flow.call("POST", "/auth/login", {"email": boss["email"], "password": boss["password"]}).json()
    token = login["access_token"]
    m = {"token": token}
    assert flow.call("GET", "/auth/me", **m).json()["email"] == boss["email"]
    refreshed = flow.call("POST", "/auth/refresh", {"refresh_token": login["refresh_token"]}).json()
    token = refreshed["access_token"]
    m = {"token": token}

    # People: one self-registered (inactive staff until activated), one created by the manager.
    email = f"{unique('ffself')}@example.com"
    joined = flow.call("POST", "/auth/register", {"email": email, "password": "self-pass-1", "full_name": "Self"},
                       status=201).json()
    assert joined["is_active"] is False
    flow.call("PATCH", f"/users/{joined['id']}", {"is_active": True}, **m)
    staff_email = f"{unique('ffstaff')}@example.com"
    staff = flow.call("POST", "/users", {"email": staff_email, "password": "staff-pass-1", "full_name": "Staff",
                                        "role": "staff"}, status=201, **m).json()
    flow.call("POST", f"/users/{staff['id']}/password", {"temporary_password": "temp-pass-12"}, status=204, **m)
    assert any(u["id"] == staff["id"] for u in flow.call("GET", "/users?per_page=100", **m).json()["data"])
    s_login = flow.call("POST", "/auth/login", {"email": staff_email, "password": "temp-pass-12"}).json()
    flow.call("POST", "/auth/password", {"current_password": "temp-pass-12", "new_password": "staff-pass-2"},
              status=204, token=s_login["access_token"])
    s_login = flow.call("POST", "/auth/login", {"email": staff_email, "password": "staff-pass-2"}).json()
    s = {"token": s_login["access_token"]}

    # Catalogue.
    category = flow.call("POST", "/categories", {"name": unique("FF cat")}, status=201, **m).json()
    flow.call("PUT", f"/categories/{category['id']}", {"name": unique("FF cat2")}, **m)
    assert flow.call("GET", "/categories?per_page=100", **s).json()["total"] >= 1
    location = flow.call("POST", "/locations", {"name": unique("FF loc")}, status=201, **m).json()
    flow.call("PUT", f"/locations/{location['id']}", {"name": unique("FF loc2")}, **m)
    assert flow.call("GET", "/locations?per_page=100", **s).json()["total"] >= 1
    sku = unique("FFSKU")
    item = flow.call("POST", "/items", {"name": unique("FF item"), "sku": sku, "quantity": 14,
                                        "low_stock_threshold": 10, "category_id": category["id"],
                                        "location_id": location["id"], "price": "3.50"}, status=201, **m).json()
    replaced = flow.call("PUT", f"/items/{item['id']}", {"name": item["name"], "sku": sku, "quantity": 14,
                                                         "unit": "pcs", "price": "4.00", "low_stock_threshold": 10,
                                                         "category_id": category["id"],
                                                         "location_id": location["id"], "description": "ff"},
                         **m).json()
    assert replaced["price"] == "4.00"
    flow.call("PATCH", f"/items/{item['id']}", {"quantity": 15}, **s)  # a staff count
    assert flow.call("GET", f"/items/{item['id']}", **s).json()["quantity"] == 15
    assert [i["id"] for i in flow.call("GET", f"/items?sku={sku}", **s).json()["data"]] == [item["id"]]
    exported = flow.call("GET", f"/items/export?sku={sku}", **s).body  # CSV out, and back in: nothing changes
    assert exported.decode().splitlines()[1].startswith(f"{sku},")
    again = flow.call("POST", "/items/import", raw=exported, headers={"Content-Type": "text/csv"}, **m).json()
    assert [r["action"] for r in again["results"]] == ["unchanged"]

    # Stock movements: down across the threshold (an alert, chained mail), back up.
    flow.call("POST", f"/items/{item['id']}/restock", {"quantity": 1}, **s)
    after = flow.call("POST", f"/items/{item['id']}/withdraw", {"quantity": 8}, **s).json()
    assert after["quantity"] == 8 and after["is_low_stock"] is True
    mails = wait_until(lambda: received.about(item["name"]), timeout=20, what="the chained low-stock mail")
    assert str(mails[0]["Subject"]).startswith("Low stock") and sku in mails[0].get_body(("plain",)).get_content()
    assert [a for a in flow.call("GET", "/alerts?acknowledged=false&per_page=100", **m).json()["data"]
            if a["item_id"] == item["id"]]
    alert = next(a for a in flow.call("GET", "/alerts?per_page=100", **m).json()["data"] if a["item_id"] == item["id"])
    assert flow.call("PATCH", f"/alerts/{alert['id']}/acknowledge", **m).json()["acknowledged"] is True

    # Ledger, audit, dashboard.
    actions = [e["action"] for e in flow.call("GET", f"/logs/item/{item['id']}", **s).json()["data"]]
    assert {"create", "update", "count", "restock", "withdraw"} <= set(actions)
    assert flow.call("GET", f"/logs?item_id={item['id']}", **m).json()["total"] == len(actions)
    assert flow.call("GET", "/audit", **m).json()["total"] >= 1
    assert flow.call("GET", "/dashboard/summary", **s).json()["low_stock_count"] >= 1
    assert any(row["category_id"] == category["id"]
               for row in flow.call("GET", "/dashboard/category-breakdown", **s).json())
    assert flow.call("GET", "/dashboard/movements?days=7", **s).json()["data"][-1]["movements"] >= 2
    assert flow.call("GET", f"/items/{item['id']}/label", **s).headers["content-type"] == "image/svg+xml; charset=utf-8"
    assert flow.call("GET", "/system/status", **m).json()["checks"]["database"]["ok"] is True
    assert flow.call("GET", "/health").json()["status"] == "ok"
    assert b"# TYPE" in flow.call("GET", "/metrics").body

    # Removals and sign-out.
    flow.call("DELETE", f"/items/{item['id']}", status=204, **m)
    flow.call("DELETE", f"/categories/{category['id']}", status=204, **m)
    flow.call("DELETE", f"/locations/{location['id']}", status=204, **m)
    flow.call("POST", "/auth/logout", {"refresh_token": refreshed["refresh_token"]}, status=204, **m)
    assert_problem(client.get(V1 + "/auth/me", token=token), 401)

    assert flow.reached == {f.qualified for f in ROUTED}


def test_the_mailer_function_url_the_documents_and_the_web_ui_are_served(client, inbox):
    res = client.post(f"{V1}/web/local/notify/low-stock-mailer", {}, headers={"X-Require-Whisk-Auth": MAILER_SECRET})
    assert res.status == 200, res.text
    assert {"sent", "retry", "failed"} <= res.json().keys()
    spec = client.get("/openapi.json")
    assert spec.status == 200 and "/items/{id}/withdraw" in spec.json()["paths"]
    assert_problem(client.get("/nowhere"), 404)
    shell = client.get("/")  # the web UI, as the self-hosted front serves it (gateway.ui)
    assert shell.status == 200 and shell.headers["content-type"] == "text/html; charset=utf-8"
    assert shell.headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")
    assert client.get("/config.json").json()["api_base"] == "/api/v1"


def test_the_docs_and_swagger_uis_files_are_served(client):
    """/docs offline on Knative too: the page, its initialiser and Swagger UI's files from the image."""
    page = client.get("/docs")
    assert page.status == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for path, kind in (("/docs/init.js", "text/javascript"), ("/docs/swagger-ui-bundle.js", "text/javascript"),
                       ("/docs/swagger-ui.css", "text/css")):
        assert path in page.text
        res = client.get(path)
        assert res.status == 200 and res.headers["content-type"].startswith(kind) and res.body, path


def _basic(key: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(key.encode()).decode()}


def test_the_digest_runs_through_the_invoke_api_as_cloud_scheduler_would_call_it(client, boss, inbox):
    """A scheduler holding the API key invokes notify/digest and waits for it; the digest is mailed."""
    received, _ = inbox
    signed_in = client.post(f"{V1}/auth/login", {"email": boss["email"], "password": boss["password"]})
    token = signed_in.json()["access_token"]
    sku = unique("FFDIG")
    low = client.post(f"{V1}/items", {"name": unique("FF low"), "sku": sku, "quantity": 1, "low_stock_threshold": 5},
                      token=token)
    assert low.status == 201, low.text
    path = f"{V1}/namespaces/_/actions/notify/digest?blocking=true&result=true"
    assert client.post(path, {}, headers=_basic("someone:else")).status == 401
    res = client.post(path, {}, headers=_basic(API_KEY))
    assert res.status == 200, res.text
    digests = [m for m in received.messages if str(m["Subject"]).startswith("IMS digest")]
    assert any(sku in m.get_body(("plain",)).get_content() for m in digests)  # type: ignore[union-attr]


def test_a_ping_fires_the_relay_once_per_scheduled_minute(client):
    """What a PingSource sends (a POST of the trigger's body, no key) runs ops/relay; a second ping
    for the same minute (a retried delivery) does not run it again."""
    path = f"{V1}/namespaces/_/triggers/relay-every-minute"
    first = client.post(path, {}, headers={"Ce-Type": "dev.knative.sources.ping", "Ce-Source": "test"})
    assert first.status == 200, first.text
    assert first.json()["fired"] is True and first.json()["success"] is True
    # an open path: it says what fired, never what the function returned
    assert set(first.json()) == {"trigger", "scheduled_at", "fired", "activationId", "success"}
    second = client.post(path, {})
    assert second.status == 200, second.text
    same_minute = second.json()["scheduled_at"] == first.json()["scheduled_at"]
    assert second.json()["fired"] is (not same_minute)
    assert dt.datetime.fromisoformat(first.json()["scheduled_at"]).second == 0
    assert client.get(path).status == 405
    assert client.post(f"{V1}/namespaces/_/triggers/no-such-trigger", {}).status == 404
