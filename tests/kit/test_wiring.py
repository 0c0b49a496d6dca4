"""End to end through the kit: HTTP request → transaction + outbox → Kafka → a FastStream subscriber
in a consumer group, with one trace from the request to the subscriber."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
from fastapi import APIRouter, Request
from lookout_kit.app import Runtime, create_service_app
from lookout_kit.kafka import create_broker
from lookout_kit.outbox import publish_in_tx
from lookout_kit.settings import ServiceSettings
from lookout_testing.servers import Servers
from lookout_testing.waiting import wait_until
from opentelemetry import trace

from .factories import step_event


async def test_request_to_subscriber_in_one_trace(
    database: str, servers: Servers, topic: str
) -> None:
    broker = create_broker(servers.kafka)
    received: list[dict[str, Any]] = []
    trace_ids: list[str] = []
    request_trace: list[str] = []

    @broker.subscriber(
        topic, group_id=f"kittest-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest"
    )
    async def on_step(body: dict[str, Any]) -> None:
        received.append(body)
        context = trace.get_current_span().get_span_context()
        trace_ids.append(format(context.trace_id, "032x"))

    router = APIRouter()

    @router.post("/widgets/{widget_id}/step")
    async def step(widget_id: str, request: Request) -> dict[str, str]:
        runtime: Runtime = request.app.state.runtime
        assert runtime.pool is not None
        request_trace.append(format(trace.get_current_span().get_span_context().trace_id, "032x"))
        event = step_event(widget_id, 1)
        async with runtime.pool.acquire() as conn, conn.transaction():
            await publish_in_tx(conn, event, topic=topic)
        return {"event_id": str(event.id)}

    settings = ServiceSettings(
        service_name="kittest", database_url=database, kafka_bootstrap_servers=servers.kafka
    )
    app = create_service_app(
        settings, service_package="lookout_kit", title="t", routers=[router], broker=broker
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:

            async def subscribed() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await wait_until(subscribed, timeout=20, message="the service to be ready")
            response = await client.post("/widgets/w-1/step")
            assert response.status_code == 200

            async def delivered() -> bool:
                await asyncio.sleep(0)
                return bool(received)

            await wait_until(delivered, timeout=30, message="the subscriber to get the event")
    assert received[0]["id"] == response.json()["event_id"]
    assert received[0]["subject"] == {"type": "widget", "id": "w-1"}
    assert trace_ids[0] == request_trace[0]
