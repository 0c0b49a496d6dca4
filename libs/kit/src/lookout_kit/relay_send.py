"""Sending one relay batch to Kafka so that no row reaches the topic before an earlier row of its key.

The rows are grouped by the partition their key maps to (the producer's default partitioner: the
placement ``send`` would choose) and each partition's rows go as explicit record batches, in ``id``
order, one at a time: the broker appends a record batch whole or not at all, and the next batch of a
partition is handed over only after the previous one was acknowledged. So when a row fails, no later
row of its partition -- hence of its key -- is sent or marked published: they wait for the next
round, behind it. Partitions are sent concurrently.

Each row stored with a trace context (the request that wrote it) is sent inside a PRODUCER span
``<topic> publish``, the child of that context, from its append to a record batch to the broker's
acknowledgement (or the error that stopped it); the span's ``traceparent`` and ``tracestate`` go in
the record's headers, so consumers continue the trace from the publish. A row with no stored
context gets no span and no trace headers: the relay makes no roots of its own. A row of an
unsampled trace gets no span either (nothing of that trace is recorded): its stored context goes in
the headers as it is, so the trace id still propagates.

A row that a relay had claimed before (``claimed_before``: that relay may have sent it, then died
or lost the acknowledgement) gets ``POSSIBLE_RESEND_HEADER`` first in its headers, so consumers
know to look for an earlier copy further back than they otherwise would.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError
from aiokafka.partitioner import DefaultPartitioner
from lookout_contracts.envelope import CONTENT_TYPE
from lookout_contracts.headers import (
    CONTENT_TYPE_HEADER,
    POSSIBLE_RESEND_HEADER,
    TRACEPARENT_HEADER,
    TRACESTATE_HEADER,
)
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from lookout_kit.telemetry import W3C, remote_context

_PARTITIONER = DefaultPartitioner()
_CONTENT_TYPE = (CONTENT_TYPE_HEADER, CONTENT_TYPE.encode())
_POSSIBLE_RESEND = (POSSIBLE_RESEND_HEADER, b"1")
_SAMPLED = "13579bdf"
"""The last hex digit of a ``traceparent``'s flags when the sampled bit is set."""
_tracer = trace.get_tracer("lookout.relay")


@dataclass
class Sent:
    """Rows Kafka acknowledged (each partition's leading run, in ``id`` order) and the errors that
    stopped the rest."""

    acknowledged: list[asyncpg.Record] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)


async def send_in_key_order(producer: AIOKafkaProducer, rows: Sequence[asyncpg.Record]) -> Sent:
    """Send ``rows`` (in ``id`` order); see the module doc for what a failure leaves unsent."""
    by_partition: dict[tuple[str, int], list[asyncpg.Record]] = {}
    partitions_of: dict[str, list[int]] = {}
    for row in rows:
        topic = row["topic"]
        if topic not in partitions_of:
            partitions_of[topic] = sorted(await producer.partitions_for(topic))
        partitions = partitions_of[topic]
        partition = _PARTITIONER(row["message_key"], partitions, partitions)
        by_partition.setdefault((topic, partition), []).append(row)
    outcomes = await asyncio.gather(
        *(
            _send_partition(producer, topic, partition, partition_rows)
            for (topic, partition), partition_rows in by_partition.items()
        )
    )
    sent = Sent()
    for acknowledged, error in outcomes:
        sent.acknowledged.extend(acknowledged)
        if error is not None:
            sent.errors.append(error)
    sent.acknowledged.sort(key=lambda row: row["id"])
    return sent


async def _send_partition(
    producer: AIOKafkaProducer, topic: str, partition: int, rows: list[asyncpg.Record]
) -> tuple[list[asyncpg.Record], KafkaError | None]:
    acknowledged: list[asyncpg.Record] = []
    # One per row appended so far (a row that did not fit keeps its span for the next batch).
    publishes: list[Publish] = []
    try:
        while len(acknowledged) < len(rows):
            first = len(acknowledged)
            batch = producer.create_batch()
            taken = 0
            for index in range(first, len(rows)):
                row = rows[index]
                if index == len(publishes):
                    publishes.append(Publish.of(row, topic, partition))
                appended = batch.append(
                    timestamp=None,
                    key=row["message_key"],
                    value=row["payload"],
                    headers=publishes[index].headers,
                )
                if appended is None:
                    break
                taken += 1
            batch.close()
            if taken == 0:
                error: KafkaError = MessageSizeTooLargeError(f"outbox row {rows[first]['id']}")
                _failed(publishes[first:], error)
                return acknowledged, error
            try:
                future = await producer.send_batch(batch, topic, partition=partition)
                metadata = await future
            except KafkaError as error:
                _failed(publishes[first:], error)
                return acknowledged, error
            for position, publish in enumerate(publishes[first : first + taken]):
                publish.acknowledged(metadata.offset + position)
            acknowledged.extend(rows[first : first + taken])
        return acknowledged, None
    except BaseException as error:  # cancelled (the relay stops): the spans still end
        _failed(publishes[len(acknowledged) :], error)
        raise


class Publish:
    """A row's record headers and, when the row has a stored trace context, its producer span."""

    __slots__ = ("headers", "span")

    def __init__(self, headers: list[tuple[str, bytes]], span: Span | None) -> None:
        self.headers = headers
        self.span = span

    @classmethod
    def of(cls, row: asyncpg.Record, topic: str, partition: int) -> Publish:
        publish = cls._traced(row, topic, partition)
        if row.get("claimed_before"):
            publish.headers.insert(0, _POSSIBLE_RESEND)
        return publish

    @classmethod
    def _traced(cls, row: asyncpg.Record, topic: str, partition: int) -> Publish:
        traceparent, tracestate = row["traceparent"], row["tracestate"]
        if not traceparent:
            return cls([_CONTENT_TYPE], None)
        if traceparent[-1:] not in _SAMPLED:
            # An unsampled trace records nothing, so there is no span to make (it costs about as
            # much as the rest of the row's send): the trace id goes on as the request left it.
            headers = [_CONTENT_TYPE, (TRACEPARENT_HEADER, traceparent.encode())]
            if tracestate:
                headers.append((TRACESTATE_HEADER, tracestate.encode()))
            return cls(headers, None)
        parent = remote_context(traceparent, tracestate)
        if parent is None:
            return cls([_CONTENT_TYPE], None)
        span = _tracer.start_span(
            f"{topic} publish",
            context=parent,
            kind=SpanKind.PRODUCER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "send",
                "messaging.operation.name": "publish",
                "messaging.destination.name": topic,
                "messaging.destination.partition.id": str(partition),
                "messaging.message.id": str(row["event_id"]),
                "messaging.kafka.message.key": row["message_key"].decode("utf-8", "replace"),
            },
        )
        carrier: dict[str, str] = {}
        W3C.inject(carrier, context=trace.set_span_in_context(span))
        return cls(
            [_CONTENT_TYPE, *((name, value.encode()) for name, value in carrier.items())], span
        )

    def acknowledged(self, offset: int) -> None:
        if self.span is not None:
            if offset >= 0:
                self.span.set_attribute("messaging.kafka.offset", offset)
            self.span.end()
            self.span = None

    def failed(self, error: BaseException) -> None:
        if self.span is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            self.span.end()
            self.span = None


def _failed(publishes: list[Publish], error: BaseException) -> None:
    for publish in publishes:
        publish.failed(error)
