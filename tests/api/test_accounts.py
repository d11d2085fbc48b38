"""Accounts: the race-free login throttle and its buckets, the client address, password change and
reset, sessions that end their access tokens, JWT_SECRET rotation, the audit trail, the first-user
rule and `make create-manager` (as a subprocess, against a database of its own)."""

from __future__ import annotations

import base64
import datetime as dt
import os
import subprocess
import sys
import threading
from collections import Counter
from typing import Any, Iterator

import jwt
import pytest

from shared import db, settings
from tests.api.helpers import V1, assert_problem, assert_validation, login
from tests.client import Api
from tests.conftest import (JWT_SECRET, ROOT, loopback_address, make_user, run_threads, settings_env, unique,
                            wait_until)

WRONG = "wrong-password"


def attempt(api: Api, email: str, password: str = WRONG, **kw: Any):
    return api.post(f"{V1}/auth/login", {"email": email, "password": password}, **kw)


def audit(api: Api, manager: dict, **filters: Any) -> list[dict]:
    query = "&".join(f"{k}={v}" for k, v in {"per_page": 100, **filters}.items())
    res = api.get(f"{V1}/audit?{query}", token=manager["token"])
    assert res.status == 200, res.text
    return res.json()["data"]


# --- the throttle: counted before the check, atomically -----------------------------------------

def test_forty_parallel_wrong_passwords_reach_bcrypt_only_up_to_the_limit(api, manager, client_from):
    user = make_user(api, manager)
    attacker = client_from()
    statuses = Counter(r.status for r in run_threads(40, lambda i: [attempt(attacker, user["email"])]))
    assert statuses == {401: 5, 429: 35}
    # what reached bcrypt is what failed there; everything else was refused before it
    uid = user["user"]["id"]
    assert len(audit(api, manager, action="login_failed", user_id=uid)) == 5
    [throttled] = audit(api, manager, action="login_throttled", user_id=uid)  # the window's first refusal
    assert throttled["address"] == attacker.source[0]
    assert throttled["email"] == user["email"] and throttled["details"]["buckets"] == ["pair"]


def test_the_right_password_in_a_burst_of_wrong_ones_is_refused(api, manager, client_from):
    user = make_user(api, manager)
    attacker = client_from()
    bucket = f"pair:{user['email']} {attacker.source[0]}"

    def one(i: int) -> list[Any]:
        if i < 39:
            return [attempt(attacker, user["email"])]
        # the right one goes while the burst is in flight, once five attempts have been counted
        wait_until(lambda: (db.one("SELECT attempts FROM login_attempts WHERE bucket = :b", b=bucket)
                            or {"attempts": 0})["attempts"] >= 5, what="five counted attempts")
        return [attempt(attacker, user["email"], user["password"])]

    results = run_threads(40, one)
    assert_problem(results[39], 429)
    assert Counter(r.status for r in results[:39]) == {401: 5, 429: 34}


def test_a_throttled_address_does_not_lock_the_owner_out(api, manager, client_from):
    user = make_user(api, manager)
    attacker, owner = client_from(), client_from()
    for _ in range(5):
        assert_problem(attempt(attacker, user["email"]), 401)
    res = attempt(attacker, user["email"], user["password"])
    body = assert_problem(res, 429)
    assert int(res.headers["retry-after"]) == body["retry_after"] > 0
    assert attempt(owner, user["email"], user["password"]).status == 200


def test_a_right_password_starts_the_account_and_address_bucket_over(api, manager, client_from):
    user = make_user(api, manager)
    client = client_from()
    for _ in range(4):
        assert_problem(attempt(client, user["email"]), 401)
    assert attempt(client, user["email"], user["password"]).status == 200
    for _ in range(5):
        assert_problem(attempt(client, user["email"]), 401)
    assert_problem(attempt(client, user["email"]), 429)


