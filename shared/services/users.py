"""Users and sessions: registration, login with throttling, refresh rotation, administration."""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared import auth, db, errors, events, settings
from shared.services import audit
from shared.types import Principal

if TYPE_CHECKING:  # models are annotations here: a function imports only the ones it uses
    from shared.models import LoginIn, PasswordChangeIn, RegisterIn, UserCreate, UserPatch

USER_COLS = "id, email, full_name, role, is_active, created_at, updated_at"
_ADMIN_LOCK = 0x1A5_0010  # serializes "first user" and "last manager" decisions

_INSERT = f"""
INSERT INTO users (email, full_name, password_hash, role, is_active)
VALUES (:email, :full_name, :hash, :role, :active)
ON CONFLICT (email) DO NOTHING
RETURNING {USER_COLS}"""
_BY_ID = f"SELECT {USER_COLS} FROM users WHERE id = :id"
_FOR_LOGIN = (f"SELECT {USER_COLS}, password_hash, token_version, password_change_required "
              "FROM users WHERE email = :email")
_FOR_CHANGE = (f"SELECT {USER_COLS}, password_hash, token_version, password_change_required "
               "FROM users WHERE id = :id")
_SESSION_USER = f"SELECT {USER_COLS}, token_version, password_change_required FROM users WHERE id = :id"

# The throttle. Every attempt is counted BEFORE its password is checked, in one statement whose row
# locks serialize concurrent attempts on a bucket, so N parallel guesses get exactly `limit` checks.
# Buckets: (account, address) and address first; the account's own ceiling counts only attempts
# those two let through, so one address cannot spend it and lock the owner out. Rows are locked
# pair -> address -> account, here and in _REFUND, so two statements never wait on each other.
_WINDOW_SQL = "window_start > now() - make_interval(secs => :window)"
_BUMP = f"""
ON CONFLICT (bucket) DO UPDATE SET
    attempts = CASE WHEN a.{_WINDOW_SQL} THEN a.attempts + 1 ELSE 1 END,
    window_start = CASE WHEN a.{_WINDOW_SQL} THEN a.window_start ELSE now() END
RETURNING bucket, attempts, ceil(extract(epoch FROM window_start + make_interval(secs => :window) - now())) AS wait"""
_COUNT_ATTEMPT = f"""
WITH near AS (
    INSERT INTO login_attempts AS a (bucket, attempts, window_start)
    VALUES (:pair, 1, now()), (:addr, 1, now()) {_BUMP}
), account AS (
    INSERT INTO login_attempts AS a (bucket, attempts, window_start)
    SELECT :acct, 1, now()
    WHERE NOT EXISTS (SELECT 1 FROM near WHERE attempts > CASE WHEN bucket = :pair THEN CAST(:pair_limit AS integer)
                                                               ELSE CAST(:addr_limit AS integer) END) {_BUMP}
)
SELECT bucket, attempts, wait FROM near UNION ALL SELECT bucket, attempts, wait FROM account"""
# A right password: the (account, address) bucket starts over; the attempt is handed back to the others.
_REFUND = [
    "DELETE FROM login_attempts WHERE bucket = :pair",
    "UPDATE login_attempts SET attempts = greatest(attempts - 1, 0) WHERE bucket = :addr",
    "UPDATE login_attempts SET attempts = greatest(attempts - 1, 0) WHERE bucket = :acct",
]
# Too busy to check the password (503): the attempt was no guess, so it is handed back to every bucket.
_GIVE_BACK = "UPDATE login_attempts SET attempts = greatest(attempts - 1, 0) WHERE bucket IN (:pair, :addr, :acct)"
_FORGET_ATTEMPTS = f"DELETE FROM login_attempts WHERE NOT {_WINDOW_SQL}"
_SAVE_REFRESH = """
INSERT INTO refresh_tokens (jti, user_id, family, expires_at)
VALUES (:jti, :user_id, :family, to_timestamp(:exp))"""
# A refresh token presented again this soon after it was spent is let through (a new pair of the same
# session) rather than taken for a stolen one: two tabs of one browser refreshing at once, or an answer
# lost on its way back (a tab closed mid-refresh, a dropped connection). Later, a second use revokes.
REUSE_GRACE_SECONDS = 10
_REFRESH_ROW = """
SELECT user_id, family, spent_at, revoked_at, spent_at > now() - :grace * interval '1 second' AS just_spent
FROM refresh_tokens WHERE jti = :jti FOR UPDATE"""
_SPEND = "UPDATE refresh_tokens SET spent_at = now() WHERE jti = :jti"
_REVOKE_FAMILY = """
UPDATE refresh_tokens SET revoked_at = now() WHERE family = :family AND revoked_at IS NULL"""
_REVOKE_OTHERS = """
WITH ended AS (
    UPDATE refresh_tokens SET revoked_at = now()
    WHERE user_id = :user_id AND family <> :keep AND revoked_at IS NULL
    RETURNING family)
SELECT coalesce(array_agg(DISTINCT family), '{}') AS families FROM ended"""
_SET_PASSWORD = """
UPDATE users SET password_hash = :hash, password_change_required = :required, updated_at = now()
WHERE id = :id RETURNING id, email"""
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


