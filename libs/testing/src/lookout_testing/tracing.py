"""Spans in memory: what a test's code recorded, read back from the process's tracer provider."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from lookout_kit.telemetry import configure_tracing
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, set_span_in_context


@contextmanager
def captured_spans() -> Iterator[InMemorySpanExporter]:
    """Every span the process ends while inside, in an in-memory exporter.

    The process has one tracer provider (the first ``configure_tracing`` wins, as in a service,
    whatever its sample ratio): the exporter is added to it, and shut down after, so it holds no
    later span. Start the test's trace from ``sampled_parent()``: a parent-based sampler records
    its children whatever the ratio."""
    configure_tracing("tests", None)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider), "another tracer provider was installed"
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()


def sampled_parent(trace_id: int, span_id: int = 0x1234) -> Context:
    """A context whose current span is a remote, sampled one (as a caller's ``traceparent``)."""
    parent = NonRecordingSpan(
        SpanContext(
            trace_id=trace_id,
            span_id=span_id,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )
    return set_span_in_context(parent)
