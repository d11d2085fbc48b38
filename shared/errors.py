"""Typed errors. Functions raise these; shared.http turns them into problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any


class HTTPError(Exception):
    status = 500
    code = "internal_error"
    title = "Internal Server Error"

    def __init__(self, detail: str | None = None, *, code: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if code:
            self.code = code
        self.headers = headers or {}
        self.extra = extra  # additional problem members, e.g. available=3


class BadRequest(HTTPError):
    status, code, title = 400, "bad_request", "Bad Request"


class Unauthorized(HTTPError):
    status, code, title = 401, "unauthorized", "Unauthorized"

    def __init__(self, detail: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kw)


class Forbidden(HTTPError):
    status, code, title = 403, "forbidden", "Forbidden"


class NotFound(HTTPError):
    status, code, title = 404, "not_found", "Not Found"


class MethodNotAllowed(HTTPError):
    status, code, title = 405, "method_not_allowed", "Method Not Allowed"


class Conflict(HTTPError):
    status, code, title = 409, "conflict", "Conflict"


class PreconditionFailed(HTTPError):
    status, code, title = 412, "precondition_failed", "Precondition Failed"


class PayloadTooLarge(HTTPError):
    status, code, title = 413, "payload_too_large", "Payload Too Large"


class UnsupportedMediaType(HTTPError):
    status, code, title = 415, "unsupported_media_type", "Unsupported Media Type"


class ValidationFailed(HTTPError):
    """422; `errors` is a list of {"loc": [...], "msg": str, "type": str}."""

    status, code, title = 422, "validation_error", "Unprocessable Content"

    def __init__(self, errors: list[dict[str, Any]], detail: str = "The request is not valid.") -> None:
        super().__init__(detail, errors=errors)


class TooManyRequests(HTTPError):
    status, code, title = 429, "too_many_requests", "Too Many Requests"


class ServiceUnavailable(HTTPError):
    status, code, title = 503, "service_unavailable", "Service Unavailable"


class Unavailable(Exception):
    """A dependency is down: not the request's fault, so the boundary answers 503 with `Retry-After`.

    Raised by the module that talks to the dependency (shared.db, the outbox publisher), which logs
    the outage once (shared.outage); the boundary adds no line of its own. The exception's text is the
    reason, for the log; the client gets only `detail`."""

    code = "service_unavailable"
    detail = "A service this request needs is unavailable; retry shortly."
    retry_after = 5  # seconds; the embedded servers restart within this, a managed failover soon after

    def problem(self) -> ServiceUnavailable:
        return ServiceUnavailable(self.detail, code=self.code, headers={"Retry-After": str(self.retry_after)})
