"""The HTTP boundary: platform event -> Request, handler result -> response, errors -> problem+json.

Every function is `main = handler(...)(fn)`: the decorator parses the OpenWhisk `web: raw` event
(or DigitalOcean's `http` form), authenticates, validates the query string and body with pydantic,
runs `fn(request)` and serializes what it returns. Nothing else in the code base reads raw args.
"""

from __future__ import annotations

import base64
import binascii
import decimal
import json
import logging
import os
import uuid
from typing import TYPE_CHECKING, Any, Callable, cast
from urllib.parse import parse_qsl

from shared import cors, errors
from shared.jsontext import dumps  # re-exported: responses are written with it
from shared.services import idempotency
from shared.types import Request, Response, Spec  # the functions import Request and Response from here

if TYPE_CHECKING:
    from pydantic import BaseModel

log = logging.getLogger("ims")

MAX_BODY = 1 << 20
AUTH_LEVELS = ("public", "staff", "manager")
_TEXTUAL = ("text/", "application/x-www-form-urlencoded")


# --- event parsing -----------------------------------------------------------------------------

def _decode_body(raw: Any, content_type: str, is_base64: bool | None) -> bytes:
    if raw is None or raw == "":
        return b""
    if isinstance(raw, (dict, list)):  # some invokers hand over an already-parsed JSON body
        return json.dumps(raw).encode()
    text = str(raw)
    if is_base64 is None:
        # OpenWhisk `web: raw` base64-encodes binary and JSON bodies and passes text as is;
        # a JSON document never starts with a base64 character, so the attempt is unambiguous.
        is_base64 = not content_type.startswith(_TEXTUAL) and not text.lstrip().startswith(("{", "["))
    if is_base64:
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    return text.encode()