def test_one_address_is_limited_across_accounts(api, manager, client_from):
    user = make_user(api, manager)
    client, elsewhere = client_from(), client_from()
    with settings_env(LOGIN_LIMIT_PER_ADDRESS="3"):
        for _ in range(3):
            assert_problem(attempt(client, f"{unique('spray')}@example.com"), 401)
        res = attempt(client, user["email"], user["password"])
        assert_problem(res, 429)
        assert attempt(elsewhere, user["email"], user["password"]).status == 200
    throttled = audit(api, manager, action="login_throttled", user_id=user["user"]["id"])
    assert throttled[0]["details"]["buckets"] == ["addr"] and throttled[0]["address"] == client.source[0]


def test_the_account_ceiling_counts_only_what_the_address_limits_let_through(api, manager, client_from):
    user = make_user(api, manager)
    with settings_env(LOGIN_LIMIT_PER_ACCOUNT="7"):
        attacker = client_from()
        for _ in range(5):
            assert_problem(attempt(attacker, user["email"]), 401)
        for _ in range(10):  # refused by the (account, address) limit: not spent from the account's
            assert_problem(attempt(attacker, user["email"]), 429)
        assert attempt(client_from(), user["email"], user["password"]).status == 200  # 5 of 7 spent
        # from many addresses the ceiling does hold
        for _ in range(2):
            assert_problem(attempt(client_from(), user["email"]), 401)
        res = attempt(client_from(), user["email"], user["password"])
        assert_problem(res, 429)
    throttled = audit(api, manager, action="login_throttled", user_id=user["user"]["id"])
    assert throttled[0]["details"]["buckets"] == ["acct"]


def test_a_login_waits_for_a_free_bcrypt_slot(manager, client_from):
    """The gateway's functions run in this process: take every bcrypt slot, and a login queues."""
    from shared import auth

    slots, size = auth._bcrypt_slots(), settings.get().bcrypt_concurrency
    client, email = client_from(), f"{unique('queued')}@example.com"
    bucket = f"pair:{email} {client.source[0]}"
    result: dict[str, Any] = {}
    for _ in range(size):
        slots.acquire()
    try:
        waiting = threading.Thread(target=lambda: result.setdefault("res", attempt(client, email)))
        waiting.start()
        wait_until(lambda: db.one("SELECT 1 AS n FROM login_attempts WHERE bucket = :b", b=bucket),
                   what="the attempt to be counted")
        waiting.join(1.0)  # a check takes ~0.25 s; this one cannot start while the slots are held
        assert waiting.is_alive() and "res" not in result
    finally:
        for _ in range(size):
            slots.release()
    waiting.join(30)
    assert_problem(result["res"], 401)



class _Busy:
    """bcrypt slots that are all taken, with the wait queue full: what the front answers 503 to."""

    def __enter__(self) -> None:
        from shared import errors

        raise errors.ServiceUnavailable("busy", code="busy", headers={"Retry-After": "1"})

    def __exit__(self, *exc: object) -> None:
        pass


def test_a_sign_in_refused_as_busy_is_not_counted_against_anyone(api, manager, client_from):
    """Far more 503 busy answers than the throttle allows, then the right password still signs in."""
    from shared import auth

    user = make_user(api, manager)
    client = client_from()
    buckets = [f"pair:{user['email']} {client.source[0]}", f"addr:{client.source[0]}", f"acct:{user['email']}"]
    before = {r["bucket"]: r["attempts"] for r in db.query(
        "SELECT bucket, attempts FROM login_attempts WHERE bucket = ANY(:b)", b=buckets)}
    normal = auth._bcrypt_slots()
    auth.share_bcrypt_slots(_Busy())
    try:
        for _ in range(settings.get().login_limit_pair + 3):
            res = attempt(client, user["email"], user["password"])
            assert_problem(res, 503)
            assert res.json()["code"] == "busy" and res.headers["retry-after"] == "1"
    finally:
        auth.share_bcrypt_slots(normal)
    after = {r["bucket"]: r["attempts"] for r in db.query(
        "SELECT bucket, attempts FROM login_attempts WHERE bucket = ANY(:b)", b=buckets)}
    assert {b: after.get(b, 0) for b in buckets} == {b: before.get(b, 0) for b in buckets}
    assert attempt(client, user["email"], user["password"]).status == 200

