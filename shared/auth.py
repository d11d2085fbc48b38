"""Passwords (bcrypt, cost 12) and tokens (JWT, HS256 only): issue, verify, authenticate a request.

Access tokens live an hour, refresh tokens a week. Both carry the user's `ver` (users.token_version),
which is bumped on deactivation or role change, so such a change kills every token at once; the
user row is read on every authenticated request (one prepared statement).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from shared import db, errors, settings
from shared.types import Principal

ALGORITHM = "HS256"  # pinned: a token's own `alg` header is never trusted
BCRYPT_COST = 12
BCRYPT_MAX_BYTES = 72  # bcrypt >= 5 raises on longer passwords instead of truncating them
ROLES = ("staff", "manager")
_REQUIRED = ["exp", "iat", "sub", "jti", "typ", "ver"]
# Compared against when the e-mail is unknown, so that case costs as much as a wrong password.
_DUMMY_HASH = b"$2b$12$KieopOyq0kyj4t2kZFZeZuq.5E1.s2.71EmpjBtHNCVfmpkaOlT9W"

_USER_STATE = "SELECT role, is_active, token_version FROM users WHERE id = :id"


def hash_password(password: str) -> str:
    import bcrypt  # only registration and login hash; every other request spares the import

    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()


def check_password(password: str, hashed: str | None) -> bool:
    import bcrypt

    secret = password.encode()
    if len(secret) > BCRYPT_MAX_BYTES:  # bcrypt refuses these, so no stored hash can match one
        bcrypt.checkpw(secret[:BCRYPT_MAX_BYTES], _DUMMY_HASH)  # still cost what a real check costs
        return False
    ok = bcrypt.checkpw(secret, hashed.encode() if hashed else _DUMMY_HASH)
    return ok and hashed is not None


def _encode(claims: dict[str, Any]) -> str:
    return jwt.encode(claims, settings.get().jwt_secret, algorithm=ALGORITHM)


def issue_access(user: dict[str, Any]) -> tuple[str, int]:
    ttl = settings.get().access_ttl
    now = int(time.time())
    token = _encode({"sub": str(user["id"]), "role": user["role"], "ver": user["token_version"],
                     "typ": "access", "iat": now, "exp": now + ttl, "jti": uuid.uuid4().hex})
    return token, ttl


def issue_refresh(user: dict[str, Any], jti: str) -> tuple[str, int]:
    now = int(time.time())
    exp = now + settings.get().refresh_ttl
    token = _encode({"sub": str(user["id"]), "ver": user["token_version"], "typ": "refresh",
                     "iat": now, "exp": exp, "jti": jti})
    return token, exp


def decode(token: str, typ: str) -> dict[str, Any]:
    """Verified claims of a token of type `typ`, or Unauthorized."""
    try:
        claims = jwt.decode(token, settings.get().jwt_secret, algorithms=[ALGORITHM],
                            options={"require": _REQUIRED})
    except jwt.ExpiredSignatureError:
        raise errors.Unauthorized("The token has expired.", code="token_expired") from None
    except jwt.PyJWTError:
        raise errors.Unauthorized("The token is not valid.", code="invalid_token") from None
    if claims.get("typ") != typ or not str(claims["sub"]).isdigit():
        raise errors.Unauthorized("The token is not valid.", code="invalid_token")
    return claims


def check_user(claims: dict[str, Any]) -> dict[str, Any]:
    """The user row behind a token, if the token still speaks for them."""
    row = db.one(_USER_STATE, id=int(claims["sub"]))
    if row is None or not row["is_active"] or row["token_version"] != claims["ver"]:
        raise errors.Unauthorized("The token is no longer valid.", code="invalid_token")
    return row


def authenticate(authorization: str | None, level: str) -> Principal:
    """The caller of a request needing `level` ('staff' = any active user, or 'manager')."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise errors.Unauthorized("A bearer access token is required.", code="not_authenticated")
    claims = decode(token.strip(), "access")
    row = check_user(claims)
    principal = Principal(int(claims["sub"]), row["role"])
    if level == "manager" and not principal.is_manager:
        raise errors.Forbidden("Only a manager may do this.")
    return principal
