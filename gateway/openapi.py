"""The OpenAPI 3.1 document, derived from project.yml routes and each function's `main.spec`.

Nothing here is written by hand per route: a new function appears in the document as soon as it is
listed in project.yml, with the body, query and response models it declared in `shared.http.handler`.
"""

from __future__ import annotations

import collections.abc
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from gateway.manifest import Function, Main

REF = "#/components/schemas/{model}"
BASE = "/api/v1"

_ERRORS = {
    401: "Missing, invalid or expired credentials",
    403: "The caller's role (or the account's state) may not do this",
    404: "No such resource",
    409: "Conflicts with the current state (duplicate, insufficient stock…)",
    412: "If-Match does not name the current version",
    413: "The body is larger than 1 MiB",
    415: "The body is not of the operation's media type (application/json unless it says otherwise)",
    422: "The request is not valid",
    429: "Too many requests; wait for Retry-After seconds",
    503: "A dependency (the database, Redis) is unavailable; retry after Retry-After seconds",
}
_RETRY_AFTER = (429, 503)

_HEADERS = {
    "ETag": {"description": "The resource's version, for If-Match", "required": True, "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying",
                    "schema": {"type": "string", "pattern": "^[0-9]+$"}},
    "Link": {"description": 'The next page, `<?…&cursor=…>; rel="next"`: a reference relative to this '
                            "request's URL; absent on the last page",
             "schema": {"type": "string"}},
}
_PARAMETERS = {
    "IdempotencyKey": {
        "name": "Idempotency-Key", "in": "header", "required": False,
        "description": "Repeat a POST safely: the first response for this key is replayed for 24 h "
                       "(a key reused for a different request is 422)",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255}},
    "IfMatch": {
        "name": "If-Match", "in": "header", "required": False,
        "description": "The ETag (version) you last saw: 412 when the item changed meanwhile",
        "schema": {"type": "string", "minLength": 1, "pattern": "[^\\s,]"}},
}

_PROBLEM = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
    "required": ["type", "title", "status", "detail", "code"],
}

DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>IMS API</title>
  <link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({url: "/openapi.json", dom_id: "#swagger-ui", persistAuthorization: true});
  </script>