# --- the client address -------------------------------------------------------------------------

def test_a_spoofed_forwarded_for_is_ignored_by_default(api, manager, client_from):
    user = make_user(api, manager)
    client = client_from()
    for n in range(5):
        assert_problem(attempt(client, user["email"], headers={"X-Forwarded-For": f"10.9.9.{n}"}), 401)
    assert_problem(attempt(client, user["email"], headers={"X-Forwarded-For": "10.9.9.99"}), 429)
    failed = audit(api, manager, action="login_failed", user_id=user["user"]["id"])
    assert {f["address"] for f in failed} == {client.source[0]}


@pytest.fixture
def proxied_gateway(services) -> Iterator[str]:
    """A second gateway that trusts one proxy in front of it (IMS_TRUST_PROXY=1)."""
    from gateway.app import make_app
    from tests.front import in_process

    with in_process(make_app(trusted_proxies=1)) as url:
        yield url


def test_behind_a_trusted_proxy_the_address_it_appended_is_the_client(api, manager, client_from,
                                                                      proxied_gateway):
    user = make_user(api, manager)
    proxy = client_from(proxied_gateway)  # one address: the proxy, forwarding for many clients
    a, b = loopback_address(), loopback_address()
    for _ in range(5):  # the first entry is what the client claimed; the last is what the proxy saw
        assert_problem(attempt(proxy, user["email"], headers={"X-Forwarded-For": f"6.6.6.6, {a}"}), 401)
    assert_problem(attempt(proxy, user["email"], headers={"X-Forwarded-For": a}), 429)
    assert attempt(proxy, user["email"], user["password"], headers={"X-Forwarded-For": b}).status == 200
    failed = audit(api, manager, action="login_failed", user_id=user["user"]["id"])
    assert {f["address"] for f in failed} == {a}


def test_trust_proxy_setting_is_read_from_the_environment():
    from gateway.app import trusted_proxy_hops

    assert [trusted_proxy_hops(v) for v in ("", "false", "true", "2")] == [0, 0, 1, 2]
    with pytest.raises(ValueError):
        trusted_proxy_hops("sometimes")


# --- changing one's password --------------------------------------------------------------------

def test_changing_the_password_ends_the_other_sessions_and_keeps_this_one(api, manager, client_from):
    user = make_user(api, manager)
    this, other = user, login(api, user["email"], user["password"])
    res = api.post(f"{V1}/auth/password", {"current_password": user["password"], "new_password": "brand-new-pass"},
                   token=this["token"])
    assert res.status == 204 and res.body == b""
    assert api.get(f"{V1}/auth/me", token=this["token"]).status == 200
    assert api.post(f"{V1}/auth/refresh", {"refresh_token": this["refresh"]}).status == 200
    assert_problem(api.get(f"{V1}/auth/me", token=other["access_token"]), 401, "session_ended")
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": other["refresh_token"]}), 401)
    assert_problem(attempt(client_from(), user["email"], user["password"]), 401)
    assert login(api, user["email"], "brand-new-pass")["user"]["id"] == user["user"]["id"]
    changed = audit(api, manager, action="password_changed", user_id=user["user"]["id"])
    assert len(changed) == 1 and changed[0]["actor_id"] == user["user"]["id"]
    assert changed[0]["details"]["sessions_ended"] == 1  # the other login's


def test_a_wrong_current_password_is_403_and_audited(api, manager):
    user = make_user(api, manager)
    res = api.post(f"{V1}/auth/password", {"current_password": "not-it-at-all", "new_password": "brand-new-pass"},
                   token=user["token"])
    assert_problem(res, 403, "wrong_password")
    assert api.get(f"{V1}/auth/me", token=user["token"]).status == 200  # the session is unharmed
    failed = audit(api, manager, action="password_change_failed", user_id=user["user"]["id"])
    assert len(failed) == 1 and failed[0]["actor_id"] == user["user"]["id"] and failed[0]["address"]


