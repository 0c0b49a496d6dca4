"""The batch span's links: which records' trace contexts a batch remembers, within its bounds, and
the span a flush runs in (in memory)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import pytest
from aiokafka import TopicPartition
from lookout_ingestion import tracing
from lookout_ingestion.batching import Batch
from lookout_testing.tracing import captured_spans
from opentelemetry import trace
from opentelemetry.trace import SpanKind, StatusCode

PARTITION = TopicPartition("dashboard.events", 2)


def traceparent(trace_id: int, span_id: int, flags: str = "01") -> bytes:
    return f"00-{trace_id:032x}-{span_id:016x}-{flags}".encode()


@dataclass
class Record:
    """What ``remember`` reads of a consumer record: its headers, counting the reads."""

    header_list: list[tuple[str, bytes]] = field(default_factory=list)
    reads: int = 0

    @property
    def headers(self) -> list[tuple[str, bytes]]:
        self.reads += 1
        return self.header_list


def traced(trace_id: int, span_id: int, flags: str = "01", state: bytes | None = None) -> Record:
    headers = [
        ("content-type", b"application/json"),
        ("traceparent", traceparent(trace_id, span_id, flags)),
    ]
    if state is not None:
        headers.append(("tracestate", state))
    return Record(headers)


def test_a_batch_remembers_each_sampled_context_once_with_its_state() -> None:
    batch = Batch()
    records = [
        traced(1, 1, state=b"vendor=v1"),
        traced(1, 1, state=b"vendor=v1"),  # the same producer span again (a resend)
        traced(1, 2),
        traced(2, 3, flags="00"),  # not sampled: its trace is not recorded
        traced(3, 4, flags="0b"),  # sampled, with other flags set
        Record([("content-type", b"application/json")]),  # written outside any trace
        Record([("traceparent", b"00-not-a-trace-context-01")]),
        Record([]),
    ]
    tracing.remember(batch, records)
    contexts = list(batch.trace_contexts.values())
    assert [(c.trace_id, c.span_id) for c in contexts] == [(1, 1), (1, 2), (3, 4)]
    assert all(c.is_remote and c.trace_flags.sampled for c in contexts)
    assert contexts[0].trace_state.get("vendor") == "v1"
    assert batch.trace_scanned == len(records)


class Message:
    """What ``remember`` reads of a confluent-kafka message: ``headers()``, ``None`` if none."""

    def __init__(self, headers: list[tuple[str, bytes]] | None) -> None:
        self._headers = headers

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers


def test_headers_are_read_from_either_client_s_records() -> None:
    batch = Batch()
    tracing.remember(batch, [Message(None), Message([("traceparent", traceparent(4, 5))])])
    assert [(c.trace_id, c.span_id) for c in batch.trace_contexts.values()] == [(4, 5)]


def test_past_its_bounds_a_batch_reads_no_more_headers() -> None:
    batch = Batch()
    tracing.remember(batch, [traced(7, span) for span in range(1, tracing.MAX_LINKS + 11)])
    assert len(batch.trace_contexts) == tracing.MAX_LINKS
    later = [traced(8, span) for span in range(1, 100)]
    tracing.remember(batch, later)
    assert sum(record.reads for record in later) == 0
    assert len(batch.trace_contexts) == tracing.MAX_LINKS

    untraced = Batch()  # events with no sampled context: looked at up to the scan limit only
    records = [Record([("content-type", b"application/json")]) for _ in range(tracing.SCAN_LIMIT)]
    tracing.remember(untraced, records)
    after = [traced(9, 1), *(Record() for _ in range(99))]
    tracing.remember(untraced, after)
    assert sum(record.reads for record in after) == 0 and not untraced.trace_contexts


async def test_a_flush_runs_in_a_consumer_span_linked_to_the_batch_events() -> None:
    batch = Batch()
    batch.tables["dashboard_events"].add(PARTITION, 40, b"row")
    batch.tables["user_activity"].add(PARTITION, 40, b"row")
    batch.consumed(PARTITION, 42)
    batch.consumed(TopicPartition("alert.events", 0), 7)
    tracing.remember(batch, [traced(11, 1), traced(12, 2)])
    flushed = asyncio.Event()

    async def flush() -> None:
        assert trace.get_current_span().is_recording()  # the inserts run inside the span
        flushed.set()

    with captured_spans() as spans:
        with trace.get_tracer("test").start_as_current_span("whatever started the round"):
            await tracing.flush_in_span(batch, flush())
        (span,) = [s for s in spans.get_finished_spans() if s.name == "ingestion batch"]
    assert flushed.is_set()
    assert span.kind == SpanKind.CONSUMER
    assert span.parent is None  # a trace of its own, linked to its events'
    assert [(link.context.trace_id, link.context.span_id) for link in span.links] == [
        (11, 1),
        (12, 2),
    ]
    assert span.attributes is not None
    assert dict(span.attributes) == {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.operation.name": "ingestion batch",
        "lookout.ingestion.partitions": ("alert.events/0", "dashboard.events/2"),
        "lookout.ingestion.dead_letters": 0,
        "lookout.ingestion.rows.dashboard_events": 1,
        "lookout.ingestion.rows.query_metrics": 0,
        "lookout.ingestion.rows.user_activity": 1,
    }


async def test_a_flush_that_fails_ends_its_span_as_an_error() -> None:
    batch = Batch()
    tracing.remember(batch, [traced(13, 1)])

    async def flush() -> None:
        raise ConnectionRefusedError("clickhouse is down")

    with captured_spans() as spans:
        with pytest.raises(ConnectionRefusedError):
            await tracing.flush_in_span(batch, flush())
        (span,) = spans.get_finished_spans()
    assert span.status.status_code == StatusCode.ERROR
    assert [event.name for event in span.events] == ["exception"]
