"""HTTP in, OpenWhisk `web: raw` event out; a function's result dict in, HTTP out.

This is the one fake of the platform: the gateway and the tests both build events here, so a
function that works locally sees exactly what it will see once deployed.
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from shared import errors
from shared.http import problem

log = logging.getLogger("ims.gateway")

Headers = list[tuple[str, str]]

# OpenWhisk hands these bodies over as plain text; everything else (binary, and JSON) base64.
_TEXTUAL = ("text/", "application/x-www-form-urlencoded")


# Refusals only the gateway makes; the functions' own errors live in shared.errors.
class LengthRequired(errors.HTTPError):
    status, code, title = 411, "length_required", "Length Required"


class BadGateway(errors.HTTPError):
    status, code, title = 502, "bad_gateway", "Bad Gateway"


def build_event(method: str, path_suffix: str, query_string: str,
                headers: Mapping[str, str] | Iterable[tuple[str, str]], body: bytes) -> dict[str, Any]:
    """The args OpenWhisk passes to a `web: raw` action for this request.

    `path_suffix` is what follows the function's own URL ("/42" or ""); `query_string` is raw,
    without the "?".
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    lowered: dict[str, str] = {}
    for name, value in pairs:
        key = name.lower()
        # A repeated header arrives once, its values joined, as HTTP allows for list-valued fields.
        lowered[key] = f"{lowered[key]}, {value}" if key in lowered else value
    content_type = lowered.get("content-type", "").lower()
    if not body:
        raw_body = ""
    elif content_type.startswith(_TEXTUAL):
        raw_body = body.decode("utf-8", errors="replace")
    else:
        raw_body = base64.b64encode(body).decode("ascii")
    return {
        "__ow_method": method.lower(),
        "__ow_headers": lowered,
        "__ow_path": path_suffix,
        "__ow_query": query_string,
        "__ow_body": raw_body,
    }


def _result_headers(raw: Any) -> Headers:
    out: Headers = []
    if not isinstance(raw, dict):
        return out
    for name, value in raw.items():
        # OpenWhisk accepts a list for a header sent several times (Set-Cookie).
        for item in value if isinstance(value, list) else [value]:
            out.append((str(name), str(item)))
    return out


def has_header(headers: Headers, name: str) -> bool:
    name = name.lower()
    return any(k.lower() == name for k, _ in headers)


def to_http(result: Any, request_id: str) -> tuple[int, Headers, bytes]:
    """Turn what main() returned into (status, headers, body) the way the platform does."""
    if not isinstance(result, dict):
        log.error("function returned %s instead of a dict (request %s)", type(result).__name__, request_id)
        return to_http(problem(BadGateway("The function returned an invalid response."), request_id),
                       request_id)
    headers = _result_headers(result.get("headers"))
    body = result.get("body")
    if body is None or body == "":
        payload = b""
    elif isinstance(body, (dict, list)):
        # The platform serializes a JSON body itself.
        payload = json.dumps(body, separators=(",", ":")).encode()
        if not has_header(headers, "content-type"):
            headers.append(("Content-Type", "application/json"))
    else:
        payload = str(body).encode()
        if not has_header(headers, "content-type"):
            headers.append(("Content-Type", "text/html; charset=utf-8"))
    status = result.get("statusCode")
    if not isinstance(status, int) or not 100 <= status <= 599:
        status = 200 if payload else 204
    return status, headers, payload


def error(exc: errors.HTTPError, request_id: str) -> tuple[int, Headers, bytes]:
    """A gateway-level refusal (404, 405, 413…) as problem+json, shaped like the functions' own."""
    return to_http(problem(exc, request_id), request_id)