def test_guessing_the_current_password_is_throttled_like_a_login(api, manager, client_from):
    user = make_user(api, manager)
    client = client_from()
    body = {"current_password": "not-it-at-all", "new_password": "brand-new-pass"}
    for _ in range(5):
        assert_problem(client.post(f"{V1}/auth/password", body, token=user["token"]), 403)
    res = client.post(f"{V1}/auth/password", {**body, "current_password": user["password"]}, token=user["token"])
    assert_problem(res, 429)
    assert int(res.headers["retry-after"]) > 0


def test_the_new_password_must_differ_and_be_long_enough(api, manager):
    user = make_user(api, manager)
    same = api.post(f"{V1}/auth/password", {"current_password": user["password"], "new_password": user["password"]},
                    token=user["token"])
    errors = [(e["loc"], e["type"]) for e in assert_validation(same)]
    assert errors == [(["body", "new_password"], "password_unchanged")]
    short = api.post(f"{V1}/auth/password", {"current_password": user["password"], "new_password": "short"},
                     token=user["token"])
    assert assert_validation(short)[0]["loc"] == ["body", "new_password"]


# --- a manager's reset --------------------------------------------------------------------------

def test_a_reset_ends_the_sessions_and_forces_a_change_at_the_next_sign_in(api, manager, item):
    user = make_user(api, manager)
    uid = user["user"]["id"]
    res = api.post(f"{V1}/users/{uid}/password", {"temporary_password": "temporary-pass-1"}, token=manager["token"])
    assert res.status == 204
    assert_problem(api.get(f"{V1}/auth/me", token=user["token"]), 401, "session_ended")
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": user["refresh"]}), 401)

    pair = login(api, user["email"], "temporary-pass-1")
    assert pair["password_change_required"] is True
    token = pair["access_token"]
    for res in (api.get(f"{V1}/items", token=token), api.get(f"{V1}/items/{item['id']}", token=token),
                api.post(f"{V1}/items/{item['id']}/withdraw", {"quantity": 1}, token=token)):
        assert_problem(res, 403, "password_change_required")
    assert api.get(f"{V1}/auth/me", token=token).status == 200
    refreshed = api.post(f"{V1}/auth/refresh", {"refresh_token": pair["refresh_token"]})
    assert refreshed.status == 200 and refreshed.json()["password_change_required"] is True
    token = refreshed.json()["access_token"]

    res = api.post(f"{V1}/auth/password", {"current_password": "temporary-pass-1", "new_password": "my-own-pass-1"},
                   token=token)
    assert res.status == 204
    assert api.get(f"{V1}/items", token=token).status == 200
    assert login(api, user["email"], "my-own-pass-1")["password_change_required"] is False
    reset = audit(api, manager, action="password_reset", user_id=uid)
    assert len(reset) == 1 and reset[0]["actor_id"] == manager["user"]["id"] and reset[0]["email"] == user["email"]
    changed = audit(api, manager, action="password_changed", user_id=uid)
    assert changed[0]["details"]["forced"] is True


def test_a_user_who_must_change_the_password_can_log_out(api, manager):
    user = make_user(api, manager)
    api.post(f"{V1}/users/{user['user']['id']}/password", {"temporary_password": "temporary-pass-1"},
             token=manager["token"])
    pair = login(api, user["email"], "temporary-pass-1")
    res = api.post(f"{V1}/auth/logout", {"refresh_token": pair["refresh_token"]}, token=pair["access_token"])
    assert res.status == 204


def test_resetting_an_unknown_user_is_404(api, manager):
    res = api.post(f"{V1}/users/999999999/password", {"temporary_password": "temporary-pass-1"},
                   token=manager["token"])
    assert_problem(res, 404)


def test_handlers_declare_the_password_change_exemption():
    """Exactly the caller's own account routes are open before the change (the refresh is public)."""
    from gateway import manifest

    exempt = {f.route for f in manifest.load() if f.routed and manifest.load_main(f).spec.password_change_exempt}
    assert exempt == {"/auth/password", "/auth/me", "/auth/logout"}


