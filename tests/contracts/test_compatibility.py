"""Committed event versions stay readable: the code's schemas against the committed snapshot.

A failure here means an event version that consumers rely on changed. If the change is meant, it
is a new version (see libs/contracts/README.md); if it only adds an optional field, regenerate the
snapshot with ``lookout-contracts-export`` and commit it.
"""

from __future__ import annotations

import copy
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from lookout_contracts import EventData, EventRegistry, all_event_specs
from lookout_contracts.catalog import DECLARATIONS, EventDeclaration, declare
from lookout_contracts.compatibility import incompatibilities, is_compatible
from lookout_contracts.events import datasource
from lookout_contracts.export import (
    SCHEMAS_DIR,
    breaking_changes,
    differences,
    event_schema,
    event_schema_file,
    main,
    write,
)
from pydantic import Field

# The snapshot against the code -------------------------------------------------------------------


def test_the_committed_snapshot_is_up_to_date() -> None:
    problems = differences()
    assert not problems, (
        "the schemas in libs/contracts/schemas differ from the code: run "
        "`lookout-contracts-export` and commit the result\n" + "\n".join(problems)
    )


def test_no_committed_event_version_changed_incompatibly() -> None:
    problems = breaking_changes()
    assert not problems, (
        "committed event versions changed in ways their consumers cannot read: publish a new "
        "version instead\n" + "\n".join(problems)
    )


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
def test_every_registered_version_has_a_committed_schema(spec: Any) -> None:
    assert (SCHEMAS_DIR / event_schema_file(spec)).is_file()


# A deliberately broken event version is caught, end to end ---------------------------------------


class QueryExecutedWithoutBytesV1(EventData):
    """query.executed v1 with bytes_returned removed."""

    query_id: uuid.UUID
    data_source_id: uuid.UUID
    saved_query_id: uuid.UUID | None
    query_text: str = Field(min_length=1, max_length=100_000)
    execution_time_ms: int = Field(ge=0, le=2**32 - 1)
    rows_returned: int = Field(ge=0, le=2**64 - 1)
    status: datasource.QueryStatus
    error: str | None = Field(max_length=4_000)


class QueryExecutedWithTextRowsV1(EventData):
    """query.executed v1 with rows_returned turned into a string."""

    query_id: uuid.UUID
    data_source_id: uuid.UUID
    saved_query_id: uuid.UUID | None
    query_text: str = Field(min_length=1, max_length=100_000)
    execution_time_ms: int = Field(ge=0, le=2**32 - 1)
    rows_returned: str
    bytes_returned: int = Field(ge=0, le=2**64 - 1)
    status: datasource.QueryStatus
    error: str | None = Field(max_length=4_000)


class QueryExecutedWithRequiredUserV1(datasource.QueryExecutedV1):
    """query.executed v1 with a new required field."""

    user_name: str


class QueryExecutedWithOptionalRegionV1(datasource.QueryExecutedV1):
    """query.executed v1 with a new optional field."""

    region: str | None = None


class QueryExecutedWithShorterTextV1(datasource.QueryExecutedV1):
    """query.executed v1 with a shorter query_text."""

    query_text: str = Field(min_length=1, max_length=1_000)


def registry_with(data_model: type[EventData]) -> EventRegistry:
    """The package's table with ``query.executed`` v1 replaced by ``data_model``."""
    declarations: dict[str, list[EventDeclaration]] = {
        source: [
            declare("query.executed", 1, data_model, subject="query")
            if declaration.type == "query.executed"
            else declaration
            for declaration in source_declarations
        ]
        for source, source_declarations in DECLARATIONS.items()
    }
    return EventRegistry(declarations)


@pytest.mark.parametrize(
    ("data_model", "expected"),
    [
        (QueryExecutedWithoutBytesV1, "data.bytes_returned: field removed"),
        (QueryExecutedWithTextRowsV1, "data.rows_returned: type changed from integer to string"),
        (QueryExecutedWithRequiredUserV1, "data.user_name: required field added"),
        (QueryExecutedWithShorterTextV1, "data.query_text: maxLength tightened to 1000"),
    ],
)
def test_an_incompatible_change_to_a_committed_version_is_caught(
    data_model: type[EventData], expected: str
) -> None:
    problems = breaking_changes(registry=registry_with(data_model))
    assert f"query.executed.v1: {expected}" in problems


