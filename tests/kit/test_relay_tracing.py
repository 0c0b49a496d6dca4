"""The relay's spans, in memory: a producer span per traced row, the child of the request that wrote
it, whose context goes in the record's headers; no span for the relay's own polls and claims."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaTimeoutError
from lookout_kit.outbox import publish_in_tx
from lookout_kit.relay import OutboxRelay, RelayError, make_producer
from lookout_testing.servers import Servers
from lookout_testing.topics import TopicCapture
from lookout_testing.tracing import captured_spans, sampled_parent
from lookout_testing.waiting import wait_until
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState

from .factories import make_relay, step_event

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736


def traceparent_of(span: ReadableSpan) -> str:
    context = span.get_span_context()
    assert context is not None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-01"


def in_request(trace_state: TraceState | None = None) -> Any:
    """A server span continuing a caller's sampled trace, as the kit's middleware makes one."""
    parent = sampled_parent(TRACE_ID)
    if trace_state is not None:
        caller = trace.get_current_span(parent).get_span_context()
        parent = trace.set_span_in_context(
            trace.NonRecordingSpan(
                trace.SpanContext(
                    caller.trace_id,
                    caller.span_id,
                    is_remote=True,
                    trace_flags=caller.trace_flags,
                    trace_state=trace_state,
                )
            )
        )
    return trace.get_tracer("test").start_as_current_span(
        "POST /widgets", context=parent, kind=SpanKind.SERVER
    )


async def test_each_event_is_published_in_a_producer_span_of_the_request(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    with captured_spans() as spans:
        with in_request(TraceState([("vendor", "v1")])) as request:
            async with pool.acquire() as conn, conn.transaction():
                event = step_event("t", 1)
                await publish_in_tx(conn, event, topic=topic)
        # The relay's rounds run in the context of the task that started it: here, inside a
        # recorded span, open all along. Its polls, claims and prunes still make no span (the
        # query instrumentation would make children of it).
        with in_request():
            relay = make_relay(outbox_database, pool, servers.kafka)
            relay.start()
            try:
                async with TopicCapture(servers.kafka, topic) as capture:
                    (record,) = await capture.wait_for(1)

                async def published() -> bool:
                    return any(s.kind == SpanKind.PRODUCER for s in spans.get_finished_spans())

                await wait_until(published, timeout=10, message="the producer span")
                await asyncio.sleep(1.2)  # more polls (every 0.5 s): none may make a span
            finally:
                await relay.stop()
        finished = spans.get_finished_spans()
    (publish,) = [span for span in finished if span.kind == SpanKind.PRODUCER]
    assert publish.name == f"{topic} publish"
    assert publish.parent is not None
    assert publish.parent.span_id == request.get_span_context().span_id
    assert publish.context is not None and publish.context.trace_id == TRACE_ID
    assert publish.status.status_code == StatusCode.UNSET
    assert publish.attributes is not None
    assert dict(publish.attributes) | {"messaging.kafka.offset": 0} == {
        "messaging.system": "kafka",
        "messaging.operation.type": "send",
        "messaging.operation.name": "publish",
        "messaging.destination.name": topic,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.message.id": str(event.id),
        "messaging.kafka.message.key": "t",
        "messaging.kafka.offset": 0,
    }
    assert publish.attributes["messaging.kafka.offset"] == record.offset
    headers = dict(record.headers)
    assert headers["content-type"] == b"application/json"
    assert headers["traceparent"].decode() == traceparent_of(publish)
    assert headers["tracestate"] == b"vendor=v1"
    # What a consumer reads from the headers is the producer span: the trace goes on from it.
    extracted = TraceContextTextMapPropagator().extract(
        {name: value.decode() for name, value in record.headers}
    )
    consumer_parent = trace.get_current_span(extracted).get_span_context()
    assert (consumer_parent.trace_id, consumer_parent.span_id) == (
        TRACE_ID,
        publish.context.span_id,
    )
    # Every other span is one of the two requests or a query inside the first (the outbox
    # insert): the relay's own queries made none, neither roots nor children.
    others = [span for span in finished if span is not publish]
    assert {span.name for span in others if span.kind == SpanKind.SERVER} == {"POST /widgets"}
    queries = [span for span in others if span.kind != SpanKind.SERVER]
    assert queries, "the outbox insert in the request is traced"
    assert all(
        query.parent is not None and query.parent.span_id == request.get_span_context().span_id
        for query in queries
    ), [(query.name, query.attributes) for query in queries]


async def relay_the_one_row(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> Any:
    """One relay round over the outbox's one row; the record it put on ``topic``."""
    relay = make_relay(outbox_database, pool, servers.kafka)
    try:
        assert (await relay.publish_batch()).published == 1
    finally:
        await relay.stop()
    async with TopicCapture(servers.kafka, topic) as capture:
        (record,) = await capture.wait_for(1)
    return record


async def test_an_event_written_outside_a_trace_gets_no_span_and_no_trace_headers(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    with captured_spans() as spans:
        async with pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, step_event("n", 1), topic=topic)
        record = await relay_the_one_row(pool, outbox_database, servers, topic)
        assert spans.get_finished_spans() == ()
    assert dict(record.headers) == {"content-type": b"application/json"}


async def test_an_event_of_an_unsampled_trace_carries_its_trace_on_without_a_span(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    unsampled = trace.set_span_in_context(
        trace.NonRecordingSpan(
            trace.SpanContext(TRACE_ID, 0x99, is_remote=True, trace_flags=trace.TraceFlags(0))
        )
    )
    with captured_spans() as spans:
        with trace.get_tracer("test").start_as_current_span("GET /widgets", context=unsampled):
            async with pool.acquire() as conn, conn.transaction():
                await publish_in_tx(conn, step_event("u", 1), topic=topic)
            stored = await pool.fetchval("SELECT traceparent FROM outbox")
        record = await relay_the_one_row(pool, outbox_database, servers, topic)
        assert spans.get_finished_spans() == ()
    assert stored.split("-")[1] == f"{TRACE_ID:032x}" and stored.endswith("-00")
    assert dict(record.headers) == {
        "content-type": b"application/json",
        "traceparent": stored.encode(),
    }


class AcknowledgementFails:
    """A real producer whose batches are never acknowledged (as a produce request timing out)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self._producer = producer

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        future.set_exception(KafkaTimeoutError("injected: no acknowledgement"))
        return future

    def __getattr__(self, name: str) -> Any:  # start, stop, create_batch, partitions_for, ...
        return getattr(self._producer, name)


async def test_a_publish_kafka_does_not_acknowledge_ends_its_span_as_an_error(
    pool: asyncpg.Pool, outbox_database: str, servers: Servers, topic: str
) -> None:
    relay = OutboxRelay(
        dsn=outbox_database,
        pool=pool,
        bootstrap_servers=servers.kafka,
        producer_factory=lambda servers, timeout: AcknowledgementFails(
            make_producer(servers, timeout)
        ),
    )
    with captured_spans() as spans:
        with in_request():
            async with pool.acquire() as conn, conn.transaction():
                await publish_in_tx(conn, step_event("f", 1), topic=topic)
        try:
            with pytest.raises(RelayError):
                await relay.publish_batch()
        finally:
            await relay.stop()
        (publish,) = [s for s in spans.get_finished_spans() if s.kind == SpanKind.PRODUCER]
    assert publish.status.status_code == StatusCode.ERROR
    assert [event.name for event in publish.events] == ["exception"]
    assert publish.context is not None and publish.context.trace_id == TRACE_ID