# --- JWT_SECRET rotation ------------------------------------------------------------------------

def _iso(seconds_from_now: float) -> str:
    moment = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=seconds_from_now)
    return moment.isoformat().replace("+00:00", "Z")


def test_a_rotated_secret_still_verifies_until_the_window_ends(api, manager):
    user = make_user(api, manager)
    spare = login(api, user["email"], user["password"])  # a second session, signed with the old secret
    new_secret = "rotated-secret-" + "z" * 40
    with settings_env(JWT_SECRET=new_secret, JWT_PREVIOUS_SECRET=JWT_SECRET, JWT_PREVIOUS_SECRET_UNTIL=_iso(3600)):
        assert api.get(f"{V1}/auth/me", token=user["token"]).status == 200
        res = api.post(f"{V1}/auth/refresh", {"refresh_token": user["refresh"]})
        assert res.status == 200, res.text
        fresh = res.json()
        for token in (fresh["access_token"], fresh["refresh_token"]):  # new tokens: the new secret
            jwt.decode(token, new_secret, algorithms=["HS256"])
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(token, JWT_SECRET, algorithms=["HS256"])
    with settings_env(JWT_SECRET=new_secret, JWT_PREVIOUS_SECRET=JWT_SECRET, JWT_PREVIOUS_SECRET_UNTIL=_iso(-1)):
        assert_problem(api.get(f"{V1}/auth/me", token=spare["access_token"]), 401, "invalid_token")
        assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": spare["refresh_token"]}), 401)
        assert api.get(f"{V1}/auth/me", token=fresh["access_token"]).status == 200
        assert api.post(f"{V1}/auth/refresh", {"refresh_token": fresh["refresh_token"]}).status == 200
    with settings_env(JWT_SECRET=new_secret):  # no rotation at all: the old secret is a stranger
        assert_problem(api.get(f"{V1}/auth/me", token=spare["access_token"]), 401)


def test_a_previous_secret_needs_the_end_of_its_window():
    with settings_env(JWT_PREVIOUS_SECRET="old-secret-" + "o" * 40, JWT_PREVIOUS_SECRET_UNTIL=""):
        with pytest.raises(settings.ConfigError, match="JWT_PREVIOUS_SECRET_UNTIL"):
            settings.get()
    with settings_env(JWT_PREVIOUS_SECRET="old-secret-" + "o" * 40, JWT_PREVIOUS_SECRET_UNTIL="next tuesday"):
        with pytest.raises(settings.ConfigError, match="ISO 8601"):
            settings.get()


# --- the audit trail ----------------------------------------------------------------------------

def test_role_and_activation_changes_are_audited_with_who_and_where(api, manager):
    user = make_user(api, manager)
    uid = user["user"]["id"]
    assert api.patch(f"{V1}/users/{uid}", {"role": "manager"}, token=manager["token"]).status == 200
    assert api.patch(f"{V1}/users/{uid}", {"is_active": False}, token=manager["token"]).status == 200
    assert api.patch(f"{V1}/users/{uid}", {"full_name": "Renamed"}, token=manager["token"]).status == 200
    rows = audit(api, manager, user_id=uid)
    # newest first; a rename is not audited
    assert [r["action"] for r in rows] == ["user_deactivated", "role_changed", "user_created"]
    assert rows[2]["details"] == {"role": "staff"}
    assert rows[1]["details"] == {"previous": "staff", "role": "manager"}
    assert all(r["actor_id"] == manager["user"]["id"] and r["address"] == "127.0.0.1" for r in rows)


