"""Fly.io multi-region: reads are answered in every region, writes only in the primary one.

Fly runs the gateway in several regions and sets FLY_REGION in each machine; `fly deploy` sets
PRIMARY_REGION from fly.toml's `primary_region` (infra/fly/api.toml), the region of the writable
database. Elsewhere DATABASE_URL reaches that region's read replica (README, 'Fly.io'), so:

- a write (POST, PUT, PATCH, DELETE) outside the primary region is answered 409 with
  `fly-replay: region=<primary>` before its body is read or any function runs; Fly's proxy then sends
  the same request to the primary region, and the client sees only that answer;
- a function whose transaction the replica refused as read-only (SQLSTATE 25006, a write hiding behind
  a read) is replayed the same way: the refused transaction wrote nothing;
- a successful write in the primary region sets a short-lived cookie, and a read that carries it is
  replayed to the primary too, so a client reads its own writes while the replicas catch up.

The cookie is SameSite=Lax: a browser app on another origin gets read-your-own-writes only if its requests
are credentialed (fetch's `credentials: "include"`, CORS allowing credentials); without cookies a client may
read a replica a moment behind its own write. And a captured write runs twice, first in the replica (where
the database refused it, so that transaction wrote nothing) and again in the primary: a read handler (GET)
must therefore write only to the database, never to mail, Redis or another service, or that would happen
twice.

Nothing changes unless both FLY_REGION and PRIMARY_REGION are set. An OPTIONS preflight is never
replayed: it writes nothing, and the browser sends it without cookies.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

Headers = list[tuple[str, str]]

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
COOKIE = "ims-fly-primary"  # its value: when the client's reads may go back to its own region (Unix time)
READ_ONLY_CODE = "database_read_only"  # the functions' 503 for a write the replica refused (shared.http)


@dataclass(frozen=True)
class Regions:
    """Where this machine runs and where the writable database is; `sticky` is how many seconds after a
    write a client's reads still go to the primary (IMS_FLY_STICKY_SECONDS, default 5)."""

    here: str
    primary: str
    sticky: int = 5
    clock: Callable[[], float] = field(default=time.time, compare=False)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Regions | None:
        """The regions from the environment; None off Fly (either variable unset)."""
        env = dict(os.environ if env is None else env)
        here, primary = env.get("FLY_REGION", "").strip(), env.get("PRIMARY_REGION", "").strip()
        if not here or not primary:
            return None
        raw = env.get("IMS_FLY_STICKY_SECONDS", "").strip() or "5"
        if not raw.isdigit():
            raise ValueError(f"IMS_FLY_STICKY_SECONDS must be a whole number of seconds, not {raw!r}")
        return cls(here, primary, int(raw))

    @property
    def is_primary(self) -> bool:
        return self.here == self.primary

    def before(self, method: str, cookie_header: str) -> tuple[int, Headers, bytes] | None:
        """The replay answer for a request this region must not serve, or None to serve it here."""
        if self.is_primary or method == "OPTIONS":
            return None
        if method in WRITES:
            return self.replay("write")
        if self._recent_writer(cookie_header):
            return self.replay("read_own_write")
        return None

    def after(self, method: str, status: int, headers: Headers, payload: bytes) -> tuple[int, Headers, bytes] | None:
        """What a served request's answer becomes: a replay, in a replica region, when the database
        refused a write as read-only; else the answer itself, with the cookie after a successful write
        in the primary region. None: the answer stands as it is."""
        if not self.is_primary:
            return self.replay("captured_write") if status == 503 and _code(payload) == READ_ONLY_CODE else None
        if method in WRITES and status < 400 and self.sticky:
            until = math.ceil(self.clock()) + self.sticky
            cookie = f"{COOKIE}={until}; Max-Age={self.sticky}; Path=/; HttpOnly; Secure; SameSite=Lax"
            return status, headers + [("Set-Cookie", cookie)], payload
        return None

    def replay(self, state: str) -> tuple[int, Headers, bytes]:
        """409 with `fly-replay`: Fly's proxy answers the client from the primary region instead; `state`
        reaches the primary in the `fly-replay-src` header (why it was replayed, for its logs)."""
        body = {"type": "about:blank", "title": "Conflict", "status": 409, "code": "replay_in_primary",
                "detail": f"This request is served in region {self.primary}."}
        headers = [("fly-replay", f"region={self.primary};state={state}"),
                   ("Content-Type", "application/problem+json")]
        return 409, headers, json.dumps(body).encode()

    def _recent_writer(self, cookie_header: str) -> bool:
        for part in cookie_header.split(";"):
            name, _, value = part.strip().partition("=")
            if name == COOKIE and value.strip().isdigit():
                return self.clock() < int(value.strip())
        return False


def _code(payload: bytes) -> str:
    """The `code` of a problem+json body, or ""."""
    try:
        body = json.loads(payload)
    except ValueError:
        return ""
    return str(body.get("code", "")) if isinstance(body, dict) else ""
