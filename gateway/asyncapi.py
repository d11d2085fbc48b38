"""The AsyncAPI 3.0 document of the live feed, derived from the event declarations (shared.event_types).

It describes the realtime server as the application: it *sends* every declared event and its own
control messages on the channel `/ws`, and *receives* the client's `auth` and `subscribe` messages.
Nothing is written here per event type: a type declared in shared.event_types appears with its
payload schema and audience (`x-ims-audience`); the rows it carries (Item, Alert, …) are the API's
own response models, as in /openapi.json. The one declared type the feed never sends as itself,
`data_restored`, is not a message here: clients receive it as `resync_required`, described so.
"""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import models_json_schema

from shared import event_types

SCHEMA = "#/components/schemas/{model}"
CHANNEL = "feed"

_STREAM_ID = {"type": "string", "pattern": r"^\d+-\d+$",
              "description": "the stream id; hand the last one seen back as last_event_id to resume"}
_SENT = [t for t in event_types.DECLARED if t.name in event_types.FEED_TYPES]  # as themselves
_EVENT_NAMES = {"type": "string", "enum": [t.name for t in _SENT]}

# The server's own messages, no stream id: (summary, data's properties, those required).
_CONTROL: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "ready": ("Live: sent once any replay is done. Its last_event_id is a resume point even before an "
              "event arrives.", {
                  "last_event_id": {"anyOf": [_STREAM_ID, {"type": "null"}]},
                  "user": {"type": "object", "properties": {"id": {"type": "integer"},
                                                            "role": {"type": "string",
                                                                     "enum": ["manager", "staff"]}},
                           "required": ["id", "role"]}}, ["last_event_id", "user"]),
    "resync_required": ("Reload state from the REST API, then carry on with the live events. Sent when the "
                        "last_event_id asked for can no longer be replayed (trimmed, or not from this stream), "
                        "and to every client, whatever its role and narrowing, when the database was restored "
                        "from a backup (live, while catching up, or in a replay from before the restore); "
                        "then `backup` names the backup restored.", {
                            "reason": {"type": "string"},
                            "backup": {"type": "string",
                                       "description": "the backup restored (only after a restore)"}},
                        ["reason"]),
    "subscribed": ("The narrowing now in force (null: all).", {
        "events": {"anyOf": [{"type": "array", "items": _EVENT_NAMES}, {"type": "null"}]},
        "items": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]}},
        ["events", "items"]),
    "authenticated": ("A fresh token was accepted; the connection now lasts until it expires.",
                      {"expires_at": {"type": "integer", "description": "Unix time"}}, ["expires_at"]),
    "error": ("A message from the client the server could not use; the connection stays open.",
              {"message": {"type": "string"}}, ["message"]),
}

# What a client sends.
_CLIENT: dict[str, tuple[str, dict[str, Any], list[str]]] = {
    "auth": ("The access token, as the first message when it is not in the URL (within "
             "IMS_WS_AUTH_TIMEOUT seconds), or later a fresh one before the current one expires.",
             {"token": {"type": "string", "description": "an access token from /auth/login or /auth/refresh"}},
             ["token"]),
    "subscribe": ("Replace what this connection receives: only these types, only events about these items "
                  "(omit or null: all). Role filtering always applies.", {
                      "events": {"anyOf": [{"type": "array", "items": _EVENT_NAMES}, {"type": "null"}]},
                      "items": {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]}},
                  []),
}

_CHANNEL_DESCRIPTION = """Every event of the Redis stream `ims:events`, in stream order, to every client allowed \
to see it (staff never receive a type declared for managers); a restore of the database reaches every client \
as `resync_required`. Connect with an access token in the URL \
(`?token=`) or send it as the first message (`auth`); resume with `?last_event_id=`. Close codes: 4401 \
no, invalid or expired token (get a fresh one, reconnect); 4400 malformed last_event_id, events or items \
(fix the URL); 1008 too slow (reconnect with last_event_id; nothing is lost); 1013 the stream is \
unreachable while replaying (reconnect later); 1001 the server is shutting down (reconnect)."""


def _model_schemas() -> dict[str, Any]:
    """The response models the declarations name, as /openapi.json has them."""
    from shared import models

    names = sorted({f.schema for t in _SENT for f in t.fields if isinstance(f.schema, str)})
    _, top = models_json_schema([(getattr(models, name), "serialization") for name in names],
                                ref_template=SCHEMA)
    return dict(sorted(top.get("$defs", {}).items()))


