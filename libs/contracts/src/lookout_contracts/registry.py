"""The registry of event types: (type, version) → data model, subject, source and topic.

It is also where events are made (``make_event``) and parsed back (``parse_event``). It is built
from the table in ``catalog.py``; everything else (the typed envelope classes, the parser, the
exported JSON Schema and AsyncAPI documents) is derived from that table.
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal, TypeVar, Union, cast

from pydantic import Field, TypeAdapter, ValidationError, create_model
from pydantic_core import ErrorDetails

from lookout_contracts.catalog import DECLARATIONS, EventDeclaration
from lookout_contracts.envelope import Envelope, Subject
from lookout_contracts.errors import ContractError, InvalidEvent, UnknownEventType
from lookout_contracts.events.base import EventData
from lookout_contracts.topics import EVENT_TOPICS, events_topic

DataT = TypeVar("DataT", bound=EventData)

UUID_PATTERN: Final = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
"""A subject id: a UUID in canonical text form (lower-case, hyphenated), as it is the Kafka key."""

_MAX_REASON_ERRORS: Final = 5


@dataclass(frozen=True, slots=True)
class EventSpec:
    """Everything the contracts know about one event type at one version."""

    type: str
    version: int
    data_model: builtins.type[EventData]
    subject_type: str
    source: str
    topic: str
    session_required: bool
    envelope_model: builtins.type[Envelope[Any]]
    """``Envelope[data_model]`` with ``type``, ``version``, ``source``, ``subject.type`` fixed."""

    @property
    def tag(self) -> str:
        """``<type>.v<version>``: the name of this event version in file names and documents."""
        return f"{self.type}.v{self.version}"

    @property
    def summary(self) -> str:
        """The first line of the data model's docstring."""
        return _summary(self.data_model)


