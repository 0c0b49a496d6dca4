"""Exports the contracts as documents: a JSON Schema per event version and one AsyncAPI document.

``lookout-contracts-export`` writes them to ``libs/contracts/schemas/``, where they are committed:
they are the snapshot that ``tests/contracts/test_compatibility.py`` holds the code to. Writing
refuses to replace a committed event schema by an incompatible one (or to drop a committed
version): that change needs a new version. ``--check`` writes nothing and fails when the files
differ from what the code generates.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Final

from pydantic.json_schema import models_json_schema

from lookout_contracts import headers
from lookout_contracts.compatibility import incompatibilities
from lookout_contracts.envelope import CONTENT_TYPE
from lookout_contracts.registry import REGISTRY, EventRegistry, EventSpec
from lookout_contracts.topics import INGESTION_DLQ

SCHEMAS_DIR: Final = Path(__file__).resolve().parents[2] / "schemas"
"""``libs/contracts/schemas`` of the source tree this package is installed (editable) from."""

ASYNCAPI_FILE: Final = "asyncapi.json"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
_KAFKA_BINDING_VERSION: Final = "0.5.0"
_EVENT_SCHEMA_FILE: Final = re.compile(r"^(?P<type>[a-z0-9_.]+)\.v(?P<version>[0-9]+)\.json$")


def event_schema_file(spec: EventSpec) -> str:
    """The snapshot file name of an event version: ``<type>.v<version>.json``."""
    return f"{spec.tag}.json"


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """The JSON Schema of a whole event (envelope and data) of one type at one version."""
    schema = spec.envelope_model.model_json_schema()
    return {
        "$schema": JSON_SCHEMA_DIALECT,
        **schema,
        "x-lookout": {
            "type": spec.type,
            "version": spec.version,
            "source": spec.source,
            "topic": spec.topic,
            "subject_type": spec.subject_type,
            "kafka_key": "subject.id",
        },
    }


def asyncapi_document(registry: EventRegistry = REGISTRY) -> dict[str, Any]:
    """An AsyncAPI 3.0 document: a channel per topic, a message per event type and version."""
    specs = registry.all_event_specs()
    references, definitions = models_json_schema(
        [(spec.envelope_model, "validation") for spec in specs],
        ref_template="#/components/schemas/{model}",
    )
    schemas: dict[str, Any] = dict(definitions.get("$defs", {}))
    schemas["EventHeaders"] = _event_headers_schema()
    schemas["DeadLetterHeaders"] = _dead_letter_headers_schema()
    messages: dict[str, Any] = {
        spec.tag: _event_message(spec, references[(spec.envelope_model, "validation")])
        for spec in specs
    }
    messages["dead_letter"] = _dead_letter_message()
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for topic in sorted({spec.topic for spec in specs}):
        topic_specs = [spec for spec in specs if spec.topic == topic]
        source = topic_specs[0].source
        channels[topic] = _channel(
            topic,
            f"Domain events published by the {source} service; key = the subject's id.",
            [spec.tag for spec in topic_specs],
        )
        operations[f"{source}.publish"] = _operation(
            "send", topic, [spec.tag for spec in topic_specs], f"{source} publishes its events."
        )
    channels[INGESTION_DLQ] = _channel(
        INGESTION_DLQ,
        "Events the ingestion service could not take (undecodable, unknown type, invalid data), "
        "with the original key and value unchanged and the reason in headers.",
        ["dead_letter"],
    )
    operations["ingestion.dead_letter"] = _operation(
        "send", INGESTION_DLQ, ["dead_letter"], "ingestion dead-letters what it cannot take."
    )
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Lookout domain events",
            "version": metadata.version("lookout-contracts"),
            "description": (
                "Every domain event Lookout's services publish to Kafka: one topic per service, "
                "JSON values in a common envelope, keyed by the id of the aggregate the event is "
                "about (so one aggregate's events stay in order). Each (type, version) is a "
                "message; a change a consumer of version N cannot read is published as N+1."
            ),
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def _event_message(spec: EventSpec, payload: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": spec.type,
        "title": f"{spec.type} v{spec.version}",
        "summary": spec.summary,
        "contentType": CONTENT_TYPE,
        "headers": {"$ref": "#/components/schemas/EventHeaders"},
        "payload": dict(payload),
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": f"The subject's id (a {spec.subject_type} id): subject.id.",
                },
                "bindingVersion": _KAFKA_BINDING_VERSION,
            }
        },
    }


def _dead_letter_message() -> dict[str, Any]:
    return {
        "name": "dead_letter",
        "title": "Dead-lettered event",
        "summary": "The original message (bytes unchanged, maybe not JSON) that ingestion refused.",
        "headers": {"$ref": "#/components/schemas/DeadLetterHeaders"},
        "payload": {"description": "The original value, unchanged."},
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "The original key, unchanged."},
                "bindingVersion": _KAFKA_BINDING_VERSION,
            }
        },
    }


def _event_headers_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            headers.TRACEPARENT_HEADER: {
                "type": "string",
                "pattern": headers.TRACEPARENT_PATTERN,
                "description": "W3C trace context of the event's publish (the relay's producer "
                "span, the child of the change that produced the event).",
            },
            headers.TRACESTATE_HEADER: {
                "type": "string",
                "description": "W3C vendor trace state that goes with traceparent.",
            },
            headers.CONTENT_TYPE_HEADER: {"type": "string", "const": CONTENT_TYPE},
            headers.POSSIBLE_RESEND_HEADER: {
                "type": "string",
                "const": "1",
                "description": "The relay had claimed the event's row before: this may be a "
                "second copy of an event delivered earlier (same id and key), however long ago.",
            },
        },
        "required": [headers.CONTENT_TYPE_HEADER],
    }


def _dead_letter_headers_schema() -> dict[str, Any]:
    text = {"type": "string"}
    return {
        "type": "object",
        "description": "The original message's headers are kept beside these.",
        "properties": {
            headers.DLQ_REASON_HEADER: {**text, "description": "Why: one line, no event values."},
            headers.DLQ_CODE_HEADER: {
                **text,
                "description": "A stable label: invalid_json, invalid_envelope, invalid_data, "
                "unknown_event_type, unknown_version, or another cause.",
            },
            headers.DLQ_ORIGINAL_TOPIC_HEADER: text,
            headers.DLQ_ORIGINAL_PARTITION_HEADER: {**text, "pattern": "^[0-9]+$"},
            headers.DLQ_ORIGINAL_OFFSET_HEADER: {**text, "pattern": "^[0-9]+$"},
        },
        "required": [headers.DLQ_REASON_HEADER, headers.DLQ_CODE_HEADER],
    }


def _channel(topic: str, description: str, message_ids: Sequence[str]) -> dict[str, Any]:
    return {
        "address": topic,
        "description": description,
        "messages": {
            message_id: {"$ref": f"#/components/messages/{message_id}"}
            for message_id in message_ids
        },
        "bindings": {"kafka": {"topic": topic, "bindingVersion": _KAFKA_BINDING_VERSION}},
    }


def _operation(action: str, topic: str, message_ids: Sequence[str], summary: str) -> dict[str, Any]:
    return {
        "action": action,
        "summary": summary,
        "channel": {"$ref": f"#/channels/{_pointer(topic)}"},
        "messages": [
            {"$ref": f"#/channels/{_pointer(topic)}/messages/{message_id}"}
            for message_id in message_ids
        ],
    }


def _pointer(segment: str) -> str:
    return segment.replace("~", "~0").replace("/", "~1")


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


# The snapshot on disk ----------------------------------------------------------------------------


def render(registry: EventRegistry = REGISTRY) -> dict[str, str]:
    """Every file the snapshot holds, by name, with the text the code generates for it."""
    files = {
        event_schema_file(spec): _dump(event_schema(spec)) for spec in registry.all_event_specs()
    }
    files[ASYNCAPI_FILE] = _dump(asyncapi_document(registry))
    return files


def differences(directory: Path = SCHEMAS_DIR, registry: EventRegistry = REGISTRY) -> list[str]:
    """How the snapshot in ``directory`` differs from what the code generates ([] if it doesn't)."""
    expected = render(registry)
    problems: list[str] = []
    for name, text in expected.items():
        current = _read(directory / name)
        if current != text:
            problems.append(f"{name}: {'missing' if current is None else 'out of date'}")
    problems.extend(
        f"{name}: not generated by the code"
        for name in _snapshot_files(directory)
        if name not in expected
    )
    return sorted(problems)


def breaking_changes(
    directory: Path = SCHEMAS_DIR, registry: EventRegistry = REGISTRY
) -> list[str]:
    """Committed event versions whose generated schema rejects events the committed one accepts.

    A committed version that the registry no longer has is a breaking change too.
    """
    specs = {event_schema_file(spec): spec for spec in registry.all_event_specs()}
    problems: list[str] = []
    for name in sorted(_snapshot_files(directory)):
        if _EVENT_SCHEMA_FILE.match(name) is None:
            continue
        committed = json.loads((directory / name).read_text(encoding="utf-8"))
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{name}: this committed event version is gone from the registry")
            continue
        problems.extend(
            f"{spec.tag}: {problem}" for problem in incompatibilities(committed, event_schema(spec))
        )
    return problems


def write(directory: Path = SCHEMAS_DIR, registry: EventRegistry = REGISTRY) -> list[str]:
    """Make the snapshot in ``directory`` what the code generates; the names of changed files."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = render(registry)
    changed: list[str] = []
    for name, text in expected.items():
        if _read(directory / name) != text:
            (directory / name).write_text(text, encoding="utf-8")
            changed.append(name)
    for name in _snapshot_files(directory):
        if name not in expected:
            (directory / name).unlink()
            changed.append(name)
    return sorted(changed)


def _snapshot_files(directory: Path) -> list[str]:
    if not directory.is_dir():
        return []
    return sorted(path.name for path in directory.glob("*.json"))


def _read(path: Path) -> str | None:
    return path.read_text(encoding="utf-8") if path.exists() else None


def main(argv: Sequence[str] | None = None) -> int:
    """``lookout-contracts-export [--check] [--allow-breaking] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="lookout-contracts-export",
        description="Write the JSON Schema of every event version and the AsyncAPI document.",
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if the files differ from what the code generates",
    )
    parser.add_argument(
        "--allow-breaking",
        action="store_true",
        help="overwrite committed event schemas even with incompatible ones (think twice)",
    )
    parser.add_argument("--out", type=Path, default=SCHEMAS_DIR, help="the snapshot directory")
    arguments = parser.parse_args(argv)
    directory: Path = arguments.out
    breaking = breaking_changes(directory)
    if arguments.check:
        problems = differences(directory)
        for problem in problems:
            print(problem, file=sys.stderr)
        for problem in breaking:
            print(f"incompatible: {problem}", file=sys.stderr)
        if problems:
            print("run `lookout-contracts-export` and commit the result", file=sys.stderr)
        return 1 if problems else 0
    if breaking and not arguments.allow_breaking:
        for problem in breaking:
            print(f"incompatible: {problem}", file=sys.stderr)
        print(
            "refusing to overwrite committed event schemas with incompatible ones: add a new "
            "version instead (see libs/contracts/README.md), or pass --allow-breaking",
            file=sys.stderr,
        )
        return 2
    changed = write(directory)
    print(f"{len(changed)} file(s) changed in {directory}" if changed else "up to date")
    for name in changed:
        print(f"  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
