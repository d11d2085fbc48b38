"""Low-stock mail end to end: a write crosses the threshold, the gateway's invoke API runs the chained
mailer, a real SMTP server (or the SendGrid-speaking one) receives the mail; failures are recorded,
retried with back-off, and given up on after MAIL_MAX_ATTEMPTS, visibly."""

from __future__ import annotations

import base64
import json
import os
import threading
from typing import Any

import pytest

from shared import db
from tests.client import Api
from tests.api.helpers import withdraw
from tests.conftest import unique
from tests.notify.conftest import wait_until

MAILER = "/api/v1/namespaces/_/actions/notify/low-stock-mailer"


def invoke(api: Api, path: str, params: Any, key: str | None = None, query: str = "?blocking=true&result=true"):
    key = os.environ["__OW_API_KEY"] if key is None else key
    return api.post(path + query, params, headers={"Authorization": "Basic " + base64.b64encode(key.encode()).decode()})


def run_mailer(api: Api, ids: list[int] | None = None) -> dict[str, Any]:
    """What the scheduled trigger (or a chained invoke) does: one blocking run of the mailer."""
    res = invoke(api, MAILER, {} if ids is None else {"alert_ids": ids})
    assert res.status == 200, res.text
    return res.json()


def low_item(api: Api, manager: dict, quantity: int = 12, threshold: int = 10) -> dict:
    location = api.post("/api/v1/locations", {"name": unique("Shelf")}, token=manager["token"]).json()
    res = api.post("/api/v1/items", {"name": unique("Valve"), "sku": unique("VLV"), "quantity": quantity,
                                     "low_stock_threshold": threshold, "unit": "boxes",
                                     "location_id": location["id"]}, token=manager["token"])
    assert res.status == 201, res.text
    return {**res.json(), "location": location["name"]}


def crossing_mail(api: Api, manager: dict, staff: dict, inbox: Any, amount: int = 5) -> tuple[dict, Any]:
    """A fresh item (12 in stock, threshold 10) withdrawn below its threshold: it and the mail it made."""
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], amount)
    [message] = wait_until(lambda: inbox.about(item["name"]), what="the low-stock mail")
    return item, message


def alerts_of(item: dict) -> list[dict[str, Any]]:
    return db.query("SELECT * FROM alerts WHERE item_id = :id ORDER BY id", id=item["id"])


def make_due(alert_id: int) -> None:
    """Let the back-off elapse (the clock moves on, as the next scheduled run would find it)."""
    db.execute("UPDATE alerts SET mail_next_at = now() WHERE id = :id", id=alert_id)


# --- one mail per crossing -----------------------------------------------------------------------

def test_crossing_mails_once_with_every_detail_and_again_after_rearming(api, gateway, manager, staff, smtp):
    inbox, _ = smtp
    item, message = crossing_mail(api, manager, staff, inbox)  # 12 -> 7: below 10, crossing
    assert message["Subject"] == f"Low stock: {item['name']} (7 boxes left)"
    assert "alerts@ims.test" in message["From"]
    assert message["To"] == "boss@example.com"  # the only active manager, ALERT_EMAIL_TO unset
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    for part in (text, html):
        for detail in (item["name"], item["sku"], "7 boxes", "10 boxes", item["location"],
                       f"{gateway}/api/v1/items/{item['id']}"):  # PUBLIC_URL unset: the gateway itself
            assert detail in part, (detail, part)
    wait_until(lambda: alerts_of(item)[0]["mail_status"] == "sent", what="the alert marked sent")
    [alert] = alerts_of(item)
    assert alert["mail_attempts"] == 1 and alert["mail_sent_at"] is not None and alert["mail_last_error"] is None

    withdraw(api, staff["token"], item["id"], 2)  # still low: no new alert, no new mail
    run_mailer(api)
    assert len(alerts_of(item)) == 1 and len(inbox.about(item["name"])) == 1

    back = api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 20}, token=staff["token"]).json()
    assert back["quantity"] == 25 and back["is_low_stock"] is False
    assert alerts_of(item)[0]["resolved_at"] is not None  # re-armed

    withdraw(api, staff["token"], item["id"], 20)  # 25 -> 5: a second crossing, a second mail
    wait_until(lambda: len(inbox.about(item["name"])) == 2, what="the second crossing's mail")
    assert inbox.about(item["name"])[1]["Subject"] == f"Low stock: {item['name']} (5 boxes left)"
    wait_until(lambda: [a["mail_status"] for a in alerts_of(item)] == ["sent", "sent"], what="both sent")


