"""One pure-ASGI middleware for every request: the request id (echoed or made, in logs and in the
response) and the Prometheus request metrics. Pure ASGI rather than Starlette's BaseHTTPMiddleware,
which costs a task and a stream copy per request."""

from __future__ import annotations

import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lookout_kit.log import request_id_var
from lookout_kit.metrics import HTTP_LATENCY, HTTP_REQUESTS

REQUEST_ID_HEADER = b"x-request-id"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == REQUEST_ID_HEADER:
            try:
                text: str = value.decode("ascii")
            except UnicodeDecodeError:
                break
            if 0 < len(text) <= 128 and text.isprintable():
                return text
            break
    return uuid.uuid4().hex


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [
                    *message.get("headers", []),
                    (REQUEST_ID_HEADER, request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id_var.reset(token)
            # The route's template (``/dashboards/{id}``), never the raw path: labels stay bounded.
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            method = scope["method"]
            HTTP_REQUESTS.labels(method, route, str(status)).inc()
            HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
