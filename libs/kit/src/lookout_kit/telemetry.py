"""OpenTelemetry: one tracer provider per process, W3C trace context carried from HTTP to Kafka headers."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, trace
from opentelemetry.instrumentation.utils import suppress_instrumentation
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_configured = False

W3C = TraceContextTextMapPropagator()
"""The W3C trace context (``traceparent`` and ``tracestate``): what goes to outbox rows and Kafka."""


def _query_spans_within_recorded_traces() -> Any:
    """OpenTelemetry's asyncpg instrumentation, making a query's span only inside a recorded span.

    Outside one the span would record nothing (an unsampled request: the parent-based sampler drops
    it) or be a root of its own (a background poll, such as the relay's): either way making it costs
    the request path CPU for no trace.
    """
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    class RecordedQueries(AsyncPGInstrumentor):
        async def _do_execute(self, func: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if not trace.get_current_span().is_recording():
                return await func(*args, **kwargs)
            return await super()._do_execute(func, instance, args, kwargs)  # type: ignore[no-untyped-call]

        async def _do_cursor_execute(self, func: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            if not trace.get_current_span().is_recording():
                return await func(*args, **kwargs)
            return await super()._do_cursor_execute(  # type: ignore[no-untyped-call]
                func, instance, args, kwargs
            )

    return RecordedQueries()  # type: ignore[no-untyped-call]


class LinkedOrRatio(Sampler):
    """The root sampler: a new trace linked to a recorded one is recorded (ingestion's batch span,
    whose links are sampled events' contexts: `lookout_ingestion.tracing`), any other new trace
    at ``ratio``."""

    def __init__(self, ratio: float) -> None:
        self._ratio = TraceIdRatioBased(ratio)

    def should_sample(
        self,
        parent_context: context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if links and any(link.context.trace_flags.sampled for link in links):
            return SamplingResult(Decision.RECORD_AND_SAMPLE, attributes)
        return self._ratio.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"LinkedOrRatio{{{self._ratio.get_description()}}}"


def configure_tracing(service: str, otlp_endpoint: str | None, sample_ratio: float = 1.0) -> None:
    """Install a tracer provider. Spans are exported only when an OTLP endpoint is configured.

    ``sample_ratio`` of new traces are recorded; a request that arrives with a trace context follows
    its sampling decision, and so does a new trace linked to a recorded one. Trace ids propagate
    (HTTP → outbox → Kafka headers) either way."""
    global _configured
    if _configured:
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"lookout-{service}"}),
        sampler=ParentBased(LinkedOrRatio(sample_ratio)),
    )
    if otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(
            BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{otlp_endpoint.rstrip('/')}/v1/traces"))
        )
    trace.set_tracer_provider(provider)
    try:
        _query_spans_within_recorded_traces().instrument()
    except Exception:  # pragma: no cover - instrumentation is best effort, never fatal
        pass
    _configured = True


def current_trace_context() -> tuple[str | None, str | None]:
    """The W3C ``traceparent`` and ``tracestate`` of the active span, to store beside an outbox
    row (``(None, None)`` outside a span; the state is ``None`` when empty)."""
    carrier: dict[str, str] = {}
    W3C.inject(carrier)
    return carrier.get("traceparent"), carrier.get("tracestate")


def current_traceparent() -> str | None:
    """The W3C ``traceparent`` of the active span."""
    return current_trace_context()[0]


def remote_context(traceparent: str, tracestate: str | None) -> context.Context | None:
    """The context whose current span is the one ``traceparent`` names (a remote parent), or
    ``None`` when it is not a valid W3C trace context."""
    carrier = {"traceparent": traceparent}
    if tracestate:
        carrier["tracestate"] = tracestate
    extracted = W3C.extract(carrier)
    if not trace.get_current_span(extracted).get_span_context().is_valid:
        return None
    return extracted


@contextmanager
def untraced() -> Iterator[None]:
    """Run background work (the relay's polls, claims and prunes) outside any trace: no current
    span, and instrumentation suppressed, so its queries make no span at all -- not children of
    whatever span the task was started in, and no roots of their own. Spans started with an
    explicit parent (the relay's producer spans) are still made."""
    token = context.attach(context.Context())
    try:
        with suppress_instrumentation():
            yield
    finally:
        context.detach(token)


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
