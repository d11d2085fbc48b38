"""Registration, login, throttling, refresh rotation, logout, token forgery and revocation."""

from __future__ import annotations

import base64
import json
import time
import uuid

import jwt
import pytest

from tests.api.helpers import V1, assert_problem, assert_validation, login
from tests.conftest import JWT_SECRET, make_user, unique


def b64url(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_of(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


def me(api, token):
    return api.get(f"{V1}/auth/me", token=token)


def register(api, email=None, password="long-enough-1", full_name="Someone"):
    return api.post(f"{V1}/auth/register", {"email": email or f"{unique('reg')}@example.com",
                                            "password": password, "full_name": full_name})


# --- registration -------------------------------------------------------------------------------


def test_later_registration_is_inactive_staff_who_cannot_log_in(api, manager):
    email = f"{unique('later')}@example.com"
    res = register(api, email)
    assert res.status == 201, res.text
    user = res.json()
    assert user["role"] == "staff" and user["is_active"] is False and user["email"] == email
    assert "password" not in res.text and "password_hash" not in user
    assert_problem(api.post(f"{V1}/auth/login", {"email": email, "password": "long-enough-1"}), 403,
                   "inactive_user")


def test_registering_a_taken_email_is_409_case_insensitively(api, manager):
    email = f"{unique('dup')}@example.com"
    assert register(api, email).status == 201
    assert_problem(register(api, email.upper()), 409)


def test_registering_a_short_password_is_422(api, manager):
    errors = assert_validation(register(api, password="short7!"))
    assert errors[0]["loc"] == ["body", "password"]


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "@example.com", "a b@example.com"])
def test_registering_a_malformed_email_is_422(api, manager, email):
    errors = assert_validation(register(api, email=email))
    assert errors[0]["loc"] == ["body", "email"]


# --- login --------------------------------------------------------------------------------------

def test_login_returns_token_pair_and_user(api, manager):
    body = login(api, "boss@example.com", manager["password"])
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user",
                         "password_change_required"}
    assert body["token_type"] == "bearer" and body["password_change_required"] is False
    assert isinstance(body["expires_in"], int) and 0 < body["expires_in"] <= 3600
    assert body["user"]["id"] == manager["user"]["id"] and body["user"]["role"] == "manager"
    assert claims_of(body["access_token"])["typ"] == "access"
    assert claims_of(body["refresh_token"])["typ"] == "refresh"
    assert claims_of(body["access_token"])["sid"]  # the session it belongs to


def test_wrong_password_and_unknown_email_get_identical_401(api, manager):
    wrong = api.post(f"{V1}/auth/login", {"email": "boss@example.com", "password": "not-the-password"})
    unknown = api.post(f"{V1}/auth/login", {"email": f"{unique('nobody')}@example.com",
                                            "password": "not-the-password"})
    a, b = assert_problem(wrong, 401), assert_problem(unknown, 401)
    a.pop("request_id"), b.pop("request_id")
    assert a == b
    # clear boss's failure count so later tests are not throttled
    login(api, "boss@example.com", manager["password"])


def test_five_failed_logins_then_429_with_retry_after(manager, client_from):
    api = client_from()  # an address of its own: the throttle counts per account and address
    email = f"{unique('throttle')}@example.com"
    for _ in range(5):
        assert_problem(api.post(f"{V1}/auth/login", {"email": email, "password": "wrong-password"}), 401)
    res = api.post(f"{V1}/auth/login", {"email": email, "password": "wrong-password"})
    body = assert_problem(res, 429)
    assert int(res.headers["retry-after"]) > 0 and body["retry_after"] == int(res.headers["retry-after"])


def test_throttled_account_is_refused_even_with_the_right_password(api, manager, client_from):
    user = make_user(api, manager)
    attacker = client_from()
    for _ in range(5):
        attacker.post(f"{V1}/auth/login", {"email": user["email"], "password": "wrong-password"})
    assert_problem(attacker.post(f"{V1}/auth/login", {"email": user["email"], "password": user["password"]}), 429)


# --- refresh and logout -------------------------------------------------------------------------

