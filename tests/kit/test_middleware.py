"""The kit's one request middleware: request id, trace context, forwarded client, in one layer."""

from __future__ import annotations

import logging
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI, Request
from lookout_kit.app import NO_FASTAPI_TELEMETRY, create_service_app
from lookout_kit.log import configure_logging
from lookout_kit.middleware import RequestContextMiddleware
from lookout_kit.settings import ServiceSettings
from lookout_kit.telemetry import configure_tracing, current_traceparent
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


def app_seeing(seen: list[dict[str, Any]], trusted: tuple[str, ...] = ("127.0.0.1",)) -> FastAPI:
    configure_tracing("kittest", None, 0.0)  # as a service does (once per process)
    app = FastAPI(telemetry=NO_FASTAPI_TELEMETRY)
    app.add_middleware(RequestContextMiddleware, trusted_proxies=trusted)

    @app.get("/things/{thing}")
    async def thing(thing: str, request: Request) -> dict[str, str]:
        context = trace.get_current_span().get_span_context()
        seen.append(
            {
                "trace_id": format(context.trace_id, "032x"),
                "traceparent": current_traceparent(),
                "client": request.client.host if request.client else None,
                "scheme": request.url.scheme,
            }
        )
        return {"thing": thing}

    return app


async def call(app: FastAPI, headers: dict[str, str], client: str = "127.0.0.1") -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=(client, 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get("/things/a", headers=headers)


async def test_the_callers_trace_is_continued_and_reaches_what_the_handler_writes() -> None:
    seen: list[dict[str, Any]] = []
    response = await call(app_seeing(seen), {"traceparent": TRACEPARENT})
    assert response.status_code == 200
    assert seen[0]["trace_id"] == TRACE_ID
    assert seen[0]["traceparent"].split("-")[1] == TRACE_ID  # what an outbox row would carry


async def test_a_request_without_a_trace_starts_one() -> None:
    seen: list[dict[str, Any]] = []
    await call(app_seeing(seen), {})
    await call(app_seeing(seen), {})
    assert seen[0]["trace_id"] != "0" * 32
    assert seen[0]["trace_id"] != seen[1]["trace_id"]


async def test_the_request_id_is_echoed_or_made() -> None:
    seen: list[dict[str, Any]] = []
    app = app_seeing(seen)
    assert (await call(app, {"x-request-id": "abc-123"})).headers["x-request-id"] == "abc-123"
    made = (await call(app, {"x-request-id": "bad\x01id"})).headers["x-request-id"]
    assert len(made) == 32 and made != "bad\x01id"


async def test_the_gateway_says_who_called_and_nobody_else_does() -> None:
    seen: list[dict[str, Any]] = []
    forwarded = {"x-forwarded-for": "198.51.100.7, 203.0.113.5", "x-forwarded-proto": "https"}
    await call(app_seeing(seen), forwarded)
    assert (seen[0]["client"], seen[0]["scheme"]) == ("203.0.113.5", "https")
    await call(app_seeing(seen), forwarded, client="192.0.2.9")  # not the gateway
    assert (seen[1]["client"], seen[1]["scheme"]) == ("192.0.2.9", "http")
    await call(app_seeing(seen, trusted=("*",)), forwarded, client="192.0.2.9")
    assert seen[2]["client"] == "203.0.113.5"


async def test_a_kit_app_has_one_telemetry_layer_between_the_caller_and_the_handler() -> None:
    """A request makes one span, the middleware's server span, child of the caller's and current
    in the handler: no span of FastAPI's own telemetry or of an instrumentation layer."""
    router = APIRouter()
    seen: list[Any] = []

    @router.get("/one")
    async def one() -> dict[str, str]:
        seen.append(trace.get_current_span())
        return {}

    app = create_service_app(
        ServiceSettings(service_name="kittest"),
        service_package="lookout_kit",
        title="t",
        routers=[router],
    )
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)  # configure_tracing installed the SDK's
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        response = await call_path(app, "/one", {"traceparent": TRACEPARENT})
    finally:
        exporter.shutdown()
    assert response.status_code == 200
    spans = [
        span for span in exporter.get_finished_spans() if span.context.trace_id == int(TRACE_ID, 16)
    ]
    assert [span.name for span in spans] == ["GET /one"]
    assert (
        spans[0].parent is not None
        and format(spans[0].parent.span_id, "016x") == "00f067aa0ba902b7"
    )
    assert seen[0].get_span_context().span_id == spans[0].context.span_id


async def call_path(app: FastAPI, path: str, headers: dict[str, str]) -> httpx.Response:
    transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        return await http.get(path, headers=headers)


def test_uvicorns_access_line_is_written_only_when_asked() -> None:
    """uvicorn writes its per-request line whenever its logger has a handler, propagation
    included: the kit's logging must leave it none unless access_log is set."""
    access = logging.getLogger("uvicorn.access")
    try:
        configure_logging("kittest", "INFO", access_log=False)
        assert not access.hasHandlers()
        configure_logging("kittest", "INFO", access_log=True)
        assert access.hasHandlers()
    finally:
        configure_logging("kittest", "INFO")