def test_the_audit_list_is_paged_and_filtered(api, manager, client_from):
    email = f"{unique('nobody')}@example.com"
    client = client_from()
    for _ in range(3):
        assert_problem(attempt(client, email), 401)
    res = api.get(f"{V1}/audit?action=login_failed&per_page=2", token=manager["token"])
    body = res.json()
    assert res.status == 200 and body["page"] == 1 and body["per_page"] == 2 and len(body["data"]) == 2
    assert body["total"] >= 3 and {r["action"] for r in body["data"]} == {"login_failed"}
    newest = body["data"][0]
    assert newest["email"] == email and newest["actor_id"] is None and newest["user_id"] is None
    assert newest["address"] == client.source[0]
    later = api.get(f"{V1}/audit?since={_iso(60)}", token=manager["token"]).json()
    assert later["total"] == 0 and later["data"] == []
    assert_validation(api.get(f"{V1}/audit?action=coffee", token=manager["token"]))


# --- who becomes a manager ----------------------------------------------------------------------

@pytest.fixture
def own_database(services) -> str:
    """A fresh, empty database beside the session's, for what needs no users at all."""
    from localenv import scratch

    return scratch.fresh_database(settings.get().database_url, "ims_test_accounts")


def _child_env(**extra: str) -> dict[str, str]:
    from localenv import process

    return process.child_env(extra)