def test_an_added_optional_field_is_compatible_but_needs_a_new_snapshot() -> None:
    registry = registry_with(QueryExecutedWithOptionalRegionV1)
    assert breaking_changes(registry=registry) == []
    assert differences(registry=registry) == [
        "asyncapi.json: out of date",
        "query.executed.v1.json: out of date",
    ]


def test_a_committed_version_gone_from_the_registry_is_caught(tmp_path: Path) -> None:
    write(tmp_path)
    (tmp_path / "tenant.renamed.v1.json").write_text(
        (tmp_path / "tenant.updated.v1.json").read_text()
    )
    assert breaking_changes(tmp_path) == [
        "tenant.renamed.v1.json: this committed event version is gone from the registry"
    ]


# The comparator ----------------------------------------------------------------------------------


def obj(properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        **extra,
    }


STRING = {"type": "string"}
NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}
BASE = obj({"name": {"type": "string", "maxLength": 10}, "count": {"type": "integer"}}, ["name"])


def changed(schema: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    result = copy.deepcopy(schema)
    target = result
    for part in path[:-1]:
        target = target[part]
    if value is None:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return result


def test_identical_schemas_are_compatible() -> None:
    for spec in all_event_specs():
        schema = event_schema(spec)
        assert incompatibilities(schema, copy.deepcopy(schema)) == []


@pytest.mark.parametrize(
    ("new", "problem"),
    [
        (changed(BASE, ["properties", "count"], None), "count: field removed"),
        (changed(BASE, ["properties", "count"], STRING), "count: type changed"),
        (changed(BASE, ["required"], ["name", "count"]), "count: optional field became required"),
        (
            changed(BASE, ["properties", "extra"], STRING) | {"required": ["name", "extra"]},
            "extra: required field added",
        ),
        (changed(BASE, ["properties", "name", "maxLength"], 5), "name: maxLength tightened"),
        (changed(BASE, ["properties", "name", "minLength"], 1), "name: minLength tightened"),
        (changed(BASE, ["properties", "name", "pattern"], "^[a-z]+$"), "name: pattern changed"),
        (changed(BASE, ["properties", "count", "maximum"], 5), "count: maximum tightened"),
        (changed(BASE, ["properties", "count", "format"], "uuid"), "count: format changed"),
    ],
)
def test_breaking_changes_are_found(new: dict[str, Any], problem: str) -> None:
    problems = incompatibilities(BASE, new)
    assert any(found.startswith(problem) for found in problems), problems
    assert not is_compatible(BASE, new)


@pytest.mark.parametrize(
    "new",
    [
        changed(BASE, ["properties", "extra"], STRING),  # an optional field added
        changed(BASE, ["properties", "name", "maxLength"], 20),  # a bound loosened
        changed(BASE, ["properties", "name", "maxLength"], None),  # a bound dropped
        changed(BASE, ["required"], []),  # a required field made optional
        changed(BASE, ["properties", "count"], {"type": "number"}),  # integer widened
        changed(BASE, ["properties", "name"], NULLABLE_STRING),  # made nullable
        changed(BASE, ["additionalProperties"], True),  # opened
        changed(BASE, ["title"], "Renamed"),  # annotations do not matter
    ],
)
def test_widening_changes_are_compatible(new: dict[str, Any]) -> None:
    assert incompatibilities(BASE, new) == []


def test_enums_may_grow_but_not_shrink() -> None:
    old = obj({"status": {"type": "string", "enum": ["a", "b"]}}, ["status"])
    grown = changed(old, ["properties", "status", "enum"], ["a", "b", "c"])
    shrunk = changed(old, ["properties", "status", "enum"], ["a"])
    constant = changed(old, ["properties", "status"], {"const": "a"})
    assert incompatibilities(old, grown) == []
    assert incompatibilities(old, shrunk) == ["status: values no longer allowed: ['b']"]
    assert incompatibilities(old, constant) == ["status: values no longer allowed: ['b']"]
    assert incompatibilities(obj({"status": STRING}, ["status"]), old) == [
        "status: values restricted to ['a', 'b']"
    ]


def test_nullability_may_be_added_not_removed() -> None:
    old = obj({"error": NULLABLE_STRING}, ["error"])
    new = obj({"error": STRING}, ["error"])
    assert incompatibilities(old, new) == ["error: type changed from null to string"]
    assert incompatibilities(new, old) == []


def test_closing_an_open_object_is_breaking() -> None:
    old = changed(BASE, ["additionalProperties"], True)
    assert incompatibilities(old, BASE) == ["(root): additional fields no longer allowed"]


def test_refs_are_followed_on_both_sides_even_under_other_names() -> None:
    inner_old = obj({"rows": {"type": "integer"}}, ["rows"])
    inner_new = obj({"rows": {"type": "string"}}, ["rows"])
    old = {**obj({"data": {"$ref": "#/$defs/A"}}, ["data"]), "$defs": {"A": inner_old}}
    new = {**obj({"data": {"$ref": "#/$defs/B"}}, ["data"]), "$defs": {"B": inner_new}}
    renamed = {**obj({"data": {"$ref": "#/$defs/B"}}, ["data"]), "$defs": {"B": inner_old}}
    assert incompatibilities(old, new) == ["data.rows: type changed from integer to string"]
    assert incompatibilities(old, renamed) == []


def test_array_items_are_compared() -> None:
    old = obj({"tags": {"type": "array", "items": {"type": "string", "maxLength": 64}}}, ["tags"])
    new = changed(old, ["properties", "tags", "items", "maxLength"], 10)
    fewer = changed(old, ["properties", "tags", "maxItems"], 3)
    assert incompatibilities(old, new) == ["tags[]: maxLength tightened to 10"]
    assert incompatibilities(old, fewer) == ["tags: maxItems tightened to 3"]


def test_open_maps_compare_their_values() -> None:
    old = obj({"conditions": {"type": "object", "additionalProperties": {}}}, ["conditions"])
    new = changed(old, ["properties", "conditions", "additionalProperties"], STRING)
    assert incompatibilities(old, new) == ["conditions.*: type narrowed to string"]
    assert incompatibilities(new, old) == []


def test_a_real_committed_schema_against_a_deliberately_broken_copy() -> None:
    committed = json.loads((SCHEMAS_DIR / "query.executed.v1.json").read_text())
    broken = copy.deepcopy(committed)
    data = broken["$defs"]["QueryExecutedV1"]
    del data["properties"]["error"]
    data["required"].remove("error")
    data["properties"]["status"]["enum"].remove("timeout")
    broken["properties"]["subject"] = {"type": "string"}
    assert sorted(incompatibilities(committed, broken)) == [
        "data.error: field removed",
        "data.status: values no longer allowed: ['timeout']",
        "subject: type changed from object to string",
    ]


# The exporter's command line ---------------------------------------------------------------------


def test_export_writes_checks_and_refuses_to_break(tmp_path: Path) -> None:
    out = ["--out", str(tmp_path)]
    assert main(["--check", *out]) == 1, "an empty directory is not the snapshot"
    assert main(out) == 0
    assert main(["--check", *out]) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        path.name for path in SCHEMAS_DIR.glob("*.json")
    )

    # A committed schema that accepted more than the code's: writing it over would break readers.
    schema_file = tmp_path / "tenant.created.v1.json"
    loosened = json.loads(schema_file.read_text())
    loosened["$defs"]["TenantCreatedV1"]["properties"]["name"]["maxLength"] = 10_000
    schema_file.write_text(json.dumps(loosened))
    assert main(["--check", *out]) == 1
    assert main(out) == 2
    assert json.loads(schema_file.read_text()) == loosened, "nothing written"
    assert main(["--allow-breaking", *out]) == 0
    assert main(["--check", *out]) == 0

    # A stale file that is no event schema is just removed.
    (tmp_path / "notes.json").write_text("{}")
    assert main(["--check", *out]) == 1
    assert main(out) == 0
    assert not (tmp_path / "notes.json").exists()
