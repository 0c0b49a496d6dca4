"""Whether a new JSON Schema of an event version still accepts every event the old one accepted.

A consumer built on version N must keep reading version N, including events already in a topic:
so a new schema of an existing version may only accept *more* (an added optional field, a longer
maximum, a new enum value), never less. Anything else needs version N+1.

The comparison is structural and covers the JSON Schema that pydantic generates: ``type``,
``const``/``enum``, ``anyOf``/``oneOf``, objects (``properties``, ``required``,
``additionalProperties``), arrays (``items``, ``prefixItems``), string and number bounds,
``pattern``/``format`` and ``$ref`` into ``$defs``. When unsure it reports a problem: a false alarm
costs a look, a missed break costs a consumer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

Schema = Mapping[str, Any] | bool

# Bounds a new schema may raise (upper) or lower (lower), never tighten.
_UPPER_BOUNDS: Final = ("maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum")
_LOWER_BOUNDS: Final = ("minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum")
# Rules a new schema may drop but not change or add.
_EXACT_RULES: Final = ("pattern", "format", "multipleOf")
_JSON_TYPES: Final = frozenset(
    {"null", "boolean", "object", "array", "number", "integer", "string"}
)
_ANY: Final[Mapping[str, Any]] = {}
_MAX_DEPTH: Final = 64


def incompatibilities(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """Why ``new`` rejects events that ``old`` accepts: one line per problem, ``[]`` if none.

    ``old`` and ``new`` are whole JSON Schema documents (their ``$ref`` point into their own
    ``$defs``).
    """
    comparison = _Comparison(old_root=old, new_root=new)
    return comparison.problems(_resolve(old, old), _resolve(new, new), "")


def is_compatible(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """True when ``new`` accepts every document ``old`` accepts."""
    return not incompatibilities(old, new)


@dataclass(frozen=True)
class _Comparison:
    old_root: Mapping[str, Any]
    new_root: Mapping[str, Any]
    depth: int = 0

    def problems(
        self, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, path: str
    ) -> list[str]:
        where = path or "(root)"
        if old is None:  # old accepts nothing: anything new accepts more
            return []
        if self.depth > _MAX_DEPTH:  # a recursive schema: its start was compared already
            return []
        if new is None:
            return [f"{where}: the new schema accepts nothing"]
        if _is_any(new):
            return []
        old_branches = _branches(old)
        if old_branches is not None:  # every old alternative must still be accepted
            shared = _without_branches(old)
            return [
                problem
                for branch in old_branches
                for problem in self._sub(branch, new, path, old_extra=shared)
            ]
        new_branches = _branches(new)
        if new_branches is not None:  # some new alternative must accept the old schema whole
            shared = _without_branches(new)
            attempts = [self._sub(old, branch, path, new_extra=shared) for branch in new_branches]
            if any(not attempt for attempt in attempts):
                return []
            # No alternative takes the old schema whole: report the closest one.
            return min(attempts, key=len)
        return self._compare_plain(old, new, path)

    def _sub(
        self,
        old: Schema,
        new: Schema,
        path: str,
        *,
        old_extra: Mapping[str, Any] | None = None,
        new_extra: Mapping[str, Any] | None = None,
    ) -> list[str]:
        child = _Comparison(self.old_root, self.new_root, depth=self.depth + 1)
        old_schema = _resolve(old, self.old_root)
        if old_extra and old_schema is not None:
            old_schema = {**old_extra, **old_schema}
        new_schema = _resolve(new, self.new_root)
        if new_extra and new_schema is not None:
            new_schema = {**new_extra, **new_schema}
        return child.problems(old_schema, new_schema, path)

    def _compare_plain(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[str]:
        where = path or "(root)"
        problems: list[str] = []
        old_types, new_types = _types(old), _types(new)
        if new_types is not None:
            if old_types is None:
                problems.append(f"{where}: type narrowed to {_names(new_types)}")
            elif lost := {t for t in old_types if not _type_fits(t, new_types)}:
                problems.append(
                    f"{where}: type changed from {_names(old_types)} to {_names(new_types)}"
                )
                old_types = old_types - lost
        old_values, new_values = _values(old), _values(new)
        if new_values is not None:
            if old_values is None:
                problems.append(f"{where}: values restricted to {new_values!r}")
            elif removed := [value for value in old_values if value not in new_values]:
                problems.append(f"{where}: values no longer allowed: {removed!r}")
        for keyword in _UPPER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] < old[keyword]):
                problems.append(f"{where}: {keyword} tightened to {new[keyword]}")
        for keyword in _LOWER_BOUNDS:
            if keyword in new and (keyword not in old or new[keyword] > old[keyword]):
                problems.append(f"{where}: {keyword} tightened to {new[keyword]}")
        for keyword in _EXACT_RULES:
            if keyword in new and old.get(keyword) != new[keyword]:
                problems.append(f"{where}: {keyword} changed to {new[keyword]!r}")
        if new.get("uniqueItems") and not old.get("uniqueItems"):
            problems.append(f"{where}: items must now be unique")
        could_be = old_types if old_types is not None else _JSON_TYPES
        if "object" in could_be:
            problems.extend(self._compare_objects(old, new, path))
        if "array" in could_be:
            problems.extend(self._compare_arrays(old, new, path))
        return problems

    def _compare_objects(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[str]:
        prefix = f"{path}." if path else ""
        old_properties: Mapping[str, Any] = old.get("properties", {})
        new_properties: Mapping[str, Any] = new.get("properties", {})
        old_required, new_required = set(old.get("required", ())), set(new.get("required", ()))
        old_additional: Schema = old.get("additionalProperties", True)
        new_additional: Schema = new.get("additionalProperties", True)
        problems: list[str] = []
        for name in sorted(new_required - old_required):
            if name in old_properties:
                problems.append(f"{prefix}{name}: optional field became required")
            else:
                problems.append(f"{prefix}{name}: required field added")
        for name, old_property in old_properties.items():
            if name in new_properties:
                problems.extend(self._sub(old_property, new_properties[name], f"{prefix}{name}"))
            elif new_additional is False:
                problems.append(f"{prefix}{name}: field removed")
            else:
                problems.extend(self._sub(old_property, new_additional, f"{prefix}{name}"))
        for name, new_property in new_properties.items():
            if name not in old_properties and old_additional is not False:
                # Old events may carry this name as an extra field of any value it allowed.
                problems.extend(self._sub(old_additional, new_property, f"{prefix}{name}"))
        if old_additional is not False:
            if new_additional is False:
                problems.append(f"{path or '(root)'}: additional fields no longer allowed")
            else:
                problems.extend(self._sub(old_additional, new_additional, f"{prefix}*"))
        return problems

    def _compare_arrays(
        self, old: Mapping[str, Any], new: Mapping[str, Any], path: str
    ) -> list[str]:
        problems: list[str] = []
        old_prefix: list[Any] = list(old.get("prefixItems", ()))
        new_prefix: list[Any] = list(new.get("prefixItems", ()))
        old_items: Schema = old.get("items", True)
        new_items: Schema = new.get("items", True)
        for index in range(max(len(old_prefix), len(new_prefix))):
            old_item = old_prefix[index] if index < len(old_prefix) else old_items
            new_item = new_prefix[index] if index < len(new_prefix) else new_items
            problems.extend(self._sub(old_item, new_item, f"{path}[{index}]"))
        problems.extend(self._sub(old_items, new_items, f"{path}[]"))
        return problems


_ANNOTATIONS: Final = frozenset(
    {"title", "description", "default", "examples", "deprecated", "readOnly", "writeOnly",
     "$comment", "$defs", "$schema", "$id"}
)  # fmt: skip


def _resolve(schema: Schema, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema with its ``$ref`` followed (siblings kept); ``None`` for ``false``."""
    if schema is True:
        return _ANY
    if schema is False:
        return None
    seen: set[str] = set()
    while "$ref" in schema:
        reference = schema["$ref"]
        if not isinstance(reference, str) or not reference.startswith("#/"):
            raise ValueError(f"only local $ref are supported, not {reference!r}")
        if reference in seen:
            raise ValueError(f"$ref cycle at {reference!r}")
        seen.add(reference)
        target: Any = root
        for part in reference[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {key: value for key, value in schema.items() if key != "$ref"}
        if target is True or target is False:
            return (_ANY if target else None) if not siblings else {**siblings}
        schema = {**target, **siblings}
    return schema


def _is_any(schema: Mapping[str, Any]) -> bool:
    return all(key in _ANNOTATIONS or key.startswith("x-") for key in schema)


def _branches(schema: Mapping[str, Any]) -> list[Any] | None:
    for keyword in ("anyOf", "oneOf"):
        if keyword in schema:
            return list(schema[keyword])
    return None


def _without_branches(schema: Mapping[str, Any]) -> dict[str, Any]:
    # Keywords beside anyOf/oneOf apply to every branch.
    return {
        key: value
        for key, value in schema.items()
        if key not in ("anyOf", "oneOf") and key not in _ANNOTATIONS
    }


def _types(schema: Mapping[str, Any]) -> frozenset[str] | None:
    if "type" in schema:
        declared = schema["type"]
        return frozenset([declared] if isinstance(declared, str) else declared)
    values = _values(schema)
    if values is not None:
        return frozenset(_type_of(value) for value in values)
    return None


def _type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _type_fits(json_type: str, allowed: frozenset[str]) -> bool:
    return json_type in allowed or (json_type == "integer" and "number" in allowed)


def _values(schema: Mapping[str, Any]) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    if "enum" in schema:
        return list(schema["enum"])
    return None


def _names(types: frozenset[str]) -> str:
    return "|".join(sorted(types))