def test_alert_email_to_overrides_the_managers(api, manager, staff, smtp, mail_env):
    inbox, port = smtp
    mail_env(ALERT_EMAIL_TO="stores@ims.test, buyer@ims.test")
    _, message = crossing_mail(api, manager, staff, inbox)
    assert message["To"] == "stores@ims.test, buyer@ims.test"


def test_an_edit_that_lowers_stock_below_threshold_mails_too(api, manager, smtp):
    inbox, _ = smtp
    item = low_item(api, manager, quantity=50)
    res = api.request("PATCH", f"/api/v1/items/{item['id']}", {"low_stock_threshold": 60}, token=manager["token"])
    assert res.status == 200, res.text
    [message] = wait_until(lambda: inbox.about(item["name"]), what="the mail")
    assert "(50 boxes left)" in message["Subject"]


def test_an_item_created_below_its_threshold_is_mailed(api, manager, smtp):
    inbox, _ = smtp
    item = low_item(api, manager, quantity=3)
    [message] = wait_until(lambda: inbox.about(item["name"]), what="the mail")
    assert message["Subject"] == f"Low stock: {item['name']} (3 boxes left)"
    assert item["location"] in message.get_body(("plain",)).get_content()
    wait_until(lambda: alerts_of(item)[0]["mail_status"] == "sent", what="the alert marked sent")


@pytest.mark.parametrize("method, body", [("PUT", {"quantity": 4}), ("PATCH", {"quantity": 4})])
def test_a_put_or_a_staff_count_below_threshold_is_mailed(api, manager, staff, smtp, method, body):
    inbox, _ = smtp
    item = low_item(api, manager, quantity=30)
    if method == "PUT":
        body = {"name": item["name"], "sku": item["sku"], "unit": "boxes", "location_id": item["location_id"],
                "low_stock_threshold": 10, **body}
    res = api.request(method, f"/api/v1/items/{item['id']}", body,
                      token=(manager if method == "PUT" else staff)["token"])
    assert res.status == 200, res.text
    [message] = wait_until(lambda: inbox.about(item["name"]), what="the mail")
    assert "(4 boxes left)" in message["Subject"]


def test_alert_resolved_before_its_mail_went_out_is_skipped_not_mailed(api, manager, staff, smtp, monkeypatch):
    inbox, _ = smtp
    monkeypatch.delenv("__OW_API_HOST")  # no chaining: the alert waits for a scheduled run
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    api.post(f"/api/v1/items/{item['id']}/restock", {"quantity": 10}, token=staff["token"])
    run_mailer(api)
    assert alerts_of(item)[0]["mail_status"] == "skipped"
    assert inbox.about(item["name"]) == []


# --- concurrency ---------------------------------------------------------------------------------

