"""Kafka header names on Lookout's messages: domain events and the ingestion dead-letter queue."""

from __future__ import annotations

from typing import Final

TRACEPARENT_HEADER: Final = "traceparent"
"""W3C trace context of the change that produced the event (set by the outbox relay)."""

TRACEPARENT_PATTERN: Final = r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"

CONTENT_TYPE_HEADER: Final = "content-type"
"""Media type of the value: ``envelope.CONTENT_TYPE`` (``application/json``) for domain events."""

DLQ_REASON_HEADER: Final = "dlq-reason"
"""Why a message was dead-lettered: a ``ContractError.reason`` or another one-line cause."""

DLQ_CODE_HEADER: Final = "dlq-code"
"""A stable label of the cause: a ``ContractError.code`` (``invalid_json``, ...) or another."""

DLQ_ORIGINAL_TOPIC_HEADER: Final = "dlq-original-topic"
DLQ_ORIGINAL_PARTITION_HEADER: Final = "dlq-original-partition"
DLQ_ORIGINAL_OFFSET_HEADER: Final = "dlq-original-offset"
