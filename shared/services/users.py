"""Users and sessions: registration, login with throttling, refresh rotation, administration."""

from __future__ import annotations

import math
import uuid
from typing import Any

from shared import auth, db, errors, events, settings
from shared.models import LoginIn, RegisterIn, UserCreate, UserPatch

USER_COLS = "id, email, full_name, role, is_active, created_at, updated_at"
MAX_FAILURES = 5
FAILURE_WINDOW = 15 * 60  # seconds
_ADMIN_LOCK = 0x1A5_0010  # serializes "first user" and "last manager" decisions

_INSERT = f"""
INSERT INTO users (email, full_name, password_hash, role, is_active)
VALUES (:email, :full_name, :hash, :role, :active)
ON CONFLICT (email) DO NOTHING
RETURNING {USER_COLS}"""
_BY_ID = f"SELECT {USER_COLS} FROM users WHERE id = :id"
_FOR_LOGIN = f"SELECT {USER_COLS}, password_hash, token_version FROM users WHERE email = :email"
_SESSION_USER = f"SELECT {USER_COLS}, token_version FROM users WHERE id = :id"
_THROTTLE = """
SELECT failures, ceil(extract(epoch FROM window_start + make_interval(secs => :window) - now())) AS wait
FROM login_failures WHERE email = :email AND window_start > now() - make_interval(secs => :window)"""
_FAIL = """
INSERT INTO login_failures (email, failures, window_start) VALUES (:email, 1, now())
ON CONFLICT (email) DO UPDATE SET
    failures = CASE WHEN login_failures.window_start > now() - make_interval(secs => :window)
                    THEN login_failures.failures + 1 ELSE 1 END,
    window_start = CASE WHEN login_failures.window_start > now() - make_interval(secs => :window)
                        THEN login_failures.window_start ELSE now() END"""
_CLEAR = "DELETE FROM login_failures WHERE email = :email"
_SAVE_REFRESH = """
INSERT INTO refresh_tokens (jti, user_id, family, expires_at)
VALUES (:jti, :user_id, :family, to_timestamp(:exp))"""
_REFRESH_ROW = "SELECT user_id, family, spent_at, revoked_at FROM refresh_tokens WHERE jti = :jti FOR UPDATE"
_SPEND = "UPDATE refresh_tokens SET spent_at = now() WHERE jti = :jti"
_REVOKE_FAMILY = "UPDATE refresh_tokens SET revoked_at = now() WHERE family = :family AND revoked_at IS NULL"
_LIST = f"SELECT {USER_COLS} FROM users ORDER BY id"
_COUNT = "SELECT count(*) AS n FROM users"
_UPDATE = f"""
UPDATE users SET
    full_name = coalesce(CAST(:full_name AS text), full_name),
    role = coalesce(CAST(:role AS text), role),
    is_active = coalesce(CAST(:is_active AS boolean), is_active),
    token_version = token_version + CASE
        WHEN coalesce(CAST(:role AS text), role) <> role THEN 1
        WHEN is_active AND NOT coalesce(CAST(:is_active AS boolean), is_active) THEN 1
        ELSE 0 END,
    updated_at = now()
WHERE id = :id
RETURNING {USER_COLS}"""
_OTHER_MANAGERS = "SELECT count(*) AS n FROM users WHERE role = 'manager' AND is_active AND id <> :id"


def _insert(conn: db.Conn, email: str, full_name: str, password: str, role: str, active: bool) -> dict[str, Any]:
    user = conn.one(_INSERT, email=email, full_name=full_name, hash=auth.hash_password(password),
                    role=role, active=active)
    if user is None:
        raise errors.Conflict("A user with this e-mail already exists.", code="email_taken")
    events.emit(conn, "user_changed", {"action": "created", "user": user})
    return user


def register(data: RegisterIn) -> dict[str, Any]:
    """The first user ever becomes an active manager; later ones wait, inactive, for a manager."""
    with db.transaction() as conn:
        conn.one("SELECT pg_advisory_xact_lock(:k) AS ok", k=_ADMIN_LOCK)
        first = conn.one("SELECT NOT EXISTS (SELECT 1 FROM users) AS first")["first"]
        if not first and not settings.get().allow_self_registration:
            raise errors.Forbidden("Self-registration is disabled; ask a manager for an account.",
                                   code="registration_closed")
        return _insert(conn, data.email, data.full_name, data.password,
                       "manager" if first else "staff", active=first)