def _text(value: Any, name: str) -> str:
    """An event field that must be a string when present; anything else is the caller's mistake."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise errors.BadRequest(f"The event's {name} must be a string.", code="malformed_event")
    return value


def _headers(raw: Any) -> dict[str, str]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise errors.BadRequest("The event's headers must be an object.", code="malformed_event")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in raw.items()):
        raise errors.BadRequest("The event's header names and values must be strings.", code="malformed_event")
    return {k.lower(): v for k, v in raw.items()}


def parse_event(args: dict[str, Any]) -> Request:
    """Build a Request from either `http: {...}` (DigitalOcean) or the `__ow_*` keys (OpenWhisk).

    A malformed event (headers that are not an object of strings, a method, path, query or body of
    the wrong type) is a 400: the platform never sends one, so whoever did gets told, not a 500."""
    http = args.get("http")
    if isinstance(http, dict):
        method, headers, path = http.get("method"), http.get("headers"), http.get("path")
        query, raw_body, b64 = http.get("queryString"), http.get("body"), http.get("isBase64Encoded")
        if b64 is not None and not isinstance(b64, bool):
            raise errors.BadRequest("The event's isBase64Encoded must be a boolean.", code="malformed_event")
    else:
        method, headers, path = args.get("__ow_method"), args.get("__ow_headers"), args.get("__ow_path")
        query, raw_body, b64 = args.get("__ow_query"), args.get("__ow_body"), None
    headers = _headers(headers)
    if not (raw_body is None or isinstance(raw_body, (str, dict, list))):
        raise errors.BadRequest("The event's body must be a string.", code="malformed_event")
    body = _decode_body(raw_body, headers.get("content-type", "").lower(), b64)
    if len(body) > MAX_BODY:
        raise errors.PayloadTooLarge(f"The body may be at most {MAX_BODY} bytes.")
    request_id = headers.get("x-request-id") or os.environ.get("__OW_ACTIVATION_ID") or uuid.uuid4().hex
    return Request(
        method=(_text(method, "method") or "get").upper(),
        path=_text(path, "path"),
        headers=headers,
        raw_query=_text(query, "query string"),
        body=body,
        request_id=request_id[:64],
    )


def _path_id(path: str) -> int:
    part = path.strip("/")
    # isascii(): str.isdigit() also accepts "²" (int() then raises) and "١٢" (an alias of 12).
    if not (part.isascii() and part.isdigit()) or len(part) > 18:
        raise errors.NotFound("No such resource.")
    return int(part)


# --- validation --------------------------------------------------------------------------------

def _validation_errors(exc: Any, where: str) -> errors.ValidationFailed:
    # Keep only loc/msg/type: pydantic's `input` and `ctx` may echo secrets or internals.
    items = [{"loc": [where, *e["loc"]], "msg": e["msg"], "type": e["type"]} for e in exc.errors()]
    return errors.ValidationFailed(items)


def _reject_nul(values: dict[str, Any], where: str) -> None:
    # PostgreSQL text cannot hold NUL ("\u0000" in JSON, %00 in a query): a 422 here, not a 500 there.
    bad = [name for name, value in values.items() if isinstance(value, str) and "\x00" in value]
    if bad:
        raise errors.ValidationFailed([{"loc": [where, name], "msg": "Must not contain NUL characters",
                                        "type": "string_nul"} for name in bad])


def _validate_query(model: type[BaseModel], raw: str) -> Any:
    from pydantic import ValidationError

    pairs = parse_qsl(raw, keep_blank_values=True)
    values = dict(pairs)
    if len(values) < len(pairs):  # ?sku=A&sku=B: no parameter here takes a list; refuse rather than pick one
        repeated = sorted({name for name, _ in pairs if sum(1 for n, _ in pairs if n == name) > 1})
        raise errors.ValidationFailed([{"loc": ["query", name], "msg": "Give this parameter once",
                                        "type": "duplicate_parameter"} for name in repeated])
    _reject_nul(values, "query")
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise _validation_errors(exc, "query") from None


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or (media_type.startswith("application/") and media_type.endswith("+json"))


def _json_error(msg: str, kind: str = "json_invalid", *loc: str) -> errors.ValidationFailed:
    return errors.ValidationFailed([{"loc": ["body", *loc], "msg": msg, "type": kind}])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # {"quantity": 1, "quantity": 1000} means 1000 to one parser and 1 to another: refuse it.
    obj: dict[str, Any] = {}
    for key, value in pairs:
        if key in obj:
            raise _json_error("Duplicate key in a JSON object", "duplicate_key", key)
        obj[key] = value
    return obj


def _number(text: str) -> Any:
    # JSON Schema counts 1.0 (and 1e2) as an integer; so does this parser. Other fractions stay floats.
    value = decimal.Decimal(text)
    if value == value.to_integral_value() and abs(value) < 10**30:
        return int(value)
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise _json_error("Number out of range", "json_number")
    return number


def _refuse_constant(name: str) -> Any:
    raise _json_error(f"{name} is not JSON", "json_number")


def _parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"), object_pairs_hook=_unique_keys, parse_float=_number,
                          parse_constant=_refuse_constant)
    except UnicodeDecodeError:
        raise _json_error("The body is not UTF-8") from None
    except RecursionError:
        raise _json_error("The JSON is nested too deeply", "json_depth") from None
    except json.JSONDecodeError as exc:
        raise _json_error(f"Invalid JSON: {exc.args[0] if exc.args else exc}"[:200]) from None
    except ValueError:  # an integer of more than 4300 digits
        raise _json_error("Number out of range", "json_number") from None


def _validate_body(model: type[BaseModel], body: bytes, content_type: str | None = None) -> Any:
    """The body as `model`: JSON only (415 for another media type), no duplicate keys, strict types."""
    from pydantic import ValidationError

    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type and not _is_json(media_type):
        raise errors.UnsupportedMediaType("Send the body as application/json.")
    if not body.strip():
        raise errors.ValidationFailed([{"loc": ["body"], "msg": "A JSON body is required", "type": "missing"}])
    try:
        parsed = _parse_json(body)
    except errors.ValidationFailed as exc:
        if not media_type and exc.extra["errors"][0]["type"] == "json_invalid":
            # no Content-Type and no JSON document at all (not one JSON refuses to take, such as
            # NaN or 1e400): the body is of some other kind
            raise errors.UnsupportedMediaType("Send the body as application/json.") from None
        raise
    try:
        # Validated as JSON text, so pydantic's strict JSON rules apply (a decimal may be a string).
        data = model.model_validate_json(json.dumps(parsed), strict=True)
    except ValidationError as exc:
        raise _validation_errors(exc, "body") from None
    _reject_nul(dict(data), "body")
    return data


def _media_type(content_type: str | None) -> tuple[str, str]:
    """("type/subtype", charset) of a Content-Type header, both lower-cased ("" when absent)."""
    kind, _, params = (content_type or "").partition(";")
    charset = ""
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower()
    return kind.strip().lower(), charset


def _text_body(body: bytes, content_type: str | None, media_type: str) -> str:
    """A text body of `media_type` in UTF-8, decoded (a byte order mark dropped): 415 for another media
    type or charset, 422 for an empty body or one that is not UTF-8. What the text must say is the
    function's to check."""
    kind, charset = _media_type(content_type)
    if kind != media_type or charset not in ("", "utf-8", "utf8"):
        raise errors.UnsupportedMediaType(f"Send the body as {media_type}; charset=utf-8.")
    if not body:
        raise errors.ValidationFailed([{"loc": ["body"], "msg": f"A {media_type} body is required",
                                        "type": "missing"}])
    try:
        return body.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        raise errors.ValidationFailed([{"loc": ["body"], "msg": "The body is not UTF-8",
                                        "type": "unicode_decode"}]) from None


