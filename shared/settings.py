"""Configuration from the environment, read once on first use; a missing key fails fast by name."""

from __future__ import annotations

import os
from dataclasses import dataclass


class ConfigError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    redis_url: str
    jwt_secret: str
    allow_self_registration: bool
    stream_maxlen: int
    db_pool_size: int
    # mail (shared.mail, shared.services.notify); all optional: with no transport, mail is logged
    public_url: str
    mail_from: str
    alert_email_to: tuple[str, ...]  # empty: every active manager
    sendgrid_api_key: str
    sendgrid_host: str
    smtp_url: str
    mailer_secret: str
    mail_max_attempts: int
    mail_retry_seconds: int  # the first retry's delay; each later one waits twice as long
    mail_timeout: float
    # accounts (shared.auth, shared.services.users)
    first_user_manager: bool = True  # the first registrant becomes an active manager
    jwt_previous_secret: str = ""  # still accepted for verification until jwt_previous_until
    jwt_previous_until: float = 0.0  # seconds since the epoch
    login_limit_pair: int = 5  # attempts per (account, client address) per window
    login_limit_address: int = 50  # attempts per client address per window
    login_limit_account: int = 100  # attempts per account per window, from anywhere
    login_window: int = 15 * 60  # seconds
    bcrypt_concurrency: int = 1  # bcrypt hashes/checks at once per process
    cors_origins: tuple[str, ...] = ()  # browser origins allowed to call the API; "*" for any
    metrics_token: str = ""  # when set, /metrics wants it as a bearer token
    access_ttl: int = 3600
    # GET /items counts its matches exactly up to this many; past it, `total` is an estimate (the
    # catalogue's reltuples for the plain list, else the capped count extrapolated over the table) and
    # `total_estimated` is true (shared.services.items.search)
    exact_total_limit: int = 1_000
    refresh_ttl: int = 7 * 24 * 3600
    # database behind a transaction-mode pooler (README, 'Connection pooling')
    database_direct_url: str = ""  # the database itself, for migrations; unset: database_url
    db_prepared_statements: bool = True  # off for a pooler that cannot keep them (PgBouncer < 1.21)


def _env(name: str, default: str | None = None) -> str:
    # The platform substitutes an unset ${VAR} in project.yml with "": treat that as unset.
    value = os.environ.get(name) or default
    if value is None:
        raise ConfigError(f"{name} is not set; see README.md, 'Configuration'")
    return value


def _list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in _env(name, "").split(",") if part.strip())


def _int(name: str, default: int) -> int:
    return int(number(name, default, int))


def _float(name: str, default: float) -> float:
    return number(name, default, float)


def number(name: str, default: float, kind: type[int] | type[float] = float) -> float:
    """A numeric setting; a value that is not one fails by name."""
    raw = _env(name, str(default))
    try:
        return kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ConfigError(f"{name} must be {what}, not {raw!r}") from None


def _flag(name: str, default: bool) -> bool:
    return _env(name, "true" if default else "false").lower() in ("1", "true", "yes", "on")


def _instant(name: str) -> float:
    """An ISO 8601 time (UTC unless it says otherwise) as seconds since the epoch; unset is 0."""
    import datetime as dt

    raw = _env(name, "")
    if not raw:
        return 0.0
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{name} must be an ISO 8601 time such as 2026-12-01T12:00:00Z, not {raw!r}") from None
    return (value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)).timestamp()


def _database_url() -> str:
    """DATABASE_URL; on Fly.io in a region other than PRIMARY_REGION, DATABASE_REPLICA_URL when set: that
    region's read replica (README, 'Fly.io'; the gateway sends writes to the primary, gateway.fly)."""
    here, primary = os.environ.get("FLY_REGION", "").strip(), os.environ.get("PRIMARY_REGION", "").strip()
    replica = os.environ.get("DATABASE_REPLICA_URL", "")
    if replica and here and primary and here != primary:
        return replica
    return _env("DATABASE_URL")


def _load() -> Settings:
    secret = _env("JWT_SECRET")
    if len(secret) < 32:
        raise ConfigError("JWT_SECRET must be at least 32 characters")
    # A rotation: the old secret verifies tokens until a stated time, so nobody is signed out at once.
    previous = _env("JWT_PREVIOUS_SECRET", "")
    previous_until = _instant("JWT_PREVIOUS_SECRET_UNTIL")
    if previous and not previous_until:
        raise ConfigError("JWT_PREVIOUS_SECRET needs JWT_PREVIOUS_SECRET_UNTIL, the end of the rotation window")
    return Settings(
        database_url=_database_url(),
        redis_url=_env("REDIS_URL"),
        jwt_secret=secret,
        allow_self_registration=_flag("ALLOW_SELF_REGISTRATION", True),
        stream_maxlen=_int("IMS_STREAM_MAXLEN", 100_000),
        db_pool_size=_int("IMS_DB_POOL_SIZE", 8),
        database_direct_url=_env("DATABASE_DIRECT_URL", ""),
        db_prepared_statements=_flag("DATABASE_PREPARED_STATEMENTS", True),
        # Unset when deployed: mail carries no link rather than a wrong one. The local gateway gives
        # its own address as the default (local_default).
        public_url=_env("PUBLIC_URL", _local_defaults.get("PUBLIC_URL", "")).rstrip("/"),
        mail_from=_env("MAIL_FROM", "IMS <ims@localhost>"),
        alert_email_to=_list("ALERT_EMAIL_TO"),
        sendgrid_api_key=_env("SENDGRID_API_KEY", ""),
        sendgrid_host=_env("SENDGRID_API_HOST", "https://api.sendgrid.com").rstrip("/"),
        smtp_url=_env("SMTP_URL", ""),
        mailer_secret=_env("MAILER_SECRET", ""),
        mail_max_attempts=max(1, _int("MAIL_MAX_ATTEMPTS", 5)),
        mail_retry_seconds=max(0, _int("MAIL_RETRY_SECONDS", 60)),
        mail_timeout=_float("MAIL_TIMEOUT_SECONDS", 10.0),
        first_user_manager=_flag("FIRST_USER_MANAGER", True),
        jwt_previous_secret=previous,
        jwt_previous_until=previous_until,
        login_limit_pair=max(1, _int("LOGIN_LIMIT_PER_ACCOUNT_ADDRESS", 5)),
        login_limit_address=max(1, _int("LOGIN_LIMIT_PER_ADDRESS", 50)),
        login_limit_account=max(1, _int("LOGIN_LIMIT_PER_ACCOUNT", 100)),
        login_window=max(1, _int("LOGIN_WINDOW_SECONDS", 15 * 60)),
        bcrypt_concurrency=max(1, _int("IMS_BCRYPT_CONCURRENCY", max(1, (os.cpu_count() or 2) // 2))),
        cors_origins=tuple(origin.rstrip("/") for origin in _list("CORS_ORIGINS")),
        metrics_token=_env("METRICS_TOKEN", ""),
        exact_total_limit=max(0, _int("IMS_EXACT_TOTAL_LIMIT", 1_000)),
    )


_settings: Settings | None = None
_local_defaults: dict[str, str] = {}


def local_default(name: str, value: str) -> None:
    """A default only this process knows (the local gateway's own address for PUBLIC_URL); the
    environment still wins. Settings read before are read again with it."""
    global _settings
    if _local_defaults.get(name) != value:
        _local_defaults[name] = value
        _settings = None


def get() -> Settings:
    global _settings
    if _settings is None:
        _settings = _load()
    return _settings


def reset() -> None:
    """Forget what was read (tests that change the environment)."""
    global _settings
    _settings = None
