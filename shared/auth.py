"""Passwords (bcrypt, cost 12) and tokens (JWT, HS256 only): issue, verify, authenticate a request.

Access tokens live an hour, refresh tokens a week. Both carry the user's `ver` (users.token_version),
which is bumped on deactivation or role change, so such a change kills every token at once. Access
tokens also name their session (`sid`, the refresh family): logging out, a password change or a
reused refresh token revokes the family, and its access tokens die with it. The user row and the
session are read on every authenticated request (one prepared statement).

bcrypt is slow on purpose (~0.25 s of CPU); it releases the GIL, so without a bound a burst of
logins would take every core from every other request. A semaphore per process bounds it; a server
with several worker processes shares one bound among them instead (`share_bcrypt_slots`).

JWT_SECRET can be rotated: tokens are signed with the current secret; JWT_PREVIOUS_SECRET still
verifies until JWT_PREVIOUS_SECRET_UNTIL.
"""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any, ContextManager

import jwt

from shared import db, errors, settings
from shared.types import Principal

ALGORITHM = "HS256"  # pinned: a token's own `alg` header is never trusted
BCRYPT_COST = 12
BCRYPT_MAX_BYTES = 72  # bcrypt >= 5 raises on longer passwords instead of truncating them
ROLES = ("staff", "manager")
_REQUIRED = ["exp", "iat", "sub", "jti", "typ", "ver"]
_REQUIRED_ACCESS = [*_REQUIRED, "sid"]
# Compared against when the e-mail is unknown, so that case costs as much as a wrong password.
_DUMMY_HASH = b"$2b$12$KieopOyq0kyj4t2kZFZeZuq.5E1.s2.71EmpjBtHNCVfmpkaOlT9W"

_USER_STATE = """
SELECT role, is_active, token_version, password_change_required,
       EXISTS (SELECT 1 FROM refresh_tokens WHERE family = :sid AND revoked_at IS NULL) AS session_live
FROM users WHERE id = :id"""

_slots: ContextManager[Any] | None = None
_slots_lock = threading.Lock()


def _bcrypt_slots() -> ContextManager[Any]:
    global _slots
    if _slots is None:
        with _slots_lock:
            if _slots is None:
                _slots = threading.BoundedSemaphore(settings.get().bcrypt_concurrency)
    return _slots


def share_bcrypt_slots(slots: ContextManager[Any]) -> None:
    """Bound bcrypt with `slots` rather than a semaphore of this process's own: one bound for every
    worker process of a server (gateway.serve), so N workers do not take N times the CPUs."""
    global _slots
    _slots = slots


def hash_password(password: str) -> str:
    import bcrypt  # only registration and login hash; every other request spares the import

    with _bcrypt_slots():
        return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def check_password(password: str, hashed: str | None) -> bool:
    import bcrypt

    secret = password.encode()
    with _bcrypt_slots():
        if len(secret) > BCRYPT_MAX_BYTES:  # bcrypt refuses these, so no stored hash can match one
            bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], _DUMMY_HASH)  # still cost what a real check costs
            return False
        ok = bcrypt.checkpw(secret, hashed.encode() if hashed else _DUMMY_HASH)
    return ok and hashed is not None


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, settings.get().jwt_secret, algorithm=ALGORITHM)


def issue_access(user: dict[str, Any], session: str) -> tuple[str, int]:
    ttl = settings.get().access_ttl
    now = int(time.time())
    token = _encode({"sub": str(user["id"]), "role": user["role"], "ver": user["token_version"],
                     "typ": "access", "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex, "sid": session})
    return token, ttl


def issue_refresh(user: dict[str, Any], jti: str) -> tuple[str, int]:
    now = int(time.time())
    exp = now + settings.get().refresh_ttl
    token = _encode({"sub": str(user["id"]), "ver": user["token_version"], "typ": "refresh",
                     "iat": now, "exp": exp, "jti": jti})
    return token, exp


def _verification_keys() -> list[str]:
    conf = settings.get()
    keys = [conf.jwt_secret]
    if conf.jwt_previous_secret and time.time() < conf.jwt_previous_until:
        keys.append(conf.jwt_previous_secret)
    return keys


def _verified(token: str, typ: str) -> dict[str, Any]:
    required = _REQUIRED_ACCESS if typ == "access" else _REQUIRED
    keys = _verification_keys()
    for n, key in enumerate(keys, 1):
        try:
            return jwt.decode(token, key, algorithms=[ALGORITHM], options={"require": required})
        except jwt.InvalidSignatureError:
            if n == len(keys):
                raise
    raise AssertionError("there is always a current secret")


def decode(token: str, typ: str) -> dict[str, Any]:
    """Verified claims of a token of type `typ`, or Unauthorized."""
    try:
        claims = _verified(token, typ)
    except jwt.ExpiredSignatureError:
        raise errors.Unauthorized("The token has expired.", code="token_expired") from None
    except jwt.PyJWTError:
        raise errors.Unauthorized("The token is not valid.", code="invalid_token") from None
    if claims.get("typ") != typ or not str(claims["sub"]).isdigit():
        raise errors.Unauthorized("The token is not valid.", code="invalid_token")
    return claims


def check_user(claims: dict[str, Any]) -> dict[str, Any]:
    """The user row behind an access token, if the token still speaks for them (its session too)."""
    row = db.one(_USER_STATE, id=int(claims["sub"]), sid=str(claims["sid"]))
    if row is None or not row["is_active"] or row["token_version"] != claims["ver"]:
        raise errors.Unauthorized("The token is no longer valid.", code="invalid_token")
    if not row["session_live"]:
        raise errors.Unauthorized("This session has ended; sign in again.", code="session_ended")
    return row


def authenticate(authorization: str | None, level: str, *, password_change_exempt: bool = False) -> Principal:
    """The caller of a request needing `level` ('staff' = any active user, or 'manager')."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("A bearer access token is required.", code="not_authenticated")
    claims = decode(token.strip(), "access")
    row = check_user(claims)
    if row["password_change_required"] and not password_change_exempt:
        raise errors.Forbidden("Choose a new password first (POST /auth/password).", code="password_change_required")
    principal = Principal(int(claims["sub"]), row["role"], str(claims["sid"]))
    if level == "manager" and not principal.is_manager:
        raise errors.Forbidden("Only a manager may do this.")
    return principal