def create_manager(database_url: str, email: str, name: str, password: str | None):
    env = _child_env(DATABASE_URL=database_url)
    env.pop("IMS_MANAGER_PASSWORD", None)
    if password is not None:
        env["IMS_MANAGER_PASSWORD"] = password
    return subprocess.run([sys.executable, "-m", "gateway.admin", "create-manager", "--email", email,
                           "--name", name], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def test_without_the_first_user_rule_an_operator_creates_the_manager(own_database, tmp_path):
    from localenv.front import Front

    migrated = subprocess.run([sys.executable, "-m", "shared.migrate"], cwd=ROOT, timeout=120,
                              env=_child_env(DATABASE_URL=own_database), capture_output=True, text=True)
    assert migrated.returncode == 0, migrated.stderr
    front = Front(_child_env(DATABASE_URL=own_database, FIRST_USER_MANAGER="false", IMS_WORKERS="1"),
                  tmp_path / "front.log")
    try:
        api = Api(front.url)
        first = api.post(f"{V1}/auth/register", {"email": "first@example.com", "password": "first-pass-1",
                                                 "full_name": "First"})
        assert first.status == 201, first.text
        assert first.json()["role"] == "staff" and first.json()["is_active"] is False
        assert_problem(attempt(api, "first@example.com", "first-pass-1"), 403, "inactive_user")

        made = create_manager(own_database, "Ops@Example.com", "Ops Person", "operator-pass-1")
        assert made.returncode == 0, made.stderr
        assert "created manager ops@example.com" in made.stdout
        pair = login(api, "ops@example.com", "operator-pass-1")
        assert pair["user"]["role"] == "manager" and pair["user"]["is_active"] is True
        rows = api.get(f"{V1}/audit?action=manager_created", token=pair["access_token"]).json()["data"]
        assert len(rows) == 1 and rows[0]["email"] == "ops@example.com" and rows[0]["details"]["via"] == "command"

        again = create_manager(own_database, "ops@example.com", "Someone Else", "other-pass-1")
        assert again.returncode == 1 and "already has an account" in again.stderr
        taken = create_manager(own_database, "first@example.com", "First", "other-pass-1")
        assert taken.returncode == 1
        assert_problem(attempt(api, "first@example.com", "first-pass-1"), 403, "inactive_user")  # unchanged
        api.close()
    finally:
        front.stop()


def test_create_manager_without_a_password_or_terminal_says_so(own_database):
    res = create_manager(own_database, "ops@example.com", "Ops", None)
    assert res.returncode != 0 and "IMS_MANAGER_PASSWORD" in res.stderr


def test_create_manager_refuses_a_short_password(own_database):
    res = create_manager(own_database, "ops@example.com", "Ops", "short")
    assert res.returncode == 2 and "password" in res.stderr


def test_create_manager_uses_the_embedded_data_dir_without_database_url(tmp_path):
    env = _child_env(IMS_DATA_DIR=str(tmp_path), IMS_MANAGER_PASSWORD="operator-pass-1")
    env.pop("DATABASE_URL", None)
    command = [sys.executable, "-m", "gateway.admin", "create-manager", "--email", "ops@example.com", "--name", "Ops"]
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    assert not (tmp_path / "pg" / "postmaster.pid").exists()  # the server it started is stopped again
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and "already has an account" in second.stderr  # the account was kept


def test_the_scheduled_relay_forgets_throttle_buckets_whose_window_is_over(api):
    stale, live = f"addr:{unique('stale')}", f"addr:{unique('live')}"
    db.execute("INSERT INTO login_attempts (bucket, attempts, window_start) VALUES "
               "(:stale, 3, now() - make_interval(secs => :window + 1)), (:live, 3, now())",
               stale=stale, live=live, window=settings.get().login_window)
    key = base64.b64encode(os.environ["__OW_API_KEY"].encode()).decode()
    res = api.post("/api/v1/namespaces/_/actions/ops/relay?blocking=true&result=true", {},
                   headers={"Authorization": f"Basic {key}"})
    assert res.status == 200 and res.json()["throttle_buckets_forgotten"] >= 1, res.text
    left = {r["bucket"] for r in db.query("SELECT bucket FROM login_attempts WHERE bucket IN (:stale, :live)",
                                          stale=stale, live=live)}
    assert left == {live}


def test_an_idempotency_key_does_not_lift_the_password_change_throttle(api, manager, client_from):
    """The key is ignored where the body holds a password: every wrong guess is counted (and
    audited), whatever key comes with it."""
    user = make_user(api, manager)
    client = client_from()
    statuses = [client.post(f"{V1}/auth/password", {"current_password": f"{WRONG}-{n}", "new_password": "whatever-1"},
                            token=user["token"], headers={"Idempotency-Key": unique("k")}).status
                for n in range(settings.get().login_limit_pair + 1)]
    assert statuses == [403] * settings.get().login_limit_pair + [429]
    failed = db.one("SELECT count(*) AS n FROM audit_log WHERE action = 'password_change_failed' AND user_id = :id",
                    id=user["user"]["id"])["n"]
    assert failed == settings.get().login_limit_pair


def test_throttled_attempts_are_audited_once_per_window(api, manager, client_from):
    user = make_user(api, manager)
    client = client_from()
    limit = settings.get().login_limit_pair
    for _ in range(limit + 4):
        attempt(client, user["email"])
    throttled = db.one("SELECT count(*) AS n FROM audit_log WHERE action = 'login_throttled' AND email = :email",
                       email=user["email"])["n"]
    assert throttled == 1


@pytest.mark.parametrize("address, bucket", [
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("::ffff:192.0.2.7", "192.0.2.7"),
    ("192.0.2.7", "192.0.2.7"),
    ("", "unknown"),
])
def test_a_client_counts_by_its_ipv4_address_or_ipv6_64(address, bucket):
    from shared.services.users import _network

    assert _network(address) == bucket


def test_the_client_address_is_the_entry_the_nearest_proxy_appended():
    from shared.types import Request

    def seen(forwarded: str) -> str:
        return Request("GET", "", {"x-forwarded-for": forwarded}, "", b"", "r").client_address

    assert seen("203.0.113.9") == "203.0.113.9"
    assert seen("6.6.6.6, 203.0.113.9") == "203.0.113.9"  # what the client wrote itself comes first


@pytest.mark.parametrize("query", ["since=0.5", "since=1700000000", "since=2026-11-30T08:00:00", "user_id=1_0",
                                   "user_id=1.0", "user_id=%201"])
def test_the_audit_query_reads_exactly_what_its_document_allows(api, manager, query):
    res = api.get(f"{V1}/audit?{query}", token=manager["token"])
    assert assert_validation(res)[0]["loc"][0] == "query"


def test_the_audit_query_takes_an_rfc_3339_time_and_a_user_id(api, manager):
    res = api.get(f"{V1}/audit?since=2026-11-30T08:00:00Z&user_id={manager['user']['id']}", token=manager["token"])
    assert res.status == 200, res.text
