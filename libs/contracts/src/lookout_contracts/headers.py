"""Kafka header names on Lookout's messages: domain events and the ingestion dead-letter queue."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Final

TRACEPARENT_HEADER: Final = "traceparent"
"""W3C trace context of the event's publish (the outbox relay's producer span, the child of the
change that produced the event); absent when that change was not traced."""

TRACEPARENT_PATTERN: Final = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

TRACESTATE_HEADER: Final = "tracestate"
"""W3C vendor trace state that goes with ``traceparent``, when the trace carries any."""

CONTENT_TYPE_HEADER: Final = "content-type"
"""Media type of the value: ``envelope.CONTENT_TYPE`` (``application/json``) for domain events."""

POSSIBLE_RESEND_HEADER: Final = "lookout-possible-resend"
"""Set (value ``1``, the record's first header) when the outbox relay had claimed the event's row
before: that relay may have sent it already, then died or lost the acknowledgement. A consumer
that deduplicates by event id looks further back for such a record than for others."""

DLQ_REASON_HEADER: Final = "dlq-reason"
"""Why a message was dead-lettered: a ``ContractError.reason`` or another one-line cause."""

DLQ_CODE_HEADER: Final = "dlq-code"
"""A stable label of the cause: a ``ContractError.code`` (``invalid_json``, ...) or another."""

DLQ_ORIGINAL_TOPIC_HEADER: Final = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION_HEADER: Final = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET_HEADER: Final = "dlq-original-offset"

DLQ_CONSUMER_GROUP_HEADER: Final = "dlq-consumer-group"
"""The consumer group that gave up on the message (a service's reactions; not set by ingestion)."""

_DLQ_HEADERS: Final = frozenset(
    {
        DLQ_REASON_HEADER,
        DLQ_CODE_HEADER,
        DLQ_ORIGINAL_TOPIC_HEADER,
        DLQ_ORIGINAL_PARTITION_HEADER,
        DLQ_ORIGINAL_OFFSET_HEADER,
        DLQ_CONSUMER_GROUP_HEADER,
    }
)
_MAX_REASON_BYTES: Final = 1_000


def dead_letter_headers(
    original: Iterable[tuple[str, bytes]] | None,
    *,
    reason: str,
    code: str,
    topic: str,
    partition: int,
    offset: int,
    extra: Mapping[str, str] | None = None,
) -> list[tuple[str, bytes]]:
    """A dead letter's headers: the original message's own (earlier ``dlq-*`` ones dropped), then
    why (``reason``, cut to 1,000 bytes; ``code``) and where it came from."""
    headers = [(name, value) for name, value in (original or ()) if name not in _DLQ_HEADERS]
    headers += [
        (DLQ_REASON_HEADER, reason.encode()[:_MAX_REASON_BYTES]),
        (DLQ_CODE_HEADER, code.encode()),
        (DLQ_ORIGINAL_TOPIC_HEADER, topic.encode()),
        (DLQ_ORIGINAL_PARTITION_HEADER, str(partition).encode()),
        (DLQ_ORIGINAL_OFFSET_HEADER, str(offset).encode()),
    ]
    headers += [(name, value.encode()) for name, value in (extra or {}).items()]
    return headers
