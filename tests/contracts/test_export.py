"""The exported documents: JSON Schema that real events satisfy, and a complete AsyncAPI document."""

from __future__ import annotations

import json
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lookout_contracts import EventSpec, all_event_specs, event_specs_for_topic, make_event
from lookout_contracts.export import SCHEMAS_DIR, asyncapi_document, event_schema, event_schema_file
from lookout_contracts.topics import EVENT_TOPICS, INGESTION_DLQ

from tests.contracts.strategies import data_dicts, utc_datetimes


def committed(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMAS_DIR / name).read_text(encoding="utf-8"))
    return document


def resolve(document: dict[str, Any], reference: str) -> Any:
    assert reference.startswith("#/"), reference
    target: Any = document
    for part in reference[2:].split("/"):
        target = target[part.replace("~1", "/").replace("~0", "~")]
    return target


def references(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [ref for value in node.values() for ref in references(value)]
    if isinstance(node, list):
        return [ref for value in node for ref in references(value)]
    return []


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
def test_event_schemas_are_valid_json_schema_and_name_their_event(spec: EventSpec) -> None:
    schema = committed(event_schema_file(spec))
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["type"]["const"] == spec.type
    assert schema["properties"]["version"]["const"] == spec.version
    assert schema["properties"]["source"]["const"] == spec.source
    assert set(schema["required"]) >= {
        "id", "type", "version", "source", "time", "tenant_id", "subject", "data"
    }  # fmt: skip
    assert schema["x-lookout"]["topic"] == spec.topic
    for reference in references(schema):
        resolve(schema, reference)


@pytest.mark.parametrize("spec", all_event_specs(), ids=lambda spec: spec.tag)
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_real_events_satisfy_their_exported_schema(spec: EventSpec, data: st.DataObject) -> None:
    event = make_event(
        spec.type,
        version=spec.version,
        tenant_id=data.draw(st.uuids()),
        subject_id=data.draw(st.uuids()),
        actor_id=data.draw(st.none() | st.uuids()),
        session_id="session-1" if spec.session_required else None,
        time=data.draw(utc_datetimes),
        data=spec.data_model.model_validate(data.draw(data_dicts(spec))),
    )
    validator = jsonschema.Draft202012Validator(event_schema(spec))
    errors = [error.message for error in validator.iter_errors(json.loads(event.to_json()))]
    assert errors == []


def test_asyncapi_has_a_channel_per_topic_and_a_message_per_event_version() -> None:
    document = committed("asyncapi.json")
    assert document == json.loads(json.dumps(asyncapi_document()))
    assert document["asyncapi"].startswith("3.")
    assert set(document["channels"]) == {*EVENT_TOPICS, INGESTION_DLQ}
    for topic in EVENT_TOPICS:
        channel = document["channels"][topic]
        assert channel["address"] == topic
        assert set(channel["messages"]) == {spec.tag for spec in event_specs_for_topic(topic)}
    for spec in all_event_specs():
        message = document["components"]["messages"][spec.tag]
        assert message["name"] == spec.type
        assert message["contentType"] == "application/json"
        assert message["bindings"]["kafka"]["key"]["format"] == "uuid"
        payload = resolve(document, message["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == spec.type
        headers = resolve(document, message["headers"]["$ref"])
        assert {"traceparent", "tracestate", "content-type"} <= set(headers["properties"])
    dead_letter = document["components"]["messages"]["dead_letter"]
    assert "dlq-reason" in resolve(document, dead_letter["headers"]["$ref"])["required"]


def test_every_asyncapi_reference_resolves() -> None:
    document = committed("asyncapi.json")
    found = references(document)
    assert len(found) > 100
    for reference in found:
        resolve(document, reference)


def test_asyncapi_operations_send_every_message_of_their_channel() -> None:
    document = committed("asyncapi.json")
    for operation in document["operations"].values():
        assert operation["action"] == "send"
        channel = resolve(document, operation["channel"]["$ref"])
        sent = [resolve(document, message["$ref"]) for message in operation["messages"]]
        assert sent == list(channel["messages"].values())
