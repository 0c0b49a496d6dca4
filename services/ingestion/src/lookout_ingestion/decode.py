"""Decode and validate step: a Kafka record's value → the typed event, or why it is rejected.

One ``parse_event`` call parses the JSON and validates envelope and data against the contracts
(pydantic-core does both in one pass: cheaper per event than any split into json + model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lookout_contracts import ContractError, Envelope, parse_event


@dataclass(frozen=True, slots=True)
class Rejected:
    """A record that is not a valid event: it goes to the dead-letter topic with these."""

    reason: str
    code: str


EMPTY = Rejected("empty message: no value", "empty")


def decode(value: bytes | None) -> Envelope[Any] | Rejected:
    if not value:
        return EMPTY
    try:
        return parse_event(value)
    except ContractError as error:
        return Rejected(error.reason, error.code)