def _insert(conn: db.Conn, email: str, full_name: str, hashed: str, role: str, active: bool) -> dict[str, Any]:
    """`hashed`: auth.hash_password(), called before the transaction began. bcrypt waits for a slot
    and takes a while; a pooled connection (or the admin lock) must not be held meanwhile."""
    user = conn.one(_INSERT, email=email, full_name=full_name, hash=hashed, role=role, active=active)
    if user is None:
        raise errors.Conflict("A user with this e-mail already exists.", code="email_taken")
    events.emit(conn, "user_changed", {"action": "created", "user": user})
    return user


def register(data: RegisterIn, address: str = "") -> dict[str, Any]:
    """The first user ever becomes an active manager (unless FIRST_USER_MANAGER=false); later ones,
    and then every one, wait inactive for a manager."""
    conf = settings.get()
    hashed = auth.hash_password(data.password)
    with db.transaction() as conn:
        conn.one("SELECT pg_advisory_xact_lock(:k) AS ok", k=_ADMIN_LOCK)
        first = conn.row("SELECT NOT EXISTS (SELECT 1 FROM users) AS first")["first"]
        manager = first and conf.first_user_manager
        if not manager and not conf.allow_self_registration:
            raise errors.Forbidden("Self-registration is disabled; ask a manager for an account.",
                                   code="registration_closed")
        user = _insert(conn, data.email, data.full_name, hashed, "manager" if manager else "staff", active=manager)
        if manager:
            audit.record(conn, "manager_created", user_id=user["id"], email=user["email"], address=address,
                         via="first_registration")
        return user


def _session(conn: db.Conn, user: dict[str, Any], family: str) -> dict[str, Any]:
    jti = uuid.uuid4().hex
    refresh, exp = auth.issue_refresh(user, jti)
    conn.execute(_SAVE_REFRESH, jti=jti, user_id=user["id"], family=family, exp=exp)
    access, ttl = auth.issue_access(user, family)
    public = {k: user[k] for k in ("id", "email", "full_name", "role", "is_active", "created_at", "updated_at")}
    return {"access_token": access, "refresh_token": refresh, "token_type": "bearer",
            "expires_in": ttl, "user": public, "password_change_required": user["password_change_required"]}


def _network(address: str) -> str:
    """What one client controls: an IPv4 address, or the /64 of an IPv6 one (a single host is
    commonly handed a whole /64, so counting its addresses one by one would count nothing)."""
    import ipaddress

    try:
        ip = ipaddress.ip_address(address.strip().strip("[]"))
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(frozen=True, slots=True)
class _Buckets:
    pair: str
    addr: str
    acct: str

    @classmethod
    def of(cls, email: str, address: str) -> _Buckets:
        where = _network(address)
        return cls(f"pair:{email} {where}", f"addr:{where}", f"acct:{email}")

    def names(self) -> dict[str, str]:
        return {"pair": self.pair, "addr": self.addr, "acct": self.acct}


def _count_attempt(buckets: _Buckets, email: str, address: str, throttled_action: str,
                   user_id: int | None = None) -> None:
    """Count one password attempt in every bucket; 429 (audited) when one is over its limit."""
    conf = settings.get()
    limits = {buckets.pair: conf.login_limit_pair, buckets.addr: conf.login_limit_address,
              buckets.acct: conf.login_limit_account}
    rows = db.query(_COUNT_ATTEMPT, **buckets.names(), window=conf.login_window,
                    pair_limit=conf.login_limit_pair, addr_limit=conf.login_limit_address)
    over = [r for r in rows if r["attempts"] > limits[r["bucket"]]]
    if over:
        wait = max(1, max(math.ceil(float(r["wait"])) for r in over))
        kinds = sorted(r["bucket"].split(":", 1)[0] for r in over)
        # The first refusal of a bucket's window is audited; the rest cost an attacker no bcrypt, so
        # recording each would let one client flood the trail and bury the failures that matter.
        if any(r["attempts"] == limits[r["bucket"]] + 1 for r in over):
            audit.record(None, throttled_action, user_id=user_id, email=email, address=address, buckets=kinds,
                         retry_after=wait)
        raise errors.TooManyRequests("Too many sign-in attempts; try again later.",
                                     headers={"Retry-After": str(wait)}, retry_after=wait)


