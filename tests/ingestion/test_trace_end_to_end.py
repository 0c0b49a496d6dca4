"""One trace from an HTTP request to the ingestion batch that stores its event, in memory.

The dashboard service (in-process, with its outbox relay) and an ingestion consumer (in-process)
share a broker of the test's own; the request arrives with a caller's sampled ``traceparent``."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from lookout_dashboard.app import create_app
from lookout_dashboard.settings import Settings as DashboardSettings
from lookout_ingestion.consumer import IngestionConsumer
from lookout_ingestion.settings import Settings as IngestionSettings
from lookout_kit.auth import Authenticator
from lookout_testing.broker import PrivateBroker
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.tokens import AUDIENCE, ISSUER, Actor, SigningKeys
from lookout_testing.topics import unique_topic
from lookout_testing.tracing import captured_spans
from lookout_testing.waiting import wait_until
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from tests.dashboard.support import MEMBER, a_dashboard

TRACE_ID = 0x0AF7651916CD43DD8448EB211C80319C
CALLER = f"00-{TRACE_ID:032x}-b7ad6b7169203331-01"


@asynccontextmanager
async def dashboard_http(
    servers: Servers, broker: PrivateBroker, keys: SigningKeys
) -> AsyncIterator[httpx.AsyncClient]:
    async with temporary_database(servers.postgres, prefix="test_dashboard") as database:
        settings = DashboardSettings(
            database_url=database,
            kafka_bootstrap_servers=broker.bootstrap_servers,
            identity_events_topic=unique_topic("identity"),
            identity_consumer_group=f"test-dashboard-{uuid.uuid4().hex[:8]}",
            outbox_poll_interval_s=0.2,
        )
        app = create_app(settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=30, message="the dashboard service to be ready")
                yield http


@asynccontextmanager
async def ingesting(servers: Servers, broker: PrivateBroker, database: str) -> AsyncIterator[None]:
    settings = IngestionSettings(
        kafka_bootstrap_servers=broker.bootstrap_servers,
        clickhouse_url=servers.clickhouse,
        clickhouse_database=database,
        consumer_group=f"itest-{uuid.uuid4().hex[:8]}",
        metadata_max_age_ms=500,
        session_timeout_ms=6000,
        batch_max_age_s=0.2,
        retry_max_s=1.0,
    )
    stopping = asyncio.Event()
    consumer = IngestionConsumer(settings, stopping)
    await consumer.start()
    running = asyncio.create_task(consumer.run())
    try:
        yield
    finally:
        stopping.set()
        await running
        await consumer.close()


def finished(spans: InMemorySpanExporter, kind: SpanKind, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.kind == kind and s.name == name]


async def test_one_trace_id_from_the_http_request_to_the_ingestion_batch_span(
    private_broker: PrivateBroker, servers: Servers
) -> None:
    keys = SigningKeys()
    actor = Actor(uuid.uuid4(), permissions=MEMBER)
    with captured_spans() as spans:
        async with (
            temporary_clickhouse_database(servers.clickhouse, prefix="itest") as clickhouse,
            dashboard_http(servers, private_broker, keys) as http,
            ingesting(servers, private_broker, clickhouse.database),
        ):
            response = await http.post(
                "/dashboards",
                json=a_dashboard(),
                headers={"Authorization": f"Bearer {keys.token(actor)}", "traceparent": CALLER},
            )
            assert response.status_code == 201, response.text

            async def published() -> list[ReadableSpan]:
                return finished(spans, SpanKind.PRODUCER, "dashboard.events publish")

            (publish,) = await wait_until(published, message="the producer span")
            assert publish.attributes is not None
            event_id = uuid.UUID(str(publish.attributes["messaging.message.id"]))

            async def stored() -> bool:
                rows = await clickhouse.rows(
                    f"SELECT count() AS n FROM dashboard_events WHERE event_id = '{event_id}'"
                )
                return int(rows[0]["n"]) == 1

            await wait_until(stored, timeout=60, message="the event in ClickHouse")

            async def batch_spans() -> list[ReadableSpan]:
                return finished(spans, SpanKind.CONSUMER, "ingestion batch")

            batches = await wait_until(batch_spans, message="the ingestion batch span")
    (request,) = finished(spans, SpanKind.SERVER, "POST /dashboards")
    assert request.context is not None and request.context.trace_id == TRACE_ID
    # The request wrote the event (in its transaction) → the relay published it in its trace ...
    assert publish.context is not None and publish.context.trace_id == TRACE_ID
    assert publish.parent is not None and publish.parent.span_id == request.context.span_id
    # ... → the batch that stored it links to that publish: one trace id, end to end.
    links = [link.context for batch in batches for link in batch.links]
    assert (TRACE_ID, publish.context.span_id) in [(c.trace_id, c.span_id) for c in links]
