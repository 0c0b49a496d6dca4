"""Query spans: a query inside a recorded span gets a child span; a query outside one (an unsampled
request, a background poll) gets none, not even a root of its own."""

from __future__ import annotations

import asyncpg
from lookout_kit.telemetry import _query_spans_within_recorded_traces
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context


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
