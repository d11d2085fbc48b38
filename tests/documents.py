"""Reading the JSON documents the gateway serves (/openapi.json, /asyncapi.json): local `$ref`s."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """The node a local reference (`#/components/…`, JSON Pointer escapes included) names."""
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve (at {part!r})"
        node = node[part]
    return node


def walk(node: Any, path: str = "#") -> Iterator[tuple[str, Any]]:
    """Every node below `node`, with its path."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, f"{path}/{index}")


def refs(doc: Any) -> list[str]:
    """Every `$ref` in the document."""
    return [node["$ref"] for _, node in walk(doc) if isinstance(node, dict) and isinstance(node.get("$ref"), str)]
