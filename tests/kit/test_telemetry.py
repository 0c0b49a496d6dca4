"""Query spans: a query inside a recorded span gets a child span; a query outside one (an unsampled
request, a background poll) gets none, not even a root of its own. The root sampler records a new
trace linked to a recorded one."""

from __future__ import annotations

import asyncpg
from lookout_kit.telemetry import LinkedOrRatio, _query_spans_within_recorded_traces
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased
from opentelemetry.trace import (
    Link,
    NonRecordingSpan,
    SpanContext,
    TraceFlags,
    set_span_in_context,
)


async def test_queries_are_spanned_only_inside_recorded_spans(database: str) -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # samples everything: a root query span would be recorded
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = _query_spans_within_recorded_traces()
    instrumentor.instrument(tracer_provider=provider)
    conn = await asyncpg.connect(database)
    try:
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("request") as request:
            await conn.fetchval("SELECT 1")
        unsampled = NonRecordingSpan(
            SpanContext(trace_id=7, span_id=9, is_remote=True, trace_flags=TraceFlags(0))
        )
        with tracer.start_as_current_span("unsampled", context=set_span_in_context(unsampled)):
            await conn.fetchval("SELECT 2")
        await conn.fetchval("SELECT 3")  # a background poll: no span around it
    finally:
        await conn.close()
        instrumentor.uninstrument()
    queries = [
        span for span in exporter.get_finished_spans() if span.name not in ("request", "unsampled")
    ]
    assert [span.attributes["db.statement"] for span in queries] == ["SELECT 1"]
    assert queries[0].parent is not None
    assert queries[0].parent.span_id == request.get_span_context().span_id


def test_a_new_trace_linked_to_a_recorded_one_is_recorded_whatever_the_ratio() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(LinkedOrRatio(0.0)))  # no new trace otherwise
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    def linked(flags: int) -> Link:
        return Link(
            SpanContext(trace_id=5, span_id=6, is_remote=True, trace_flags=TraceFlags(flags))
        )

    tracer.start_span("batch of sampled events", links=[linked(0), linked(1)]).end()
    tracer.start_span("batch of unsampled events", links=[linked(0)]).end()
    tracer.start_span("no links").end()
    assert [span.name for span in exporter.get_finished_spans()] == ["batch of sampled events"]