def next_link(raw_query: str, **params: str) -> str:
    """A `Link` to the next page: this request's query with `params` replaced, as a relative reference
    (`<?…>`), so it resolves against whatever URL the client called (a REST route, a function URL, a
    deployment behind another prefix)."""
    from urllib.parse import urlencode

    pairs = [(k, v) for k, v in parse_qsl(raw_query, keep_blank_values=True) if k not in params]
    return f'<?{urlencode([*pairs, *params.items()])}>; rel="next"'


def _raw_origin(args: Any) -> str | None:
    """The Origin header of an event parse_event refused, if it can still be read."""
    if not isinstance(args, dict):
        return None
    http = args.get("http")
    headers = http.get("headers") if isinstance(http, dict) else args.get("__ow_headers")
    origin = headers.get("origin") if isinstance(headers, dict) else None
    return origin if isinstance(origin, str) else None


def _with_cors(result: dict[str, Any], origin: str | None) -> dict[str, Any]:
    try:
        result["headers"].update(cors.headers(origin))
    except Exception:  # configuration unreadable: the answer stands, without CORS
        log.exception("CORS headers (request %s)", result["headers"].get("X-Request-Id", "-"))
    return result


def _check_if_match(value: str | None) -> None:
    # An empty If-Match names no version at all: refused, rather than read as "none matches" (412).
    if value is not None and not value.strip(" \t,"):
        raise errors.ValidationFailed([{"loc": ["header", "If-Match"], "msg": "Name a version or *",
                                        "type": "if_match"}])


# --- responses ---------------------------------------------------------------------------------

def respond(result: Any, status: int, request_id: str, etag: bool = False,
            text_type: str = "text/plain") -> dict[str, Any]:
    """The function's result: a dict or list as JSON, a str as UTF-8 text of `text_type` (unless the
    Response names its own Content-Type), None as an empty answer."""
    res = result if isinstance(result, Response) else Response(result, status)
    headers = {"X-Request-Id": request_id, **res.headers}
    if etag and isinstance(res.body, dict) and "version" in res.body:
        headers.setdefault("ETag", f'"{res.body["version"]}"')
    if res.body is None:
        return {"statusCode": 204 if res.status == 200 else res.status, "headers": headers, "body": ""}
    if isinstance(res.body, str):
        headers.setdefault("Content-Type", f"{text_type}; charset=utf-8")
        return {"statusCode": res.status, "headers": headers, "body": res.body}
    headers.setdefault("Content-Type", "application/json")
    return {"statusCode": res.status, "headers": headers, "body": dumps(res.body)}


def problem(exc: errors.HTTPError, request_id: str) -> dict[str, Any]:
    body = {
        "type": f"https://ims.dev/problems/{exc.code.replace('_', '-')}",
        "title": exc.title,
        "status": exc.status,
        "detail": exc.detail,
        "code": exc.code,
        "request_id": request_id,
        **exc.extra,
    }
    headers = {"Content-Type": "application/problem+json", "X-Request-Id": request_id, **exc.headers}
    return {"statusCode": exc.status, "headers": headers, "body": dumps(body)}


def unexpected(request_id: str) -> dict[str, Any]:
    """The opaque 500 for a surprise: nothing about it leaves; the log has it under the request id."""
    return problem(errors.HTTPError("An unexpected error occurred; quote the request id."), request_id)


def _function_name(fn: Callable[..., Any]) -> str:
    """"<package>/<function>" for the log: from the platform's `__OW_ACTION_NAME` ("/<namespace>/<package>/
    <function>", set for each activation) when there is one, else from the file's folder (locally,
    functions/<package>/<function>/; deployed, the code sits in a folder the platform names)."""
    deployed = os.environ.get("__OW_ACTION_NAME", "").strip("/").split("/")
    if len(deployed) >= 3:
        return "/".join(deployed[-2:])
    return "/".join(os.path.normpath(fn.__code__.co_filename).split(os.sep)[-3:-1])