</body>
</html>
"""


def _list_item(annotation: Any) -> Any:
    """X for list[X] (or Sequence[X]); None for anything else."""
    if typing.get_origin(annotation) in (list, collections.abc.Sequence):
        args = typing.get_args(annotation)
        return args[0] if args else None
    return None


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


class _Schemas:
    """Collects every model first so pydantic names them once, consistently, across the document."""

    def __init__(self, specs: list[Any]) -> None:
        wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = []
        for spec in specs:
            used: list[tuple[Any, JsonSchemaMode]] = [
                (spec.body, "validation"),
                (spec.response, "serialization"), (_list_item(spec.response), "serialization"),
                *((model, "serialization") for model in spec.bodies.values())]
            for model, mode in used:
                if _is_model(model) and (model, mode) not in wanted:
                    wanted.append((model, mode))
        self.refs: dict[tuple[Any, JsonSchemaMode], dict[str, Any]] = {}
        self.components: dict[str, Any] = {}
        if wanted:
            refs, top = models_json_schema(wanted, ref_template=REF)
            self.refs.update(refs)
            self.components.update(top.get("$defs", {}))

    def of(self, annotation: Any, mode: JsonSchemaMode) -> dict[str, Any]:
        if _is_model(annotation):
            return self.refs[(annotation, mode)]
        item = _list_item(annotation)
        if item is not None:
            return {"type": "array", "items": self.of(item, mode)}
        schema = TypeAdapter(annotation).json_schema(mode=mode, ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        return schema

    def properties(self, model: type[BaseModel]) -> tuple[dict[str, Any], list[str]]:
        # A query model becomes parameters, not a component; only what its fields refer to is kept.
        schema = model.model_json_schema(ref_template=REF)
        self.components.update(schema.pop("$defs", {}))
        return schema.get("properties", {}), schema.get("required", [])


def _parameters(function: Function, spec: Any, schemas: _Schemas) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = []
    if function.route and "{id}" in function.route:
        params.append({"name": "id", "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 1}})
    if spec is not None and spec.query is not None:
        properties, required = schemas.properties(spec.query)
        for name, schema in properties.items():
            schema = dict(schema)
            param: dict[str, Any] = {"name": name, "in": "query", "required": name in required}
            if "description" in schema:
                param["description"] = schema.pop("description")
            schema.pop("title", None)
            param["schema"] = schema
            params.append(param)
    if spec is not None and spec.idempotent:
        params.append({"$ref": "#/components/parameters/IdempotencyKey"})
    if spec is not None and spec.if_match:
        params.append({"$ref": "#/components/parameters/IfMatch"})
    return params


def _statuses(function: Function, spec: Any) -> list[int]:
    """Every error status the operation can answer: derived from what it declares, plus its own."""
    codes = {503}  # every function may find the database (or Redis) down
    if function.auth != "public":
        codes |= {401, 403}
    if "{id}" in (function.route or ""):
        codes.add(404)
    if spec is not None:
        if spec.body is not None:
            codes |= {413, 415, 422}
        if spec.query is not None:
            codes.add(422)
        if spec.idempotent:
            codes.add(422)  # an Idempotency-Key that is too long or was used for another request
        if spec.if_match:
            codes |= {412, 422}  # 422: an If-Match that names no version at all
        codes |= set(spec.raises)
    return sorted(codes)


def _operation(function: Function, spec: Any, schemas: _Schemas) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": f"{function.package}_{function.name}".replace("-", "_"),
        "tags": [function.package],
        "summary": (spec.summary.splitlines()[0] if spec is not None and spec.summary else function.qualified),
        "x-ims-function": function.qualified,
        "x-ims-auth": function.auth,
    }
    if spec is not None and spec.summary and "\n" in spec.summary:
        op["description"] = spec.summary
    params = _parameters(function, spec, schemas)
    if params:
        op["parameters"] = params
    if spec is not None and spec.body is not None:
        # A text body (CSV…) is a string of its media type; what it must say, the summary tells.
        body = {"type": "string", "minLength": 1} if spec.body is str else schemas.of(spec.body, "validation")
        op["requestBody"] = {"required": True, "content": {spec.body_media_type: {"schema": body}}}

    responses: dict[str, Any] = {}
    status = spec.status if spec is not None else 200
    if spec is not None and spec.response is not None:
        # Text (CSV, Prometheus text or OpenMetrics as the scraper's Accept asks…) in each declared
        # media type; anything else is JSON of the response model.
        schema = {"type": "string"} if spec.response is str else schemas.of(spec.response, "serialization")
        responses[str(status)] = {"description": "Success", "content": {
            media: {"schema": schema} for media in spec.response_media_types}}
        headers = (("ETag",) if spec.etag else ()) + spec.response_headers
        if headers:
            responses[str(status)]["headers"] = {name: {"$ref": f"#/components/headers/{name}"} for name in headers}
    elif spec is not None and status == 200:
        responses["200"] = {"description": "Success"}
        responses["204"] = {"description": "No content"}
    else:
        responses[str(status)] = {"description": "Success"}

    if function.auth != "public":
        op["security"] = [{"bearerAuth": []}]
    for code in _statuses(function, spec):
        responses[str(code)] = {"$ref": f"#/components/responses/E{code}"}
        if spec is not None and code in spec.bodies:  # an answer with a body of its own (e.g. /health)
            own = _error_response(code, _ERRORS.get(code, "See the body"))
            own["content"]["application/json"] = {"schema": schemas.of(spec.bodies[code], "serialization")}
            responses[str(code)] = own
    op["responses"] = responses
    return op


def _error_response(code: int, text: str) -> dict[str, Any]:
    response: dict[str, Any] = {"description": text, "content": {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if code in _RETRY_AFTER:
        response["headers"] = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}
    return response


def build(functions: list[tuple[Function, Main]]) -> dict[str, Any]:
    """The whole document for the given (web function, main) pairs."""
    specs = {f.qualified: getattr(main, "spec", None) for f, main in functions}
    schemas = _Schemas([s for s in specs.values() if s is not None])
    paths: dict[str, dict[str, Any]] = {}
    for function, _ in functions:
        assert function.route is not None and function.method is not None
        paths.setdefault(function.route, {})[function.method.lower()] = _operation(
            function, specs[function.qualified], schemas)
    tags = sorted({f.package for f, _ in functions})
    return {
        "openapi": "3.1.0",
        "info": {"title": "IMS — inventory management API", "version": "1.0.0"},
        "servers": [{"url": BASE}],
        "tags": [{"name": t} for t in tags],
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": {**dict(sorted(schemas.components.items())), "Problem": _PROBLEM},
            "responses": {f"E{code}": _error_response(code, text) for code, text in _ERRORS.items()},
            "parameters": _PARAMETERS,
            "headers": _HEADERS,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
        },
    }
