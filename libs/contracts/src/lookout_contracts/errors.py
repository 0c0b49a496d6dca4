"""The errors the contracts raise when an event cannot be built or parsed."""

from __future__ import annotations

from typing import Literal

ErrorCode = Literal[
    "invalid_json",
    "invalid_envelope",
    "invalid_data",
    "unknown_event_type",
    "unknown_version",
]


class ContractError(Exception):
    """An event does not satisfy the contracts.

    ``reason`` is one short line meant for people and dead-letter headers: it names fields and
    rules, never the values that broke them (an event may hold personal data). ``code`` is a stable
    machine-readable label (good for a metric's label), ``event_type`` / ``version`` are known when
    the envelope was readable that far.
    """

    def __init__(
        self,
        reason: str,
        *,
        code: ErrorCode,
        event_type: str | None = None,
        version: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code: ErrorCode = code
        self.event_type = event_type
        self.version = version


class UnknownEventType(ContractError):
    """The event's (type, version) is not in the registry."""


class InvalidEvent(ContractError):
    """The bytes are not JSON, or the envelope or its data break the contract of the event type."""
