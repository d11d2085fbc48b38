"""CORS: which browser origins may call the API (CORS_ORIGINS), and the preflight answer.

Implemented once, at the function boundary (shared.http), because on DigitalOcean a function with
the `web-custom-options: true` annotation answers OPTIONS itself; the local gateway routes OPTIONS to
the function the same way and adds the same headers to its own answers (/openapi.json, its errors).
Unset, no CORS header is sent and browsers keep other origins out, as before.
"""

from __future__ import annotations

from shared import settings

ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, X-Request-Id"
EXPOSE_HEADERS = "ETag, Link, Retry-After, X-Request-Id, Idempotent-Replayed"
MAX_AGE = "600"  # seconds a browser may reuse a preflight answer


def headers(origin: str | None) -> dict[str, str]:
    """The CORS headers for a response to a request from `origin` (its Origin header)."""
    allowed = settings.get().cors_origins
    if not allowed:
        return {}
    out = {"Vary": "Origin"}  # the answer depends on the Origin: caches must keep them apart
    if origin and ("*" in allowed or origin in allowed):
        out["Access-Control-Allow-Origin"] = "*" if "*" in allowed else origin
        out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
    return out


def is_preflight(method: str, requested: str | None) -> bool:
    return method.upper() == "OPTIONS" and bool(requested)


def preflight(origin: str | None, methods: str) -> dict[str, str]:
    """The headers of the 204 that answers a preflight for a resource served by `methods`."""
    out = {"Allow": f"{methods}, OPTIONS", **headers(origin)}
    if "Access-Control-Allow-Origin" in out:
        out.update({"Access-Control-Allow-Methods": methods, "Access-Control-Allow-Headers": ALLOW_HEADERS,
                    "Access-Control-Max-Age": MAX_AGE})
    return out
