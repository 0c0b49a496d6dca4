"""Lookout event contracts: the single source of truth for domain events."""

from lookout_contracts.envelope import CONTENT_TYPE, Envelope, Subject
from lookout_contracts.errors import ContractError, InvalidEvent, UnknownEventType
from lookout_contracts.events.base import EventData
from lookout_contracts.registry import (
    REGISTRY,
    EventRegistry,
    EventSpec,
    all_event_specs,
    all_event_types,
    data_model,
    envelope_model,
    event_spec,
    event_specs_for_topic,
    latest_version,
    make_event,
    parse_event,
)

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "ContractError",
    "Envelope",
    "EventData",
    "EventRegistry",
    "EventSpec",
    "InvalidEvent",
    "Subject",
    "UnknownEventType",
    "all_event_specs",
    "all_event_types",
    "data_model",
    "envelope_model",
    "event_spec",
    "event_specs_for_topic",
    "latest_version",
    "make_event",
    "parse_event",
]
