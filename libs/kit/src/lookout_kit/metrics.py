"""Prometheus metrics: HTTP request counts and latencies (recorded by ``middleware``), and `/metrics`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.exceptions import HTTPException

from lookout_kit.settings import Network, in_networks

HTTP_REQUESTS = Counter(
    "lookout_http_requests_total", "HTTP requests handled", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "lookout_http_request_duration_seconds",
    "HTTP request handling time",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


def metrics_endpoint(allowed: list[Network]) -> Callable[[Request], Awaitable[Response]]:
    """``/metrics`` for clients in ``allowed`` (Prometheus inside the cluster); 404 to any other,
    as if there were none. The client is the one the gateway forwarded, when it did."""

    async def metrics(request: Request) -> Response:
        if not in_networks(request.client.host if request.client else None, allowed):
            raise HTTPException(status_code=404)  # as for a route there is not
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return metrics
