"""The realtime server's own settings, read once from the environment.

DATABASE_URL, REDIS_URL and JWT_SECRET come through shared.settings like everywhere else; these are
only what a long-running WebSocket process needs on top.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from shared.settings import ConfigError, number


@dataclass(frozen=True, slots=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 8001
    ping_interval: float = 20.0  # seconds between heartbeat pings; a pong missing as long again closes
    auth_timeout: float = 5.0  # seconds a client has to send its token when it did not put it in the URL
    client_buffer: int = 256 * 1024  # bytes queued for one client before it counts as too slow
    catch_up_limit: int = 10_000  # live events held for a client while its replay runs
    stream_max_age: float = 0.0  # seconds of history the stream keeps (0: only IMS_STREAM_MAXLEN)
    close_timeout: float = 2.0  # seconds a closing handshake may take before the socket is dropped
    # Browser origins (the Origin header) allowed to open the feed; None: any. A client that sends
    # no Origin (not a browser: a server, a script) is always let in; it cannot be a forged page.
    origins: tuple[str, ...] | None = None


def _number(name: str, default: float, kind: type[int] | type[float] = float) -> float:
    value = number(name, default, kind)
    if value < 0:
        raise ConfigError(f"{name} must not be negative")
    return value


def load() -> Config:
    defaults = Config()
    return Config(
        host=os.environ.get("IMS_WS_HOST") or os.environ.get("IMS_HOST") or defaults.host,
        port=int(_number("IMS_WS_PORT", defaults.port, int)),
        ping_interval=_number("IMS_WS_PING_INTERVAL", defaults.ping_interval),
        auth_timeout=_number("IMS_WS_AUTH_TIMEOUT", defaults.auth_timeout),
        client_buffer=int(_number("IMS_WS_CLIENT_BUFFER", defaults.client_buffer, int)),
        stream_max_age=_number("IMS_STREAM_MAX_AGE", defaults.stream_max_age),
        origins=_origins(os.environ.get("IMS_WS_ORIGINS", "")),
    )


def _origins(raw: str) -> tuple[str, ...] | None:
    origins = tuple(part.strip().rstrip("/") for part in raw.split(",") if part.strip())
    return None if not origins or "*" in origins else origins