def test_refresh_rotates_into_a_new_working_pair(api, manager):
    first = login(api, "boss@example.com", manager["password"])
    res = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert res.status == 200, res.text
    pair = res.json()
    assert pair["token_type"] == "bearer"
    assert pair["refresh_token"] != first["refresh_token"] and pair["access_token"] != first["access_token"]
    assert me(api, pair["access_token"]).status == 200


def spent_a_while_ago(refresh_token: str) -> None:
    """As if the token had been spent a minute ago: past the reuse grace."""
    from shared import db

    db.execute("UPDATE refresh_tokens SET spent_at = now() - interval '1 minute' WHERE jti = :jti",
               jti=claims_of(refresh_token)["jti"])


def test_reusing_a_spent_refresh_token_revokes_the_whole_family(api, manager):
    first = login(api, "boss@example.com", manager["password"])
    second = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]}).json()
    spent_a_while_ago(first["refresh_token"])
    reuse = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert_problem(reuse, 401)
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": second["refresh_token"]}), 401)


def test_refresh_token_is_not_accepted_as_access_token(api, manager):
    assert_problem(me(api, manager["refresh"]), 401)


def test_access_token_is_not_accepted_as_refresh_token(api, manager):
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": manager["token"]}), 401)


def test_logout_revokes_the_refresh_token(api, manager):
    session = login(api, "boss@example.com", manager["password"])
    res = api.post(f"{V1}/auth/logout", {"refresh_token": session["refresh_token"]}, token=session["access_token"])
    assert res.status == 204 and res.body == b""
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": session["refresh_token"]}), 401)


def test_logout_ends_the_sessions_access_tokens_too(api, manager):
    ended = login(api, "boss@example.com", manager["password"])
    other = login(api, "boss@example.com", manager["password"])
    refreshed = api.post(f"{V1}/auth/refresh", {"refresh_token": ended["refresh_token"]}).json()
    res = api.post(f"{V1}/auth/logout", {"refresh_token": refreshed["refresh_token"]}, token=other["access_token"])
    assert res.status == 204
    # both access tokens of the ended session (before and after its refresh) are refused at once
    assert_problem(me(api, ended["access_token"]), 401, "session_ended")
    assert_problem(me(api, refreshed["access_token"]), 401, "session_ended")
    assert me(api, other["access_token"]).status == 200


def test_a_reused_refresh_token_ends_the_access_tokens_of_its_session(api, manager):
    first = login(api, "boss@example.com", manager["password"])
    second = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]}).json()
    assert me(api, second["access_token"]).status == 200
    spent_a_while_ago(first["refresh_token"])
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]}), 401, "token_reused")
    assert_problem(me(api, first["access_token"]), 401, "session_ended")
    assert_problem(me(api, second["access_token"]), 401, "session_ended")


def test_a_refresh_token_used_again_at_once_is_let_through_once_more(api, manager):
    """Within the grace (two tabs refreshing together, an answer lost on the way): a new pair of the same
    session, and nothing is revoked; every pair of the session stays good."""
    from shared.services.users import REUSE_GRACE_SECONDS

    assert REUSE_GRACE_SECONDS <= 30
    first = login(api, "boss@example.com", manager["password"])
    second = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]})
    again = api.post(f"{V1}/auth/refresh", {"refresh_token": first["refresh_token"]})
    assert second.status == 200 and again.status == 200, again.text
    assert again.json()["refresh_token"] != second.json()["refresh_token"]
    for pair in (second.json(), again.json()):
        assert me(api, pair["access_token"]).status == 200
        assert api.post(f"{V1}/auth/refresh", {"refresh_token": pair["refresh_token"]}).status == 200


def test_logout_with_someone_elses_refresh_token_is_401(api, manager, staff):
    assert_problem(api.post(f"{V1}/auth/logout", {"refresh_token": manager["refresh"]}, token=staff["token"]), 401)


# --- forged tokens ------------------------------------------------------------------------------

def _valid_claims(token: str, **changes) -> dict:
    claims = claims_of(token)
    claims.update(jti=uuid.uuid4().hex, **changes)
    return {k: v for k, v in claims.items() if v is not None}


def test_alg_none_token_is_401(api, staff):
    claims = _valid_claims(staff["token"])
    forged = f"{b64url({'alg': 'none', 'typ': 'JWT'})}.{b64url(claims)}."
    res = me(api, forged)
    assert_problem(res, 401)
    assert res.headers["www-authenticate"] == "Bearer"