def test_concurrent_mailers_send_each_alert_exactly_once(api, manager, staff, smtp, monkeypatch):
    inbox, _ = smtp
    monkeypatch.delenv("__OW_API_HOST")  # keep the alerts pending, then let 8 mailers race for them
    items = [low_item(api, manager) for _ in range(12)]
    for item in items:
        withdraw(api, staff["token"], item["id"], 5)
    ids = [alerts_of(item)[0]["id"] for item in items]
    start = threading.Barrier(8)
    results: list[dict[str, Any]] = []

    def mailer() -> None:
        local = Api(f"http://{api.host}:{api.port}")
        start.wait()
        results.append(run_mailer(local, ids))
        local.close()

    threads = [threading.Thread(target=mailer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    sent = sorted(i for r in results for i in r["sent"])
    assert sent == sorted(ids)  # every alert by exactly one mailer
    for item in items:
        assert len(inbox.about(item["name"])) == 1, item["name"]
    assert {a["mail_status"] for item in items for a in alerts_of(item)} == {"sent"}


# --- failures, retries, giving up ----------------------------------------------------------------

def test_smtp_down_leaves_the_alert_unsent_and_a_later_run_sends_it_exactly_once(
        api, manager, staff, mail_env, smtp):
    inbox, port = smtp
    from tests.notify.conftest import free_port

    mail_env(SMTP_URL=f"smtp://127.0.0.1:{free_port()}")  # nothing listens there
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    alert = wait_until(lambda: next((a for a in alerts_of(item) if a["mail_attempts"] == 1
                                     and a["mail_status"] == "pending"), None), what="a failed attempt")
    assert "ConnectionRefusedError" in alert["mail_last_error"]
    assert alert["mail_next_at"] > alert["created_at"]  # backed off
    assert run_mailer(api, [alert["id"]])["sent"] == []  # not due yet: no hammering of a dead server

    mail_env(SMTP_URL=f"smtp://127.0.0.1:{port}")  # SMTP is back
    make_due(alert["id"])
    assert alert["id"] in run_mailer(api)["sent"]
    assert alert["id"] not in run_mailer(api)["sent"]
    [message] = inbox.about(item["name"])
    [alert] = alerts_of(item)
    assert (alert["mail_status"], alert["mail_attempts"], alert["mail_last_error"]) == ("sent", 2, None)


def test_attempts_exhausted_marks_the_alert_failed_visible_in_the_api(api, manager, staff, mail_env, monkeypatch):
    from tests.notify.conftest import free_port

    monkeypatch.delenv("__OW_API_HOST")
    mail_env(SMTP_URL=f"smtp://127.0.0.1:{free_port()}", MAIL_MAX_ATTEMPTS="3", MAIL_RETRY_SECONDS="60")
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    [alert] = alerts_of(item)
    for attempt in (1, 2, 3):
        make_due(alert["id"])
        outcome = run_mailer(api, [alert["id"]])
        [alert] = alerts_of(item)
        assert alert["mail_attempts"] == attempt
        if attempt < 3:
            assert outcome["retry"] == [alert["id"]] and alert["mail_status"] == "pending"
            assert db.one("SELECT mail_next_at > now() AS later FROM alerts WHERE id = :id", id=alert["id"])["later"]
        else:
            assert outcome["failed"] == [alert["id"]] and alert["mail_status"] == "failed"
    from shared.services import notify

    assert [notify._delay(n) for n in (1, 2, 3, 12)] == [60, 120, 240, 6 * 3600]  # doubling, capped at 6 h

    make_due(alert["id"])
    assert run_mailer(api, [alert["id"]])["sent"] == []  # given up: no more attempts
    listed = api.get("/api/v1/alerts?mail_status=failed&per_page=100", token=manager["token"]).json()
    [shown] = [a for a in listed["data"] if a["id"] == alert["id"]]
    assert shown["mail_status"] == "failed" and shown["mail_attempts"] == 3
    assert "ConnectionRefusedError" in shown["mail_last_error"] and shown["mail_sent_at"] is None
    assert all(a["mail_status"] == "failed" for a in listed["data"])


def test_the_write_never_waits_for_a_hanging_mail_server(api, manager, staff, hanging_smtp):
    item = low_item(api, manager)
    moved = withdraw(api, staff["token"], item["id"], 5)  # answered while the mailer hangs on SMTP
    assert moved["quantity"] == 7 and moved["is_low_stock"] is True
    # The chained mailer is stuck in the SMTP greeting at this very moment; the write is done.
    wait_until(lambda: alerts_of(item)[0]["mail_status"] == "sending", what="the mailer to be stuck")
    assert api.get(f"/api/v1/items/{item['id']}", token=staff["token"]).json()["quantity"] == 7
    hanging_smtp.set()  # the server goes away: the attempt fails, the alert waits for a retry
    alert = wait_until(lambda: next((a for a in alerts_of(item) if a["mail_status"] == "pending"), None),
                       timeout=20, what="the attempt to fail")
    assert alert["mail_attempts"] == 1 and alert["mail_last_error"]


# --- SendGrid ------------------------------------------------------------------------------------

def test_sendgrid_transport_posts_v3_mail_send(api, manager, staff, sendgrid):
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    request = wait_until(lambda: next((r for r in sendgrid.requests
                                       if item["name"] in r["json"]["subject"]), None), what="the SendGrid call")
    assert request["path"] == "/v3/mail/send"
    assert request["headers"]["authorization"] == "Bearer SG.test-key"
    payload = request["json"]
    assert payload["from"] == {"email": "alerts@ims.test", "name": "IMS"}
    assert payload["personalizations"][0]["to"] == [{"email": "boss@example.com"}]
    content = {c["type"]: c["value"] for c in payload["content"]}
    assert item["sku"] in content["text/plain"] and item["sku"] in content["text/html"]
    wait_until(lambda: alerts_of(item)[0]["mail_status"] == "sent", what="the alert marked sent")


def test_sendgrid_refusal_is_recorded_and_retried(api, manager, staff, sendgrid, monkeypatch):
    monkeypatch.delenv("__OW_API_HOST")
    sendgrid.status = 403
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    [alert] = alerts_of(item)
    assert run_mailer(api, [alert["id"]])["retry"] == [alert["id"]]
    [alert] = alerts_of(item)
    assert alert["mail_status"] == "pending" and alert["mail_last_error"].startswith("SendGrid answered 403")
    sendgrid.status = 202
    make_due(alert["id"])
    assert run_mailer(api, [alert["id"]])["sent"] == [alert["id"]]


# --- the invoke API and webSecure ----------------------------------------------------------------

def test_invoke_api_refuses_a_wrong_or_missing_key(api):
    assert invoke(api, MAILER, {}, key="wrong:key").status == 401
    assert api.post(MAILER + "?blocking=false", {}).status == 401
    refused = invoke(api, MAILER, {}, key=os.environ["__OW_API_KEY"] + "x")
    assert refused.status == 401 and refused.json()["error"] == "The supplied authentication is invalid."


def test_invoke_api_starts_an_activation_and_answers_202_at_once(api, services):
    res = invoke(api, "/api/v1/namespaces/_/actions/ops/relay", {}, query="?blocking=false")
    assert res.status == 202 and len(res.json()["activationId"]) == 32
    blocking = invoke(api, "/api/v1/namespaces/_/actions/ops/relay", {}, query="?blocking=true")
    assert blocking.status == 200
    assert blocking.json()["response"]["success"] is True and "published" in blocking.json()["response"]["result"]


@pytest.mark.parametrize("path, body, status", [
    ("/api/v1/namespaces/_/actions/notify/nope", {}, 404),
    ("/api/v1/namespaces/other/actions/notify/low-stock-mailer", {}, 404),
    (MAILER, [1, 2], 400),
])
def test_invoke_api_refusals(api, path, body, status):
    assert invoke(api, path, body).status == status


def test_mailer_rejects_malformed_alert_ids_as_an_application_error(api):
    res = invoke(api, MAILER, {"alert_ids": ["1"]})
    assert res.status == 502 and "error" in res.json()  # what OpenWhisk answers a blocking invoke


def test_a_mailer_that_died_mid_send_is_retried_after_its_lease_and_counted(api, manager, staff, smtp,
                                                                           mail_env, monkeypatch):
    from shared.services import notify

    inbox, _ = smtp
    monkeypatch.delenv("__OW_API_HOST")
    mail_env(MAIL_MAX_ATTEMPTS="2")
    first, second = low_item(api, manager), low_item(api, manager)
    for item in (first, second):
        withdraw(api, staff["token"], item["id"], 5)
    a, b = alerts_of(first)[0]["id"], alerts_of(second)[0]["id"]
    # Both claimed by mailers that then died: attempt 1 of `a`, attempt 2 (the last) of `b`.
    db.execute("UPDATE alerts SET mail_status = 'sending', mail_attempts = 1, "
               "mail_next_at = now() + interval '5 minutes' WHERE id = :id", id=a)
    db.execute("UPDATE alerts SET mail_status = 'sending', mail_attempts = 2, "
               "mail_next_at = now() - interval '1 second' WHERE id = :id", id=b)
    assert a not in run_mailer(api, [a, b])["sent"]  # a's lease still runs: nobody else sends it
    db.execute("UPDATE alerts SET mail_next_at = now() - interval '1 second' WHERE id = :id", id=a)
    assert run_mailer(api, [a, b])["sent"] == [a]
    [alert_a], [alert_b] = alerts_of(first), alerts_of(second)
    assert (alert_a["mail_status"], alert_a["mail_attempts"]) == ("sent", 2)
    assert alert_b["mail_status"] == "failed" and "stopped while sending" in alert_b["mail_last_error"]
    assert len(inbox.about(first["name"])) == 1 and inbox.about(second["name"]) == []
    # The dead mailer's late word about its attempt 1 changes nothing now.
    db.execute(notify._FAILED.replace("RETURNING mail_status", ""), id=a, attempt=1, error="late",
               max_attempts=2, delay=60)
    assert alerts_of(first)[0]["mail_status"] == "sent"


def test_a_newline_in_an_item_name_still_gets_its_alert_mailed(api, manager, staff, smtp):
    inbox, _ = smtp
    tag = unique("Tape")
    res = api.post("/api/v1/items", {"name": f"{tag}\nBcc: thief@evil.test", "sku": unique("TP"), "quantity": 12,
                                     "low_stock_threshold": 10}, token=manager["token"])
    assert res.status == 201, res.text
    withdraw(api, staff["token"], res.json()["id"], 5)
    [message] = wait_until(lambda: inbox.about(tag), what="the mail")
    assert message["Subject"] == f"Low stock: {tag} Bcc: thief@evil.test (7 pcs left)"
    assert message["Bcc"] is None and [rcpts for _, rcpts in inbox.envelopes if "thief@evil.test" in rcpts] == []


def test_mailer_function_url_requires_the_whisk_secret(api, mail_env, smtp):
    url = "/api/v1/web/local/notify/low-stock-mailer"
    mail_env(MAILER_SECRET="s3cret-for-tests")
    assert api.post(url, {}).status == 401
    assert api.post(url, {}, headers={"X-Require-Whisk-Auth": "wrong"}).status == 401
    ok = api.post(url, {}, headers={"X-Require-Whisk-Auth": "s3cret-for-tests"})
    assert ok.status == 200 and set(ok.json()) == {"sent", "retry", "failed", "transport"}
    bad = api.post(url, {"alert_ids": "all"}, headers={"X-Require-Whisk-Auth": "s3cret-for-tests"})
    assert bad.status == 422
    assert api.get("/api/v1/notify/low-stock-mailer").status == 404  # no REST route: machines only
    mail_env(MAILER_SECRET=None)  # unset: the function refuses HTTP rather than run for anyone
    closed = api.post(url, {}, headers={"X-Require-Whisk-Auth": ""})
    assert closed.status == 503 and json.loads(closed.body)["code"] == "service_unavailable"


def test_the_functions_that_can_raise_an_alert_are_given_the_api_key():
    """On DigitalOcean only functions annotated provide-api-key: true get __OW_API_KEY to chain with."""
    from gateway import manifest

    keyed = {f.qualified for f in manifest.load() if f.annotations.get("provide-api-key") is True}
    assert keyed == {"items/create", "items/withdraw", "items/replace", "items/patch", "items/import"}


# --- no transport, PUBLIC_URL ----------------------------------------------------------------------

def test_without_a_transport_the_mail_is_logged_not_sent(api, manager, staff, mail_env):
    item = low_item(api, manager)
    withdraw(api, staff["token"], item["id"], 5)
    wait_until(lambda: alerts_of(item)[0]["mail_status"] == "logged", what="the alert's mail logged")
    listed = api.get("/api/v1/alerts?mail_status=logged&per_page=100", token=manager["token"])
    assert listed.status == 200, listed.text
    assert item["id"] in {a["item_id"] for a in listed.json()["data"]}
    assert all(a["mail_status"] == "logged" for a in listed.json()["data"])
    sent = api.get("/api/v1/alerts?mail_status=sent&per_page=100", token=manager["token"]).json()["data"]
    assert item["id"] not in {a["item_id"] for a in sent}


def test_public_url_is_the_base_of_the_link_when_set(api, manager, staff, smtp, mail_env):
    inbox, _ = smtp
    mail_env(PUBLIC_URL="https://ims.example.com/")
    item, message = crossing_mail(api, manager, staff, inbox)
    text = message.get_body(("plain",)).get_content()
    assert f"Open it: https://ims.example.com/api/v1/items/{item['id']}" in text


def test_deployed_without_public_url_the_mail_carries_no_link(services):
    """A function process (no local gateway to default to) with PUBLIC_URL unset, as the platform
    passes an unset ${PUBLIC_URL}: the empty string."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    script = ("from shared.services import notify\n"
              "alert = {'item_id': 7, 'name': 'Gloves', 'sku': 'G-1', 'quantity': 1, 'threshold': 5,\n"
              "         'unit': 'pcs', 'location': None}\n"
              "m = notify.alert_message(alert, ('a@example.com',))\n"
              "print(m.text); print(m.html)\n")
    env = {**os.environ, "PUBLIC_URL": ""}
    out = subprocess.run([sys.executable, "-c", script], env=env, cwd=ROOT, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert "Gloves" in out and "G-1" in out
    assert "Open it" not in out and "http" not in out and "<a " not in out
