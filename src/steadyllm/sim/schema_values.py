"""Small valid JSON values for a JSON Schema: tool arguments and structured output.

``example_value(schema)`` returns a value that validates against ``schema`` for the
keywords the simulator is asked to honour: ``type`` (one or a list), ``enum``,
``const``, ``properties`` / ``required``, ``items`` / ``prefixItems`` / ``minItems``,
string ``minLength`` / ``maxLength`` / common ``format`` values, number bounds and
``multipleOf``, ``anyOf`` / ``oneOf`` (first branch), ``allOf`` (merged) and local
``$ref`` (``#/$defs/...``, ``#/definitions/...``). ``pattern`` is not honoured: no
small generator can satisfy an arbitrary regular expression.

Objects get every declared property, not only the required ones: a reply that
fills the whole shape is more useful to the code reading it, and still valid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["example_value"]

_FORMATS: dict[str, str] = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/sim",
    "url": "https://example.com/sim",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}
_TEXT = "simulated"
_MAX_DEPTH = 32  # a recursive $ref stops here rather than looping forever


def example_value(schema: Mapping[str, Any] | bool, root: Mapping[str, Any] | None = None) -> Any:
    """A value valid against ``schema``; ``root`` resolves ``$ref`` (defaults to ``schema``)."""
    if isinstance(schema, bool):
        return None
    return _value(schema, root if root is not None else schema, 0)


def _value(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return None
    if "$ref" in schema:
        return _value(_resolve(str(schema["$ref"]), root), root, depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for keyword in ("anyOf", "oneOf"):
        branches = schema.get(keyword)
        if branches:
            return _value(_merge(schema, branches[0], keyword), root, depth + 1)
    if schema.get("allOf"):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            merged = _merge(merged, _deref(part, root), "")
        return _value(merged, root, depth + 1)
    kind = _type_of(schema)
    if kind == "object":
        return _object(schema, root, depth)
    if kind == "array":
        return _array(schema, root, depth)
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return _integer(schema)
    if kind == "number":
        return _number(schema)
    if kind == "boolean":
        return False
    return None


def _type_of(schema: Mapping[str, Any]) -> str:
    declared = schema.get("type")
    if isinstance(declared, list):
        # A nullable field: the non-null type says more about the intended shape.
        concrete = [t for t in declared if t != "null"]
        declared = concrete[0] if concrete else "null"
    if isinstance(declared, str):
        return declared
    if "properties" in schema or "required" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    return "null"


def _object(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> dict[str, Any]:
    properties: Mapping[str, Any] = schema.get("properties") or {}
    names = list(properties)
    names += [name for name in schema.get("required") or () if name not in properties]
    return {name: _value(_deref(properties.get(name, {}), root), root, depth + 1) for name in names}


def _array(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> list[Any]:
    prefix = list(schema.get("prefixItems") or ())
    items = schema.get("items")
    count = max(int(schema.get("minItems") or 0), len(prefix))
    values: list[Any] = []
    for index in range(count):
        item = prefix[index] if index < len(prefix) else items
        values.append(_value(_deref(item if item is not None else {}, root), root, depth + 1))
    return values


def _string(schema: Mapping[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format", "")), _TEXT)
    minimum = int(schema.get("minLength") or 0)
    if len(text) < minimum:
        text = (text * (minimum // len(text) + 1))[:minimum]
    maximum = schema.get("maxLength")
    if maximum is not None:
        text = text[: int(maximum)]
    return text


def _integer(schema: Mapping[str, Any]) -> int:
    low, high = _bounds(schema, step=1)
    value = max(0, math.ceil(low)) if low is not None else 0
    if high is not None and value > high:
        value = math.floor(high)
    multiple = schema.get("multipleOf")
    if multiple:
        value = int(math.ceil(value / multiple) * multiple)
    return int(value)


def _number(schema: Mapping[str, Any]) -> float:
    low, high = _bounds(schema, step=0.5)
    value = max(0.0, float(low)) if low is not None else 0.0
    if high is not None and value > high:
        value = float(high)
    multiple = schema.get("multipleOf")
    if multiple:
        value = math.ceil(value / multiple) * float(multiple)
    return value


def _bounds(schema: Mapping[str, Any], *, step: float) -> tuple[float | None, float | None]:
    """Inclusive bounds; exclusive ones are moved inwards by ``step``."""
    low = schema.get("minimum")
    high = schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + step
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - step
    return low, high


def _deref(schema: Any, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(schema, Mapping):
        if "$ref" in schema and len(schema) == 1:
            return _resolve(str(schema["$ref"]), root)
        return schema
    return {}


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any]:
    if not ref.startswith("#"):
        return {}  # remote references are out of a simulator's reach
    node: Any = root
    for part in ref.lstrip("#").split("/"):
        if not part:
            continue
        part = part.replace("~1", "/").replace("~0", "~")
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
    return node if isinstance(node, Mapping) else {}


def _merge(base: Mapping[str, Any], extra: Any, drop: str) -> dict[str, Any]:
    merged = {k: v for k, v in base.items() if k != drop}
    if not isinstance(extra, Mapping):
        return merged
    for key, value in extra.items():
        if key == "properties" and isinstance(merged.get("properties"), Mapping):
            merged["properties"] = {**merged["properties"], **value}
        elif key == "required" and isinstance(merged.get("required"), list):
            merged["required"] = [*merged["required"], *value]
        else:
            merged[key] = value
    return merged