def test_token_signed_with_a_wrong_key_is_401(api, staff):
    forged = jwt.encode(_valid_claims(staff["token"]), "another-secret-" + "y" * 40, algorithm="HS256")
    assert_problem(me(api, forged), 401)


def test_access_token_without_a_session_is_401(api, staff):
    token = jwt.encode(_valid_claims(staff["token"], sid=None), JWT_SECRET, algorithm="HS256")
    assert_problem(me(api, token), 401)


def test_access_token_naming_a_session_that_does_not_exist_is_401(api, staff):
    token = jwt.encode(_valid_claims(staff["token"], sid=uuid.uuid4().hex), JWT_SECRET, algorithm="HS256")
    assert_problem(me(api, token), 401, "session_ended")


def test_well_signed_token_is_accepted(api, staff):
    """The control for the forgery cases: only their one defect makes them fail."""
    token = jwt.encode(_valid_claims(staff["token"]), JWT_SECRET, algorithm="HS256")
    assert me(api, token).status == 200


def test_token_without_exp_is_401(api, staff):
    claims = _valid_claims(staff["token"])
    del claims["exp"]
    assert_problem(me(api, jwt.encode(claims, JWT_SECRET, algorithm="HS256")), 401)


def test_expired_token_is_401(api, staff):
    now = int(time.time())
    claims = _valid_claims(staff["token"], iat=now - 7200, exp=now - 3600)
    assert_problem(me(api, jwt.encode(claims, JWT_SECRET, algorithm="HS256")), 401)


def test_token_with_tampered_role_claim_is_401(api, staff):
    header, payload, signature = staff["token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["role"] = "manager"
    forged = f"{header}.{b64url(claims)}.{signature}"
    assert_problem(api.get(f"{V1}/users", token=forged), 401)
    assert_problem(me(api, forged), 401)


@pytest.mark.parametrize("authorization", ["", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer not.a.jwt"])
def test_malformed_authorization_header_is_401(api, authorization):
    res = api.get(f"{V1}/auth/me", headers={"Authorization": authorization})
    assert_problem(res, 401)
    assert res.headers["www-authenticate"] == "Bearer"


# --- revocation by user changes -----------------------------------------------------------------

def test_deactivating_a_user_kills_their_access_and_refresh_tokens(api, manager):
    user = make_user(api, manager)
    assert me(api, user["token"]).status == 200
    res = api.patch(f"{V1}/users/{user['user']['id']}", {"is_active": False}, token=manager["token"])
    assert res.status == 200 and res.json()["is_active"] is False
    assert_problem(me(api, user["token"]), 401)
    assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": user["refresh"]}), 401)


def test_changing_a_users_role_kills_their_tokens(api, manager):
    user = make_user(api, manager)
    try:
        res = api.patch(f"{V1}/users/{user['user']['id']}", {"role": "manager"}, token=manager["token"])
        assert res.status == 200 and res.json()["role"] == "manager"
        assert_problem(me(api, user["token"]), 401)
        assert_problem(api.post(f"{V1}/auth/refresh", {"refresh_token": user["refresh"]}), 401)
        fresh = login(api, user["email"], user["password"])
        assert me(api, fresh["access_token"]).json()["role"] == "manager"
    finally:  # leave the session manager the only active manager
        api.patch(f"{V1}/users/{user['user']['id']}", {"is_active": False}, token=manager["token"])


def test_renaming_a_user_keeps_their_tokens(api, manager, staff):
    res = api.patch(f"{V1}/users/{staff['user']['id']}", {"full_name": "Renamed Staff"}, token=manager["token"])
    assert res.status == 200
    assert me(api, staff["token"]).json()["full_name"] == "Renamed Staff"


def test_me_returns_the_current_user(api, staff):
    res = me(api, staff["token"])
    assert res.status == 200
    body = res.json()
    assert body["id"] == staff["user"]["id"] and body["email"] == staff["email"] and body["role"] == "staff"
    assert set(body) == {"id", "email", "full_name", "role", "is_active", "created_at", "updated_at"}
