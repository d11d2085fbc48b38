"""Health, and who may read the Prometheus metrics (their gauges: shared.services.metrics)."""

from __future__ import annotations

from shared import db, events, settings


def health() -> tuple[bool, dict[str, str]]:
    checks = {}
    try:
        db.one("SELECT 1 AS ok")
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"down: {exc.__class__.__name__}"
    try:
        events.redis_client().ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"down: {exc.__class__.__name__}"
    return all(v == "ok" for v in checks.values()), checks


def metrics_allowed(authorization: str | None) -> bool:
    """/metrics holds business figures: with METRICS_TOKEN set, only `Bearer <METRICS_TOKEN>` reads
    them (Prometheus sends it with `authorization: {credentials: …}`); unset, anyone may."""
    import hmac

    expected = settings.get().metrics_token
    if not expected:
        return True
    scheme, _, token = (authorization or "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())