def _password_matches(buckets: _Buckets, password: str, hashed: str | None) -> bool:
    """auth.check_password, for an attempt already counted: one the server was too busy to check
    (503, the self-hosted front's bcrypt queue is full) is handed back, so a storm locks nobody out."""
    try:
        return auth.check_password(password, hashed)
    except errors.ServiceUnavailable:
        db.execute(_GIVE_BACK, **buckets.names())
        raise


def _refund(conn: db.Conn, buckets: _Buckets) -> None:
    for sql in _REFUND:
        conn.execute(sql, **buckets.names())


def login(data: LoginIn, address: str = "") -> dict[str, Any]:
    email = data.email.strip().lower()
    buckets = _Buckets.of(email, address)
    _count_attempt(buckets, email, address, "login_throttled")
    user = db.one(_FOR_LOGIN, email=email)
    if not _password_matches(buckets, data.password, user["password_hash"] if user else None):
        audit.record(None, "login_failed", user_id=user["id"] if user else None, email=email, address=address)
        raise errors.Unauthorized("Wrong e-mail or password.", code="invalid_credentials")
    assert user is not None
    with db.transaction() as conn:
        _refund(conn, buckets)  # a right password never counts against anyone, active or not
        if user["is_active"]:
            return _session(conn, user, family=uuid.uuid4().hex)
    raise errors.Forbidden("This account is not active yet; ask a manager.", code="inactive_user")


def _ended(conn: db.Conn, user_id: int, sessions: list[str], reason: str) -> None:
    # The live feed closes the connections opened with these sessions' access tokens.
    if sessions:
        events.emit(conn, "session_ended", {"user_id": user_id, "sessions": sessions, "reason": reason})


def _end_session(conn: db.Conn, user_id: int, family: str, reason: str) -> None:
    if conn.execute(_REVOKE_FAMILY, family=family):
        _ended(conn, user_id, [family], reason)


def _end_sessions(conn: db.Conn, user_id: int, reason: str, keep: str = "") -> int:
    """End every session of the user but `keep`; return how many ended."""
    families = list(conn.row(_REVOKE_OTHERS, user_id=user_id, keep=keep)["families"])
    _ended(conn, user_id, families, reason)
    return len(families)


def forget_stale_attempts() -> int:
    """Drop throttle buckets whose window is over (the scheduled relay calls this): an attacker
    spraying e-mails from many addresses must not grow the table for ever."""
    return db.execute(_FORGET_ATTEMPTS, window=settings.get().login_window)


def change_password(principal: Principal, data: PasswordChangeIn, address: str = "") -> None:
    """The caller's own password. Their other sessions end; the calling one goes on."""
    user = db.one(_FOR_CHANGE, id=principal.id)
    if user is None:
        raise errors.NotFound("No such user.")
    if data.new_password == data.current_password:  # before counting: a typo is not a guess
        raise errors.ValidationFailed([{"loc": ["body", "new_password"], "type": "password_unchanged",
                                        "msg": "The new password must differ from the current one"}])
    buckets = _Buckets.of(user["email"], address)
    _count_attempt(buckets, user["email"], address, "password_change_throttled", user_id=user["id"])
    if not _password_matches(buckets, data.current_password, user["password_hash"]):
        audit.record(None, "password_change_failed", actor_id=user["id"], user_id=user["id"], email=user["email"],
                     address=address)
        raise errors.Forbidden("The current password is wrong.", code="wrong_password")
    hashed = auth.hash_password(data.new_password)  # outside the transaction: bcrypt takes a while
    with db.transaction() as conn:
        _refund(conn, buckets)
        conn.one(_SET_PASSWORD, id=user["id"], hash=hashed, required=False)
        ended = _end_sessions(conn, user["id"], "password_changed", keep=principal.session)
        audit.record(conn, "password_changed", actor_id=user["id"], user_id=user["id"], email=user["email"],
                     address=address, forced=user["password_change_required"], sessions_ended=ended)