class EventRegistry:
    """Event types by (type, version), with the typed envelope classes and the parser built once.

    The package's registry is ``REGISTRY``, built from ``DECLARATIONS``; the module-level functions
    below are its methods. Tests build their own registries (e.g. with a version 2).
    """

    def __init__(self, declarations: Mapping[str, Iterable[EventDeclaration]]) -> None:
        self._specs = _build_specs(declarations)
        self._versions: dict[str, tuple[int, ...]] = {}
        for event_type, version in self._specs:
            self._versions[event_type] = (*self._versions.get(event_type, ()), version)
        self._adapter = _event_adapter(self._specs.values())

    # Looking things up --------------------------------------------------------------------------

    def event_spec(self, event_type: str, version: int | None = None) -> EventSpec:
        """The spec of ``event_type`` at ``version`` (default: its latest version)."""
        versions = self._versions.get(event_type)
        if versions is None:
            raise UnknownEventType(
                f"unknown event type {event_type!r}",
                code="unknown_event_type",
                event_type=event_type,
            )
        spec = self._specs.get((event_type, versions[-1] if version is None else version))
        if spec is None:
            raise UnknownEventType(
                f"unknown version {version} of event type {event_type!r}"
                f" (known: {', '.join(map(str, versions))})",
                code="unknown_version",
                event_type=event_type,
                version=version,
            )
        return spec

    def data_model(self, event_type: str, version: int | None = None) -> type[EventData]:
        """The data model of ``event_type`` at ``version`` (default: its latest version)."""
        return self.event_spec(event_type, version).data_model

    def envelope_model(self, event_type: str, version: int | None = None) -> type[Envelope[Any]]:
        """The typed envelope class of ``event_type`` at ``version`` (default: latest)."""
        return self.event_spec(event_type, version).envelope_model

    def latest_version(self, event_type: str) -> int:
        """The newest version of ``event_type``."""
        return self.event_spec(event_type).version

    def all_event_types(self) -> tuple[str, ...]:
        """Every event type name, sorted."""
        return tuple(self._versions)

    def all_event_specs(self) -> tuple[EventSpec, ...]:
        """Every (type, version), sorted by type then version."""
        return tuple(self._specs.values())

    def event_specs_for_topic(self, topic: str) -> tuple[EventSpec, ...]:
        """Every (type, version) published to ``topic``."""
        return tuple(spec for spec in self._specs.values() if spec.topic == topic)

    # Making events ------------------------------------------------------------------------------

    def make_event(
        self,
        event_type: str,
        /,
        *,
        tenant_id: uuid.UUID,
        subject_id: uuid.UUID | str,
        data: DataT,
        actor_id: uuid.UUID | None = None,
        session_id: str | None = None,
        version: int | None = None,
        event_id: uuid.UUID | None = None,
        time: datetime | None = None,
    ) -> Envelope[DataT]:
        """Build a validated event of ``event_type`` about the subject ``subject_id``.

        ``version`` defaults to the version whose data model ``data`` is an instance of (so
        building the newest model makes the newest version). ``event_id`` defaults to a new UUID
        and ``time`` to now; ``time`` is cut to milliseconds, the precision of the wire format, so
        that the event equals what a consumer parses. Raises ``UnknownEventType`` or
        ``InvalidEvent``.
        """
        spec = self._spec_for_data(event_type, data, version)
        when = datetime.now(UTC) if time is None else time
        try:
            event = spec.envelope_model(
                id=uuid.uuid4() if event_id is None else event_id,
                type=spec.type,
                version=spec.version,
                source=spec.source,
                time=when.replace(microsecond=when.microsecond // 1000 * 1000),
                tenant_id=tenant_id,
                actor_id=actor_id,
                session_id=session_id,
                subject={"type": spec.subject_type, "id": str(subject_id)},
                data=data,
            )
        except ValidationError as error:
            raise _invalid(error.errors(include_url=False), spec, offset=0) from error
        # A string: evaluating Envelope[DataT] would build a generic model class on every call.
        return cast("Envelope[DataT]", event)

    def _spec_for_data(self, event_type: str, data: EventData, version: int | None) -> EventSpec:
        if version is not None:
            spec = self.event_spec(event_type, version)
            if type(data) is spec.data_model:
                return spec
        else:
            for known_version in self._versions.get(event_type, ()):
                spec = self._specs[(event_type, known_version)]
                if type(data) is spec.data_model:
                    return spec
            spec = self.event_spec(event_type)  # raises for an unknown type
        raise InvalidEvent(
            f"data is a {type(data).__name__}, {spec.tag} needs a {spec.data_model.__name__}",
            code="invalid_data",
            event_type=event_type,
            version=version,
        )

    # Parsing events -----------------------------------------------------------------------------

    def parse_event(
        self, raw: bytes | bytearray | str, *, ignore_unknown_fields: bool = False
    ) -> Envelope[Any]:
        """Parse and validate one event (envelope and data) from its JSON bytes.

        Returns the typed envelope of its (type, version): ``data`` is an instance of that
        version's data model. Raises ``UnknownEventType`` when the registry does not know the
        (type, version) and ``InvalidEvent`` when the bytes are not JSON or break the envelope or
        the data model.

        ``ignore_unknown_fields`` accepts (and drops) fields the contract does not name, anywhere
        in the event: a consumer running an older contracts package can then read events from a
        producer that already added an optional field. By default they are an error.
        """
        try:
            return self._adapter.validate_json(
                raw, extra="ignore" if ignore_unknown_fields else None
            )
        except ValidationError as error:
            raise self._contract_error(error) from error

    def _contract_error(self, error: ValidationError) -> ContractError:
        details = error.errors(include_url=False)
        first = details[0]
        if first["type"] == "json_invalid":
            problem = first.get("ctx", {}).get("error", "not JSON")
            return InvalidEvent(f"invalid JSON: {problem}", code="invalid_json")
        location = first["loc"]
        if not location:  # the outer union could not read the type, or does not know it
            return _unreadable_type(first["input"])
        event_type = str(location[0])
        versions = self._versions[event_type]
        if len(location) == 1:  # the inner union (several versions) could not use the version
            value = first["input"]
            version = value.get("version") if isinstance(value, dict) else None
            return self._unreadable_version(event_type, version)
        if len(versions) > 1:  # errors inside one version, located as (type, version, ...)
            return _invalid(details, self._specs[(event_type, int(location[1]))], offset=2)
        for detail in details:  # errors inside the only version, located as (type, ...)
            if detail["loc"][1:] == ("version",) and type(detail["input"]) is int:
                return self._unreadable_version(event_type, detail["input"])
        return _invalid(details, self._specs[(event_type, versions[0])], offset=1)

    def _unreadable_version(self, event_type: str, version: Any) -> ContractError:
        # type() rather than isinstance: JSON true is not a version.
        if type(version) is not int:
            return InvalidEvent(
                "invalid envelope: version must be an integer",
                code="invalid_envelope",
                event_type=event_type,
            )
        try:
            self.event_spec(event_type, version)
        except UnknownEventType as unknown:
            return unknown
        return InvalidEvent(  # not reached: pydantic refuses only versions it does not know
            f"invalid envelope: version {version} was refused",
            code="invalid_envelope",
            event_type=event_type,
            version=version,
        )


# Building the registry --------------------------------------------------------------------------


def _summary(model: type[EventData]) -> str:
    return (model.__doc__ or "").strip().splitlines()[0]


def _camel(snake: str) -> str:
    return "".join(part.capitalize() for part in snake.split("_"))


def _literal(value: object) -> Any:
    # A Literal of a value known only at run time; the type checker cannot follow it.
    return cast(Any, Literal)[value]


def _subject_model(subject_type: str) -> type[Subject]:
    return create_model(
        f"{_camel(subject_type)}Subject",
        __base__=Subject,
        __module__=__name__,
        __doc__=f"The {subject_type.replace('_', ' ')} the event is about; its id is the key.",
        type=(_literal(subject_type), ...),
        id=(str, Field(pattern=UUID_PATTERN, description="The subject's id: a canonical UUID.")),
    )


def _envelope_model(
    declaration: EventDeclaration, source: str, subject_model: type[Subject]
) -> type[Envelope[Any]]:
    data_model, version = declaration.data_model, declaration.version
    session_field: Any = (
        (str, Field(min_length=1, max_length=128))
        if declaration.session_required
        else (str | None, Field(default=None, max_length=128))
    )
    model = create_model(
        f"{data_model.__name__.removesuffix(f'V{version}')}EventV{version}",
        __base__=Envelope[data_model],  # type: ignore[valid-type]
        __module__=__name__,
        __doc__=(
            f"`{declaration.type}` version {version}, published by {source} to "
            f"`{events_topic(source)}`: {_summary(data_model)}"
        ),
        # Required here (the generic Envelope has defaults): they are always on the wire.
        id=(uuid.UUID, ...),
        type=(_literal(declaration.type), ...),
        version=(_literal(version), ...),
        source=(_literal(source), ...),
        time=(datetime, ...),
        session_id=session_field,
        subject=(subject_model, ...),
    )
    return cast(type[Envelope[Any]], model)


def _build_specs(
    declarations: Mapping[str, Iterable[EventDeclaration]],
) -> dict[tuple[str, int], EventSpec]:
    subjects: dict[str, type[Subject]] = {}
    specs: dict[tuple[str, int], EventSpec] = {}
    models: set[type[EventData]] = set()
    for source, source_declarations in declarations.items():
        topic = events_topic(source)
        if topic not in EVENT_TOPICS:
            raise ValueError(f"source {source!r} publishes to unknown topic {topic!r}")
        for declaration in source_declarations:
            key = (declaration.type, declaration.version)
            if key in specs:
                raise ValueError(f"{declaration.type} v{declaration.version} declared twice")
            if declaration.data_model in models:
                raise ValueError(f"{declaration.data_model.__name__} is declared twice")
            models.add(declaration.data_model)
            if declaration.subject_type not in subjects:
                subjects[declaration.subject_type] = _subject_model(declaration.subject_type)
            specs[key] = EventSpec(
                type=declaration.type,
                version=declaration.version,
                data_model=declaration.data_model,
                subject_type=declaration.subject_type,
                source=source,
                topic=topic,
                session_required=declaration.session_required,
                envelope_model=_envelope_model(
                    declaration, source, subjects[declaration.subject_type]
                ),
            )
    for event_type, version in specs:
        if any((event_type, earlier) not in specs for earlier in range(1, version)):
            raise ValueError(f"{event_type}: versions must run 1, 2, 3, ... without gaps")
        if specs[(event_type, 1)].source != specs[(event_type, version)].source:
            raise ValueError(f"{event_type}: every version must have the same source")
    return dict(sorted(specs.items()))


def _event_adapter(specs: Iterable[EventSpec]) -> TypeAdapter[Envelope[Any]]:
    # One validator for every (type, version): a single validate_json call parses the bytes, picks
    # the envelope class by its type (then by its version when a type has several) and validates
    # envelope and data together. String discriminators keep the dispatch inside pydantic-core.
    by_type: dict[str, list[type[Envelope[Any]]]] = {}
    for spec in specs:
        by_type.setdefault(spec.type, []).append(spec.envelope_model)
    members = [
        models[0]
        if len(models) == 1
        else Annotated[Union[tuple(models)], Field(discriminator="version")]  # noqa: UP007
        for models in by_type.values()
    ]
    any_event: Any = Annotated[Union[tuple(members)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(any_event)


def _unreadable_type(value: Any) -> ContractError:
    if not isinstance(value, dict):
        return InvalidEvent(
            "invalid envelope: an event must be a JSON object", code="invalid_envelope"
        )
    event_type = value.get("type")
    if not isinstance(event_type, str):
        return InvalidEvent("invalid envelope: type must be a string", code="invalid_envelope")
    return UnknownEventType(
        f"unknown event type {event_type!r}", code="unknown_event_type", event_type=event_type
    )


def _invalid(details: list[ErrorDetails], spec: EventSpec, *, offset: int) -> InvalidEvent:
    # Names the fields and rules, never the input values: events may carry personal data.
    problems = [
        f"{'.'.join(str(part) for part in detail['loc'][offset:]) or '(event)'}: {detail['msg']}"
        for detail in details[:_MAX_REASON_ERRORS]
    ]
    if len(details) > _MAX_REASON_ERRORS:
        problems.append(f"and {len(details) - _MAX_REASON_ERRORS} more")
    # Only the data is wrong when every error lies inside a data object that is there.
    in_data = all(
        detail["loc"][offset : offset + 1] == ("data",)
        and (len(detail["loc"]) > offset + 1 or detail["type"] != "missing")
        for detail in details
    )
    return InvalidEvent(
        f"invalid {spec.tag}: " + "; ".join(problems),
        code="invalid_data" if in_data else "invalid_envelope",
        event_type=spec.type,
        version=spec.version,
    )


# The package's registry, and its methods as functions ------------------------------------------

REGISTRY: Final = EventRegistry(DECLARATIONS)

event_spec = REGISTRY.event_spec
data_model = REGISTRY.data_model
envelope_model = REGISTRY.envelope_model
latest_version = REGISTRY.latest_version
all_event_types = REGISTRY.all_event_types
all_event_specs = REGISTRY.all_event_specs
event_specs_for_topic = REGISTRY.event_specs_for_topic
make_event = REGISTRY.make_event
parse_event = REGISTRY.parse_event
