"""The one pure-ASGI middleware of every request: the request id (echoed or made, in logs and in the
response), the trace (a server span continuing the caller's ``traceparent``, current while the
handler runs, so the outbox rows it writes carry it), the gateway's forwarded client address, and
the Prometheus request metrics.

One layer reading the headers once, instead of a stack (OpenTelemetry's ASGI instrumentation,
uvicorn's proxy-headers middleware, a request-id middleware): on a read path of a few
milliseconds those layers cost more than the work (the dashboard benchmark measures it against a
bare app). Pure ASGI rather than Starlette's BaseHTTPMiddleware, which costs a task and a stream
copy per request.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Collection
from typing import Any

from opentelemetry import context, trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookout_kit.log import request_id_var
from lookout_kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"
_TRACEPARENT = b"traceparent"
_TRACESTATE = b"tracestate"
_FORWARDED_FOR = b"x-forwarded-for"
_FORWARDED_PROTO = b"x-forwarded-proto"
_PROPAGATOR = TraceContextTextMapPropagator()
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
"""Method labels of the metrics: any other method a client sends counts as ``OTHER``."""
_tracer = trace.get_tracer("lookout.http")


def _request_id(value: bytes | None) -> str:
    if value is not None:
        try:
            text = value.decode("ascii")
        except UnicodeDecodeError:
            text = ""
        if 0 < len(text) <= 128 and text.isprintable():
            return text
    return uuid.uuid4().hex


class RequestContextMiddleware:
    """``trusted_proxies``: client addresses whose ``X-Forwarded-For``/``-Proto`` are believed
    (the gateway); ``"*"`` in it trusts every client."""

    def __init__(self, app: ASGIApp, *, trusted_proxies: Collection[str] = ("127.0.0.1",)) -> None:
        self.app = app
        self._trusted = frozenset(trusted_proxies)
        self._trust_all = "*" in self._trusted

    def _forwarded(self, scope: Scope, forwarded_for: bytes | None, proto: bytes | None) -> None:
        client = scope.get("client")
        if client is None or not (self._trust_all or client[0] in self._trusted):
            return
        if forwarded_for:
            # The last address is the one the trusted proxy saw: the others are the caller's say.
            host = forwarded_for.decode("latin-1").rsplit(",", 1)[-1].strip()
            if host:
                scope["client"] = (host, 0)
        if proto:
            scheme = proto.decode("latin-1").strip().lower()
            if scheme in ("http", "https"):
                scope["scheme"] = scheme

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = traceparent = tracestate = forwarded_for = proto = None
        for name, value in scope.get("headers", ()):
            if name == REQUEST_ID_HEADER:
                request_id = value
            elif name == _TRACEPARENT:
                traceparent = value
            elif name == _TRACESTATE:
                tracestate = value
            elif name == _FORWARDED_FOR:
                forwarded_for = value
            elif name == _FORWARDED_PROTO:
                proto = value
        if forwarded_for is not None or proto is not None:
            self._forwarded(scope, forwarded_for, proto)
        rid = _request_id(request_id)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = rid
        parent = None
        if traceparent is not None:
            carrier = {"traceparent": traceparent.decode("latin-1")}
            if tracestate is not None:
                carrier["tracestate"] = tracestate.decode("latin-1")
            parent = _PROPAGATOR.extract(carrier)
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        span = _tracer.start_span(f"{method}", context=parent, kind=SpanKind.SERVER)
        attached = context.attach(trace.set_span_in_context(span, parent))
        id_token = request_id_var.set(rid)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, rid.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(id_token)
            context.detach(attached)
            # The route's template (``/dashboards/{id}``), never the raw path: labels stay bounded.
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
            if span.is_recording():
                span.update_name(f"{method} {route}")
                span.set_attribute("http.request.method", method)
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("lookout.request_id", rid)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
            span.end()