# --- the decorator -----------------------------------------------------------------------------

def handler(method: str, *, auth: str = "staff", body: type[BaseModel] | type[str] | None = None,
            query: type[BaseModel] | None = None, response: Any = None, status: int = 200,
            path_id: bool = False, raises: tuple[int, ...] | dict[int, Any] = (), etag: bool = False,
            if_match: bool = False, password_change_exempt: bool = False, idempotent: bool = True,
            body_media_type: str | None = None, response_media_type: str | tuple[str, ...] | None = None,
            response_headers: tuple[str, ...] = (),
            ) -> Callable[[Callable[[Request], Any]], Callable[..., dict[str, Any]]]:
    """Turn `fn(request) -> result` into an OpenWhisk `main(args, context=None)`.

    What it declares is what /openapi.json says: 401/403 follow from `auth`, 404 from `path_id`,
    413/415/422 from `body` (422 from `query`), 503 for everyone; `raises` adds the function's own
    outcomes (409 conflicts, 429 throttling…; `{503: Health}` for one answered with a body of its
    own rather than a problem), `etag` the ETag of a success (the row's version), `if_match` the
    If-Match precondition (412). An authenticated POST honours Idempotency-Key unless declared
    `idempotent=False`: one whose body holds a password, which must not be kept (not even hashed
    quickly, as the replay check keeps bodies) nor run inside the replay's transaction.

    A user whose password a manager reset may only call the functions declared
    `password_change_exempt=True` (their own account: change the password, me, logout) until they
    chose a new one; everything else answers 403 `password_change_required`.

    Bodies are JSON unless declared otherwise: `body=str, body_media_type="text/csv"` hands the function
    the body as text (`req.data`), refusing another media type (415); `response=str,
    response_media_type="text/csv"` (or several, when the function picks one and says so in its
    Content-Type) answers text. `response_headers` names documented headers a success may carry
    (`Link`)."""
    if auth not in AUTH_LEVELS:
        raise ValueError(f"auth must be one of {AUTH_LEVELS}, not {auth!r}")
    text_body = body is str
    json_model = cast("type[BaseModel] | None", None if text_body else body)
    body_media = body_media_type or ("text/plain" if text_body else "application/json")
    if not text_body and not _is_json(body_media):
        raise ValueError(f"a body model is read from JSON, not {body_media}; declare body=str for text")
    if isinstance(response_media_type, str):
        response_media_type = (response_media_type,)
    response_media = response_media_type or (("text/plain",) if response is str else ("application/json",))
    method = method.upper()
    idempotent = idempotent and method == "POST" and auth != "public"

    def wrap(fn: Callable[[Request], Any]) -> Callable[..., dict[str, Any]]:
        local_name = _function_name(fn)

        def main(args: dict[str, Any], context: Any = None) -> dict[str, Any]:
            try:
                req = parse_event(args if isinstance(args, dict) else {})
            except errors.HTTPError as exc:  # a 413 or a malformed event: a browser must still read it
                return _with_cors(problem(exc, "-"), _raw_origin(args))
            except Exception:
                log.exception("unhandled error in %s (unparsable event)", _function_name(fn))
                return unexpected("-")
            return _with_cors(answer(req), req.header("origin"))

        def answer(req: Request) -> dict[str, Any]:
            request_id = req.request_id
            try:
                if cors.is_preflight(req.method, req.header("access-control-request-method")):
                    return {"statusCode": 204, "headers": {"X-Request-Id": request_id,
                                                           **cors.preflight(req.header("origin"), method)},
                            "body": ""}
                if req.method != method:
                    raise errors.MethodNotAllowed(f"Use {method}.", headers={"Allow": method})
                if auth != "public":
                    from shared import auth as _auth

                    req.user = _auth.authenticate(req.header("authorization"), auth,
                                                  password_change_exempt=password_change_exempt)
                if path_id:
                    req.id = _path_id(req.path)
                elif req.path.strip("/"):
                    raise errors.NotFound("No such resource.")
                if query is not None:
                    req.params = _validate_query(query, req.raw_query)
                if text_body:
                    req.data = _text_body(req.body, req.header("content-type"), body_media)
                elif json_model is not None:
                    req.data = _validate_body(json_model, req.body, req.header("content-type"))
                if if_match:
                    _check_if_match(req.header("if-match"))
                if idempotent and req.header("idempotency-key") is not None:
                    # Deployed, every function file is main__.py: the platform's action name tells them apart.
                    action = os.environ.get("__OW_ACTION_NAME") or local_name
                    return idempotency.run(req, action, lambda: respond(fn(req), status, request_id, etag,
                                                                         response_media[0]))
                return respond(fn(req), status, request_id, etag, response_media[0])
            except errors.HTTPError as exc:
                return problem(exc, request_id)
            except errors.Unavailable as exc:  # a dependency is down: its module logged the outage once
                return problem(exc.problem(), request_id)
            except Exception:  # the one place a surprise becomes an opaque 500
                log.exception("unhandled error in %s (request %s)", _function_name(fn), request_id)
                return unexpected(request_id)

        main.spec = Spec(method, auth, body, query, response, status,  # type: ignore[attr-defined]
                         (fn.__doc__ or "").strip(), path_id, tuple(raises),
                         dict(raises) if isinstance(raises, dict) else {}, etag, if_match, password_change_exempt,
                         idempotent, body_media, response_media, response_headers)
        main.__doc__ = fn.__doc__
        return main

    return wrap


