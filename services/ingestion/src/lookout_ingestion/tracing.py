"""Traces through ingestion: each flush round is a CONSUMER span ``ingestion batch`` linked to the
trace contexts of (up to ``MAX_LINKS`` of) the events it stores.

An event's context is the relay's producer span (``traceparent`` and ``tracestate`` headers,
``lookout_kit.relay_send``), the child of the request that made the event. A batch holds thousands
of events from as many requests, so the flush is not the child of one of them: it is a span of its
own, with a link to each (OpenTelemetry's messaging conventions for batch processing). The kit's
root sampler records it when one of the linked contexts was recorded.

Per-event cost stays flat: ``remember`` looks at a record's headers only while the batch holds fewer
than ``MAX_LINKS`` contexts and has looked at fewer than ``SCAN_LIMIT`` records, keeps only sampled
contexts (an unrecorded trace has nothing to link to) and parses each distinct one once; past either
bound a fetched record list costs one comparison.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any

from lookout_contracts.headers import TRACEPARENT_HEADER, TRACESTATE_HEADER
from lookout_kit.telemetry import remote_context
from opentelemetry import context, trace
from opentelemetry.trace import Link, SpanKind

from lookout_ingestion.batching import Batch

MAX_LINKS = 64
"""Distinct contexts linked per batch span (OpenTelemetry keeps at most 128 links per span)."""
SCAN_LIMIT = 4_096
"""Records whose headers are looked at per batch: events without a sampled context (most of them
at a 10% sample ratio, all of them when nothing is traced) cost nothing beyond these."""

_SAMPLED = b"13579bdf"
"""The last hex digit of a ``traceparent``'s flags when the sampled bit is set."""

_tracer = trace.get_tracer("lookout.ingestion")


def remember(batch: Batch, records: Sequence[Any]) -> None:
    """Remember, in ``batch``, the sampled trace contexts of ``records``, within the bounds above.
    Call it once per fetched record list that joins the batch.

    A record's headers are ``(str, bytes)`` pairs: aiokafka's ``ConsumerRecord.headers`` or
    confluent-kafka's ``Message.headers()`` (``None`` when it has none)."""
    held = batch.trace_contexts
    if len(held) >= MAX_LINKS or batch.trace_scanned >= SCAN_LIMIT or not records:
        return
    called = callable(records[0].headers)
    looked = 0
    for record in records:
        looked += 1
        headers = record.headers() if called else record.headers
        if not headers:
            continue
        traceparent = tracestate = None
        for name, value in headers:
            if name == TRACEPARENT_HEADER:
                traceparent = value
            elif name == TRACESTATE_HEADER:
                tracestate = value
        if traceparent is None or traceparent in held or traceparent[-1:] not in _SAMPLED:
            continue
        parent = remote_context(
            traceparent.decode("latin-1"), tracestate.decode("latin-1") if tracestate else None
        )
        if parent is None:
            continue  # not a W3C trace context: nothing to link
        held[traceparent] = trace.get_current_span(parent).get_span_context()
        if len(held) >= MAX_LINKS:
            break
    batch.trace_scanned += looked


async def flush_in_span(batch: Batch, flush: Awaitable[None]) -> None:
    """Await ``flush`` (the round that stores ``batch`` and commits it) inside the batch's span:
    a new trace (never the child of whatever started the round) linked to the remembered contexts,
    with the rows per table and the partitions it covers; a flush that raises ends it as an
    error."""
    links = [Link(span_context) for span_context in batch.trace_contexts.values()]
    with _tracer.start_as_current_span(
        "ingestion batch", context=context.Context(), kind=SpanKind.CONSUMER, links=links
    ) as span:
        if span.is_recording():
            span.set_attributes(_attributes(batch))
        await flush


def _attributes(batch: Batch) -> dict[str, Any]:
    partitions = set(batch.positions)
    for rows in batch.tables.values():
        partitions.update(rows.first)
    attributes: dict[str, Any] = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "ingestion batch",
        "lookout.ingestion.partitions": sorted(
            f"{partition.topic}/{partition.partition}" for partition in partitions
        ),
        "lookout.ingestion.dead_letters": len(batch.dead_letters),
    }
    for table, rows in batch.tables.items():
        attributes[f"lookout.ingestion.rows.{table}"] = len(rows)
    return attributes
