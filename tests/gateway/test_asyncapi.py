"""/asyncapi.json: the live feed's AsyncAPI 3.0 document, generated from the event declarations, checked
for the structure AsyncAPI 3.0 requires (the asyncapi3 object model; every $ref resolves; channels,
operations and messages are wired by $ref; operations send or receive messages of their own channel)
and for saying what the declarations say (every type, its payload fields, its audience)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from typing import Any

import pytest

from shared import event_types
from tests.documents import resolve, walk

JSON_TYPES = {"array", "boolean", "integer", "null", "number", "object", "string"}
CONTROL = ("ready", "resync_required", "subscribed", "authenticated", "error")


@pytest.fixture(scope="module")
def doc(api) -> dict[str, Any]:
    res = api.get("/asyncapi.json")
    assert res.status == 200, res.text
    assert res.headers["content-type"] == "application/json"
    return res.json()


def schemas_in(node: Any) -> Iterator[dict[str, Any]]:
    """Every JSON Schema object below a schema (properties, items, allOf/anyOf members)."""
    if not isinstance(node, dict):
        return
    yield node
    for value in (node.get("properties") or {}).values():
        yield from schemas_in(value)
    for key in ("items", "additionalProperties"):
        yield from schemas_in(node.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for member in node.get(key) or []:
            yield from schemas_in(member)


def test_the_asyncapi3_object_model_accepts_the_document(doc):
    """asyncapi3 models every AsyncAPI 3.0 object (unknown fields refused, extensions only as x-…);
    the tests here add what it does not check: that each $ref resolves, and the wiring."""
    with warnings.catch_warnings():  # its models shadow pydantic's `schema` attribute, warned at import
        warnings.simplefilter("ignore", UserWarning)
        from asyncapi3 import AsyncAPI3

    assert doc["asyncapi"] == "3.0.0"
    AsyncAPI3.model_validate(doc)
    broken = {**doc, "operations": {**doc["operations"], "send_ready": {
        **doc["operations"]["send_ready"], "action": "publish"}}}  # 2.x's verb, not 3.0's
    with pytest.raises(ValueError):
        AsyncAPI3.model_validate(broken)


def test_every_ref_resolves(doc):
    refs = [(path, node["$ref"]) for path, node in walk(doc) if isinstance(node, dict) and "$ref" in node]
    assert len(refs) > 50
    for path, ref in refs:
        assert isinstance(ref, str), path
        resolve(doc, ref)


def test_channels_operations_and_messages_are_wired_by_ref(doc):
    for name, channel in doc["channels"].items():
        for key, message in channel["messages"].items():
            assert message == {"$ref": f"#/components/messages/{key}"}, (name, key)
        for server in channel.get("servers", []):
            assert server["$ref"].startswith("#/servers/")
    for name, operation in doc["operations"].items():
        assert operation["action"] in ("send", "receive"), name
        channel_ref = operation["channel"]["$ref"]
        assert channel_ref.startswith("#/channels/"), name
        resolve(doc, channel_ref)
        assert operation["messages"], name
        for message in operation["messages"]:  # 3.0: an operation's messages are its channel's own
            assert message["$ref"].startswith(channel_ref + "/messages/"), (name, message)
            resolve(doc, message["$ref"])
    used = {m["$ref"].rsplit("/", 1)[1] for op in doc["operations"].values() for m in op["messages"]}
    assert used == set(doc["components"]["messages"])  # every message is sent or received by something


def test_schemas_are_well_formed(doc):
    roots = [*doc["components"]["schemas"].values(),
             *(m["payload"] for m in doc["components"]["messages"].values())]
    for binding in doc["channels"]["feed"]["bindings"].values():
        roots.append(binding["query"])
    for root in roots:
        for schema in schemas_in(root):
            if "type" in schema:
                assert schema["type"] in JSON_TYPES, schema
            if "required" in schema:
                assert set(schema["required"]) <= set(schema.get("properties", {})), schema


def test_every_declared_type_is_a_message_the_server_sends_with_its_fields_and_audience(doc):
    messages, schemas = doc["components"]["messages"], doc["components"]["schemas"]
    for declared in event_types.DECLARED:
        if declared.name not in event_types.FEED_TYPES:
            continue  # never sent as itself: see the test below
        message = messages[declared.name]
        payload = message["payload"]
        assert payload["required"] == ["id", "event", "data", "ts"]
        assert payload["properties"]["event"]["const"] == declared.name
        data = resolve(doc, payload["properties"]["data"]["$ref"])
        assert data["required"] == list(declared.keys) and list(data["properties"]) == list(declared.keys)
        for field in declared.fields:
            assert data["properties"][field.name]["description"] == field.description
            if isinstance(field.schema, str):  # a row as the API returns it: the response model's schema
                assert data["properties"][field.name]["allOf"] == [{"$ref": f"#/components/schemas/{field.schema}"}]
                assert field.schema in schemas
        assert message["x-ims-audience"] == declared.audience
        assert ("managers only" in message["description"]) is (not declared.staff)
        operation = doc["operations"][f"send_{declared.name}"]
        assert operation["action"] == "send" and operation["x-ims-audience"] == declared.audience
    event_names = set(messages) - set(CONTROL) - {"auth", "subscribe"}
    assert event_names == event_types.FEED_TYPES == set(event_types.TYPES) - {"data_restored"}


def test_a_restore_is_described_as_resync_required_not_as_a_message_of_its_own(doc):
    """Clients never receive data_restored as such: every one of them gets resync_required instead."""
    messages, schemas = doc["components"]["messages"], doc["components"]["schemas"]
    assert "data_restored" not in messages and "send_data_restored" not in doc["operations"]
    assert "data_restored_data" not in schemas
    subscribable = messages["subscribed"]["payload"]["properties"]["data"]["properties"]["events"]["anyOf"][0]
    assert "data_restored" not in subscribable["items"]["enum"]
    resync = messages["resync_required"]
    assert "restored from a backup" in resync["summary"] and "every client" in resync["summary"]
    data = resync["payload"]["properties"]["data"]
    assert data["required"] == ["reason"] and data["properties"]["backup"]["type"] == "string"


def test_the_feed_channel_auth_resume_and_control_messages_are_described(doc):
    [channel] = doc["channels"].values()
    assert channel["address"] == "/ws"
    query = channel["bindings"]["ws"]["query"]
    assert {"token", "last_event_id", "events", "items"} <= set(query["properties"])
    assert channel["bindings"]["ws"]["bindingVersion"] == "0.1.0"
    [server] = doc["servers"].values()
    assert server["protocol"] == "ws"
    for name in re.findall(r"{(\w+)}", server["host"]):  # every variable of the host has a default
        assert "default" in server["variables"][name]
    [scheme_ref] = server["security"]
    scheme = resolve(doc, scheme_ref["$ref"])
    assert (scheme["type"], scheme["in"], scheme["name"]) == ("httpApiKey", "query", "token")
    assert "first message" in scheme["description"]
    for name in CONTROL:
        message = doc["components"]["messages"][name]
        assert message["payload"]["properties"]["event"]["const"] == name
        assert "id" not in message["payload"]["properties"]  # the server's own messages have no stream id
        assert doc["operations"][f"send_{name}"]["action"] == "send"
    for name in ("auth", "subscribe"):
        assert doc["components"]["messages"][name]["payload"]["properties"]["type"]["const"] == name
        assert doc["operations"][f"receive_{name}"]["action"] == "receive"
    assert doc["components"]["messages"]["auth"]["payload"]["required"] == ["type", "token"]