def _session(conn: db.Conn, user: dict[str, Any], family: str) -> dict[str, Any]:
    jti = uuid.uuid4().hex
    refresh, exp = auth.issue_refresh(user, jti)
    conn.execute(_SAVE_REFRESH, jti=jti, user_id=user["id"], family=family, exp=exp)
    access, ttl = auth.issue_access(user)
    public = {k: user[k] for k in ("id", "email", "full_name", "role", "is_active", "created_at", "updated_at")}
    return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
            "expires_in": ttl, "user": public}


def login(data: LoginIn) -> dict[str, Any]:
    email = data.email.strip().lower()
    throttled = db.one(_THROTTLE, email=email, window=FAILURE_WINDOW)
    if throttled and throttled["failures"] >= MAX_FAILURES:
        wait = max(1, math.ceil(float(throttled["wait"])))
        raise errors.TooManyRequests("Too many failed logins; try again later.",
                                     headers={"Retry-After": str(wait)}, retry_after=wait)
    user = db.one(_FOR_LOGIN, email=email)
    if not auth.check_password(data.password, user["password_hash"] if user else None):
        db.execute(_FAIL, email=email, window=FAILURE_WINDOW)
        raise errors.Unauthorized("Wrong e-mail or password.", code="invalid_credentials")
    assert user is not None
    if not user["is_active"]:
        raise errors.Forbidden("This account is not active yet; ask a manager.", code="inactive_user")
    with db.transaction() as conn:
        conn.execute(_CLEAR, email=email)
        return _session(conn, user, family=uuid.uuid4().hex)


def refresh(token: str) -> dict[str, Any]:
    """Rotate: the presented token is spent; presenting a spent one revokes its whole family."""
    claims = auth.decode(token, "refresh")
    reused = False
    with db.transaction() as conn:
        row = conn.one(_REFRESH_ROW, jti=claims["jti"])
        if row is None or row["revoked_at"] is not None or row["user_id"] != int(claims["sub"]):
            raise errors.Unauthorized("The refresh token is not valid.", code="invalid_token")
        if row["spent_at"] is not None:
            conn.execute(_REVOKE_FAMILY, family=row["family"])
            reused = True
        else:
            user = conn.one(_SESSION_USER, id=row["user_id"])
            if user is None or not user["is_active"] or user["token_version"] != claims["ver"]:
                raise errors.Unauthorized("The refresh token is no longer valid.", code="invalid_token")
            conn.execute(_SPEND, jti=claims["jti"])
            return _session(conn, user, family=row["family"])
    assert reused  # the revocation above is committed before we answer
    raise errors.Unauthorized("This refresh token was already used; its session is revoked.",
                              code="token_reused")


def logout(token: str, user_id: int) -> None:
    claims = auth.decode(token, "refresh")
    if int(claims["sub"]) != user_id:
        raise errors.Unauthorized("The refresh token is not valid.", code="invalid_token")
    with db.transaction() as conn:
        row = conn.one(_REFRESH_ROW, jti=claims["jti"])
        if row is not None:
            conn.execute(_REVOKE_FAMILY, family=row["family"])


def get(user_id: int) -> dict[str, Any]:
    user = db.one(_BY_ID, id=user_id)
    if user is None:
        raise errors.NotFound("No such user.")
    return user


def page(page: int, per_page: int) -> dict[str, Any]:
    return db.paged(_LIST, _COUNT, page, per_page)


def create(data: UserCreate) -> dict[str, Any]:
    with db.transaction() as conn:
        return _insert(conn, data.email, data.full_name, data.password, data.role, active=True)


def update(user_id: int, data: UserPatch) -> dict[str, Any]:
    with db.transaction() as conn:
        conn.one("SELECT pg_advisory_xact_lock(:k) AS ok", k=_ADMIN_LOCK)
        current = conn.one(_BY_ID, id=user_id)
        if current is None:
            raise errors.NotFound("No such user.")
        demoted = data.role is not None and data.role != "manager"
        deactivated = data.is_active is False
        if current["role"] == "manager" and current["is_active"] and (demoted or deactivated):
            if conn.one(_OTHER_MANAGERS, id=user_id)["n"] == 0:
                raise errors.Conflict("The last active manager cannot be demoted or deactivated.",
                                      code="last_manager")
        user = conn.one(_UPDATE, id=user_id, full_name=data.full_name, role=data.role, is_active=data.is_active)
        # Managers' screens follow it live; the realtime server closes the sockets of a user whose
        # tokens this change revoked (deactivated, or a new role).
        events.emit(conn, "user_changed", {"action": "updated", "user": user})
        return user
