"""The official OCPP 2.0.1 and 2.1 JSON schemas (shipped in the `ocpp` package), as test
validators, and the smallest instance of a schema (the minimal valid request of a message).

The 2.0.1 files start with a UTF-8 byte order mark: read as utf-8-sig. Both are draft-06.
Timestamps are checked as CSMSs accept them (tests/ocpp_schemas.py OCPP_FORMATS).
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from decimal import Decimal
from typing import Any

import orjson
from jsonschema import Draft6Validator
from ocpp_schemas import OCPP_FORMATS

FOLDERS = {"2.0.1": "v201", "2.1": "v21"}
TIMESTAMP = "2024-05-01T12:00:00.000Z"


@functools.cache
def schema(version: str, name: str) -> dict[str, Any]:
    folder = importlib.resources.files("ocpp") / FOLDERS[version] / "schemas"
    return json.loads((folder / f"{name}.json").read_text(encoding="utf-8-sig"))  # type: ignore[no-any-return]


def names(version: str) -> list[str]:
    folder = importlib.resources.files("ocpp") / FOLDERS[version] / "schemas"
    return sorted(
        e.name.removesuffix(".json") for e in folder.iterdir() if e.name.endswith(".json")
    )


@functools.cache
def _validator(version: str, name: str) -> Draft6Validator:
    Draft6Validator.check_schema(schema(version, name))
    return Draft6Validator(schema(version, name), format_checker=OCPP_FORMATS)


def violations(version: str, name: str, payload: Any) -> list[str]:
    """What is wrong with `payload` as message `name` ([] if nothing), path first."""
    data = json.loads(orjson.dumps(payload), parse_float=Decimal)
    return [
        f"{version} {name}: {'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in _validator(version, name).iter_errors(data)
    ]


def minimal(version: str, name: str) -> Any:
    """The smallest instance of a message's schema: required properties only, first enum
    value, minItems items, numbers at their minimum (or 1)."""
    root = schema(version, name)
    return _instance(root, root.get("definitions", {}))


def _instance(node: dict[str, Any], definitions: dict[str, Any]) -> Any:
    if "$ref" in node:
        return _instance(definitions[node["$ref"].rsplit("/", 1)[-1]], definitions)
    if "enum" in node:
        return node["enum"][0]
    kind = node.get("type")
    if kind == "object":
        props = node.get("properties", {})
        return {key: _instance(props[key], definitions) for key in node.get("required", [])}
    if kind == "array":
        return [_instance(node["items"], definitions) for _ in range(node.get("minItems", 0))]
    if kind == "string":
        return (
            TIMESTAMP
            if node.get("format") == "date-time"
            else "x" * max(1, node.get("minLength", 1))
        )
    if kind == "integer":
        return int(node.get("minimum", 1))
    if kind == "number":
        return float(node.get("minimum", 1))
    if kind == "boolean":
        return True
    raise AssertionError(f"no instance for {node}")