def reset_password(actor: Principal, user_id: int, temporary: str, address: str = "") -> None:
    """A manager sets a temporary password: the user's sessions end, and they must choose a new one."""
    hashed = auth.hash_password(temporary)
    with db.transaction() as conn:
        user = conn.one(_SET_PASSWORD, id=user_id, hash=hashed, required=True)
        if user is None:
            raise errors.NotFound("No such user.")
        ended = _end_sessions(conn, user_id, "password_reset")
        audit.record(conn, "password_reset", actor_id=actor.id, user_id=user_id, email=user["email"],
                     address=address, sessions_ended=ended)


def refresh(token: str) -> dict[str, Any]:
    """Rotate: the presented token is spent; presenting a spent one revokes its whole family, unless it
    was spent less than REUSE_GRACE_SECONDS ago."""
    claims = auth.decode(token, "refresh")
    reused = False
    with db.transaction() as conn:
        row = conn.one(_REFRESH_ROW, jti=claims["jti"], grace=REUSE_GRACE_SECONDS)
        if row is None or row["revoked_at"] is not None or row["user_id"] != int(claims["sub"]):
            raise errors.Unauthorized("The refresh token is not valid.", code="invalid_token")
        if row["spent_at"] is not None and not row["just_spent"]:
            _end_session(conn, row["user_id"], row["family"], "token_reused")
            reused = True
        else:
            user = conn.one(_SESSION_USER, id=row["user_id"])
            if user is None or not user["is_active"] or user["token_version"] != claims["ver"]:
                raise errors.Unauthorized("The refresh token is no longer valid.", code="invalid_token")
            if row["spent_at"] is None:
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
        row = conn.one(_REFRESH_ROW, jti=claims["jti"], grace=REUSE_GRACE_SECONDS)
        if row is not None:
            _end_session(conn, row["user_id"], row["family"], "logout")


def get(user_id: int) -> dict[str, Any]:
    user = db.one(_BY_ID, id=user_id)
    if user is None:
        raise errors.NotFound("No such user.")
    return user


def page(page: int, per_page: int) -> dict[str, Any]:
    return db.paged(_LIST, _COUNT, page, per_page)


def create(data: UserCreate, actor: Principal | None = None, address: str = "") -> dict[str, Any]:
    """An active account made by a manager: a grant of a role, so it is audited like a change of one."""
    hashed = auth.hash_password(data.password)
    with db.transaction() as conn:
        user = _insert(conn, data.email, data.full_name, hashed, data.role, active=True)
        audit.record(conn, "user_created", actor_id=actor.id if actor else None, user_id=user["id"],
                     email=user["email"], address=address, role=user["role"])
        return user


def create_manager(email: str, full_name: str, password: str, operator: str) -> dict[str, Any]:
    """An active manager, made by an operator's command (gateway.admin); Conflict if the e-mail exists."""
    hashed = auth.hash_password(password)
    with db.transaction() as conn:
        conn.one("SELECT pg_advisory_xact_lock(:k) AS ok", k=_ADMIN_LOCK)
        user = _insert(conn, email, full_name, hashed, "manager", active=True)
        audit.record(conn, "manager_created", user_id=user["id"], email=user["email"], via="command",
                     operator=operator)
        return user


def update(user_id: int, data: UserPatch, actor: Principal | None = None, address: str = "") -> dict[str, Any]:
    with db.transaction() as conn:
        conn.one("SELECT pg_advisory_xact_lock(:k) AS ok", k=_ADMIN_LOCK)
        current = conn.one(_BY_ID, id=user_id)
        if current is None:
            raise errors.NotFound("No such user.")
        demoted = data.role is not None and data.role != "manager"
        deactivated = data.is_active is False
        if current["role"] == "manager" and current["is_active"] and (demoted or deactivated):
            if conn.row(_OTHER_MANAGERS, id=user_id)["n"] == 0:
                raise errors.Conflict("The last active manager cannot be demoted or deactivated.",
                                      code="last_manager")
        user = conn.row(_UPDATE, id=user_id, full_name=data.full_name, role=data.role, is_active=data.is_active)
        who: dict[str, Any] = {"actor_id": actor.id if actor else None, "user_id": user_id, "email": user["email"],
               "address": address}
        if user["role"] != current["role"]:
            audit.record(conn, "role_changed", **who, previous=current["role"], role=user["role"])
        if user["is_active"] != current["is_active"]:
            audit.record(conn, "user_activated" if user["is_active"] else "user_deactivated", **who)
        # Managers' screens follow it live; the realtime server closes the sockets of a user whose
        # tokens this change revoked (deactivated, or a new role).
        events.emit(conn, "user_changed", {"action": "updated", "user": user})
        return user
