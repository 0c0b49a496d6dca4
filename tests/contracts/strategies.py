"""Hypothesis strategies for event data, drawn from each data model's own JSON Schema.

Covers the JSON Schema subset pydantic generates for the event models. (hypothesis-jsonschema
would do this, but its release in the lock does not work with the locked hypothesis.)
"""

from __future__ import annotations

import functools
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from lookout_contracts import EventSpec

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=10,
)

offsets = st.integers(min_value=-23 * 60 - 59, max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
aware_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=offsets
)
utc_datetimes = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
)

_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "uuid": st.uuids().map(str),
    "date-time": aware_datetimes.map(datetime.isoformat),
    "ipvanyaddress": st.ip_addresses().map(str),
}


def from_schema(
    schema: dict[str, Any], root: dict[str, Any] | None = None
) -> st.SearchStrategy[Any]:
    """Values valid under ``schema`` (a pydantic-generated JSON Schema)."""
    root = schema if root is None else root
    if "$ref" in schema:
        name = schema["$ref"].removeprefix("#/$defs/")
        return from_schema(
            {**root["$defs"][name], **{k: v for k, v in schema.items() if k != "$ref"}}, root
        )
    if "anyOf" in schema:
        return st.one_of([from_schema(branch, root) for branch in schema["anyOf"]])
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind is None:
        return ANY_JSON
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "integer":
        return st.integers(min_value=schema.get("minimum"), max_value=schema.get("maximum"))
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False)
    if kind == "string":
        return _strings(schema)
    if kind == "array":
        return st.lists(
            from_schema(schema.get("items", {}), root),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 5), 5),
        )
    if kind == "object":
        return _objects(schema, root)
    raise NotImplementedError(f"no strategy for {schema!r}")


def _strings(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    if "format" in schema:
        return _FORMATS[schema["format"]]
    low, high = schema.get("minLength", 0), schema.get("maxLength")
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True).filter(
            lambda text: low <= len(text) <= (high if high is not None else len(text))
        )
    return st.text(min_size=low, max_size=min(high if high is not None else 50, 50))


def _objects(schema: dict[str, Any], root: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    properties: dict[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    if not properties:
        extra = schema.get("additionalProperties", False)
        if extra is False:
            return st.just({})
        return st.dictionaries(st.text(max_size=10), from_schema(extra or {}, root), max_size=4)
    return st.fixed_dictionaries(
        {name: from_schema(sub, root) for name, sub in properties.items() if name in required},
        optional={
            name: from_schema(sub, root) for name, sub in properties.items() if name not in required
        },
    )


@functools.cache
def data_dicts(spec: EventSpec) -> st.SearchStrategy[dict[str, Any]]:
    """The JSON form of valid ``data`` of ``spec``."""
    return from_schema(spec.data_model.model_json_schema())