def _field_schema(field: event_types.Field) -> dict[str, Any]:
    if isinstance(field.schema, str):
        # allOf: a $ref's siblings are ignored in JSON Schema draft 7, which AsyncAPI 3.0 builds on.
        return {"allOf": [{"$ref": SCHEMA.format(model=field.schema)}], "description": field.description}
    return {**field.schema, "description": field.description}


def _data_schema(declared: event_types.EventType) -> dict[str, Any]:
    return {"type": "object", "description": declared.description,
            "properties": {f.name: _field_schema(f) for f in declared.fields},
            "required": list(declared.keys), "additionalProperties": False}


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required}


def _event_message(declared: event_types.EventType) -> dict[str, Any]:
    audience = ("everyone signed in (staff and managers)" if declared.staff
                else "managers only: staff never receive it")
    return {
        "name": declared.name,
        "title": declared.name,
        "summary": declared.description,
        "description": f"{declared.description} Audience: {audience}.",
        "payload": _object({"id": {"$ref": SCHEMA.format(model="StreamId")},
                            "event": {"type": "string", "const": declared.name},
                            "data": {"$ref": SCHEMA.format(model=f"{declared.name}_data")},
                            "ts": {"type": "string", "format": "date-time"}},
                           ["id", "event", "data", "ts"]),
        "x-ims-audience": declared.audience,
    }


def _control_message(name: str, summary: str, data: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary,
            "payload": _object({"event": {"type": "string", "const": name},
                                "data": _object(data, required)}, ["event", "data"])}


def _client_message(name: str, summary: str, fields: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "title": name, "summary": summary,
            "payload": _object({"type": {"type": "string", "const": name}, **fields}, ["type", *required])}


def _operation(action: str, name: str, summary: str, **extra: Any) -> dict[str, Any]:
    return {"action": action, "channel": {"$ref": f"#/channels/{CHANNEL}"}, "summary": summary,
            "messages": [{"$ref": f"#/channels/{CHANNEL}/messages/{name}"}], **extra}


def build(host: str = "127.0.0.1", port: int = 8001) -> dict[str, Any]:
    """The whole document; `host` and `port` are the defaults of the server's variables."""
    messages: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    schemas: dict[str, Any] = {"StreamId": _STREAM_ID, **_model_schemas()}
    for declared in _SENT:
        schemas[f"{declared.name}_data"] = _data_schema(declared)
        messages[declared.name] = _event_message(declared)
        operations[f"send_{declared.name}"] = _operation(
            "send", declared.name, declared.description, **{"x-ims-audience": declared.audience})
    for name, (summary, data, required) in _CONTROL.items():
        messages[name] = _control_message(name, summary, data, required)
        operations[f"send_{name}"] = _operation("send", name, summary)
    for name, (summary, fields, required) in _CLIENT.items():
        messages[name] = _client_message(name, summary, fields, required)
        operations[f"receive_{name}"] = _operation("receive", name, summary)
    query = _object({
        "token": {"type": "string", "description": "the access token (or send it in an `auth` message)"},
        "last_event_id": {**_STREAM_ID, "description": "replay every event after this stream id first"},
        "events": {"type": "string", "description": "comma-separated event types: only these"},
        "items": {"type": "string", "description": "comma-separated item ids: only events about these"},
    }, [])
    return {
        "asyncapi": "3.0.0",
        "info": {"title": "IMS — live feed", "version": "1.0.0",
                 "description": "Inventory events as they happen, over a WebSocket. Generated from the event "
                                "declarations; the HTTP API is described at /openapi.json."},
        "defaultContentType": "application/json",
        "servers": {"realtime": {
            "host": "{host}:{port}", "protocol": "ws",
            "description": "The realtime server (`python -m realtime`, IMS_WS_HOST / IMS_WS_PORT).",
            "variables": {"host": {"default": host}, "port": {"default": str(port)}},
            "security": [{"$ref": "#/components/securitySchemes/accessToken"}]}},
        "channels": {CHANNEL: {
            "address": "/ws", "title": "The live feed", "description": _CHANNEL_DESCRIPTION,
            "servers": [{"$ref": "#/servers/realtime"}],
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in messages},
            "bindings": {"ws": {"method": "GET", "query": query, "bindingVersion": "0.1.0"}}}},
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": messages,
            "securitySchemes": {"accessToken": {
                "type": "httpApiKey", "in": "query", "name": "token",
                "description": "An access token from /auth/login, checked like an API request. Instead of the "
                               "query parameter a client may send it as its first message, "
                               '{"type":"auth","token":"…"} (preferred in browsers: URLs end up in logs).'}},
        },
    }