# --- functions run with plain parameters ---------------------------------------------------------

def _whisk_secret(req: Request, setting: str) -> None:
    import hmac

    from shared import settings

    expected = getattr(settings.get(), setting)
    if not expected:  # an unset secret must not leave the function open to anyone
        raise errors.ServiceUnavailable(f"{setting.upper()} is not configured; this function refuses HTTP calls.")
    if not hmac.compare_digest((req.header("x-require-whisk-auth") or "").encode(), expected.encode()):
        raise errors.Unauthorized("X-Require-Whisk-Auth is missing or wrong.")


def action(*, secret: str | None = None) -> Callable[[Callable[[dict[str, Any]], Any]], Callable[..., dict[str, Any]]]:
    """Turn `fn(params) -> dict` into `main(args, context=None)` for a function that is invoked with
    plain parameters (an async invoke, a trigger's body) and may also be reached at its web URL.

    Over HTTP it answers only POSTs carrying `X-Require-Whisk-Auth` equal to the setting `secret`
    names (the platform checks `webSecure` too; this holds even where that was left empty), and
    the JSON object in the body is the parameters; without `secret` it refuses HTTP altogether.
    Invoked directly, a failure is reported as `{"error": …}`, which OpenWhisk records as the
    activation's application error.
    """
    def wrap(fn: Callable[[dict[str, Any]], Any]) -> Callable[..., dict[str, Any]]:
        def main(args: dict[str, Any], context: Any = None) -> dict[str, Any]:
            args = args if isinstance(args, dict) else {}
            if "__ow_method" not in args and not isinstance(args.get("http"), dict):
                try:
                    return fn({k: v for k, v in args.items() if not k.startswith("__ow_")})  # type: ignore[no-any-return]
                except errors.HTTPError as exc:
                    return {"error": exc.detail or exc.title}
                except errors.Unavailable as exc:  # logged once per outage where it was noticed
                    return {"error": exc.detail}
                except Exception as exc:
                    log.exception("%s failed", _function_name(fn))
                    return {"error": f"{exc.__class__.__name__} (see the function's log)"}
            request_id = "-"
            try:
                req = parse_event(args)
                request_id = req.request_id
                if secret is None:
                    raise errors.NotFound("This function is not served over HTTP.")
                if req.method != "POST":
                    raise errors.MethodNotAllowed("Use POST.", headers={"Allow": "POST"})
                _whisk_secret(req, secret)
                try:
                    params = json.loads(req.body) if req.body.strip() else {}
                except ValueError:
                    params = None
                if not isinstance(params, dict):
                    raise errors.ValidationFailed([{"loc": ["body"], "msg": "Send a JSON object", "type": "json"}])
                return respond(fn(params), 200, request_id)
            except errors.HTTPError as exc:
                return problem(exc, request_id)
            except errors.Unavailable as exc:
                return problem(exc.problem(), request_id)
            except Exception:
                log.exception("unhandled error in %s (request %s)", _function_name(fn), request_id)
                return unexpected(request_id)

        main.__doc__ = fn.__doc__
        return main

    return wrap
