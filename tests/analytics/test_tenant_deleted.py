"""identity's ``tenant.deleted``, through the real broker: the tenant's rows leave the three
tables and the rollups of ``query_metrics`` (a mutation each), another tenant's stay."""

from __future__ import annotations

import asyncio
import logging
import uuid
from urllib.parse import urlsplit

from aiokafka import AIOKafkaProducer
from lookout_analytics.app import create_app
from lookout_analytics.repository.scope import ROLLUPS, TABLES
from lookout_analytics.settings import Settings
from lookout_analytics.subscribers import ATTEMPTS
from lookout_contracts import make_event
from lookout_contracts.events.identity import TenantDeletedV1
from lookout_kit.auth import Authenticator
from lookout_kit.clickhouse import bind
from lookout_testing.broker import free_port
from lookout_testing.servers import Servers
from lookout_testing.tokens import AUDIENCE, ISSUER, SigningKeys
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from .conftest import AnalyticsService, reader
from .test_access import empty
from .usage import WINDOW, Ids, make_usage


async def rows_of(analytics: AnalyticsService, tenant_id: uuid.UUID) -> dict[str, int]:
    counts = {}
    for table in (*TABLES, *ROLLUPS):
        found = await analytics.clickhouse.rows(
            bind(f"SELECT count() AS n FROM {table} WHERE tenant_id = {{t:UUID}}", {"t": tenant_id})
        )
        counts[table] = int(found[0]["n"])
    return counts


async def test_a_deleted_tenants_rows_are_removed(
    analytics: AnalyticsService, servers: Servers
) -> None:
    ids = Ids()
    doomed = make_usage(uuid.uuid4(), ids, seed=3, volume=12)
    kept = make_usage(uuid.uuid4(), ids, seed=4, volume=12)
    await analytics.store(doomed.events + kept.events)
    before = await rows_of(analytics, kept.tenant_id)
    assert all((await rows_of(analytics, doomed.tenant_id)).values()) and all(before.values())

    event = make_event(
        "tenant.deleted",
        tenant_id=doomed.tenant_id,
        subject_id=doomed.tenant_id,
        data=TenantDeletedV1(),
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(analytics.identity_topic, event.to_json(), key=event.key)
    finally:
        await producer.stop()

    async def gone() -> bool:
        return not any((await rows_of(analytics, doomed.tenant_id)).values())

    await wait_until(gone, timeout=60, message="the deleted tenant's rows to go")
    assert await rows_of(analytics, kept.tenant_id) == before
    response = await analytics.get(reader(doomed.tenant_id), "/reports/users/active", **WINDOW)
    assert empty(response.json())


class Records(logging.Handler):
    def __init__(self, level: int = logging.ERROR) -> None:
        super().__init__(level)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_a_refused_deletion_is_logged_and_the_next_event_applied(servers: Servers) -> None:
    """Mutations as the read-only user: ClickHouse refuses each; after its attempts the event is
    logged as an error and acknowledged, and the next one (same partition) is tried in turn."""
    topic = unique_topic("identity")
    settings = Settings(
        clickhouse_url=servers.clickhouse,
        clickhouse_mutations_user="lookout_reader",
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=topic,
        identity_consumer_group=f"test-analytics-{uuid.uuid4().hex[:8]}",
    )
    first, second = uuid.uuid4(), uuid.uuid4()
    events = [
        make_event("tenant.deleted", tenant_id=t, subject_id=t, data=TenantDeletedV1())
        for t in (first, second)
    ]
    app = create_app(settings, Authenticator(SigningKeys(), issuer=ISSUER, audience=AUDIENCE))
    # The app configures logging (the kit's JSON lines): listen on the subscriber's own logger.
    records = Records()
    logging.getLogger("lookout.analytics.subscribers").addHandler(records)
    async with app.router.lifespan_context(app):
        producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
        await producer.start()
        try:
            for event in events:
                await producer.send_and_wait(topic, event.to_json(), key=events[0].key)
        finally:
            await producer.stop()

        def refused() -> set[str]:
            return {
                str(getattr(record, "tenant_id", ""))
                for record in records.records
                if "could not be deleted" in record.getMessage()
            }

        async def both_refused() -> bool:
            return refused() == {str(first), str(second)}

        try:
            await wait_until(both_refused, timeout=60, message="both deletions refused and logged")
        finally:
            logging.getLogger("lookout.analytics.subscribers").removeHandler(records)


class Forwarder:
    """A TCP port that forwards to ClickHouse once ``start`` is called (nothing listens before)."""

    def __init__(self, target: str) -> None:
        self.port = free_port()
        self.target = urlsplit(target)
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            finally:
                writer.close()

        async def serve(client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
            server_in, server_out = await asyncio.open_connection(
                self.target.hostname, self.target.port
            )
            await asyncio.gather(
                pipe(client_in, server_out), pipe(server_in, client_out), return_exceptions=True
            )

        self.server = await asyncio.start_server(serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_a_deletion_waits_out_a_clickhouse_outage(
    analytics: AnalyticsService, servers: Servers
) -> None:
    """ClickHouse unreachable: the deletion is retried past ``ATTEMPTS`` for as long as the outage
    lasts, then applied."""
    doomed = make_usage(uuid.uuid4(), Ids(), seed=5, volume=3)
    await analytics.store(doomed.events)
    link = Forwarder(servers.clickhouse)
    topic = unique_topic("identity")
    settings = Settings(
        clickhouse_url=f"http://127.0.0.1:{link.port}",
        clickhouse_database=analytics.clickhouse.database,
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=topic,
        identity_consumer_group=f"test-analytics-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, Authenticator(SigningKeys(), issuer=ISSUER, audience=AUDIENCE))
    records = Records(logging.WARNING)
    logger = logging.getLogger("lookout.analytics.subscribers")
    async with app.router.lifespan_context(app):
        logger.addHandler(records)
        try:
            event = make_event(
                "tenant.deleted",
                tenant_id=doomed.tenant_id,
                subject_id=doomed.tenant_id,
                data=TenantDeletedV1(),
            )
            producer = AIOKafkaProducer(bootstrap_servers=servers.kafka, enable_idempotence=False)
            await producer.start()
            try:
                await producer.send_and_wait(topic, event.to_json(), key=event.key)
            finally:
                await producer.stop()

            async def retried_past_the_attempts() -> bool:
                return len(records.records) > ATTEMPTS

            await wait_until(retried_past_the_attempts, timeout=60, message="retries")
            assert all((await rows_of(analytics, doomed.tenant_id)).values())
            await link.start()

            async def gone() -> bool:
                return not any((await rows_of(analytics, doomed.tenant_id)).values())

            await wait_until(gone, timeout=60, message="the rows to go once ClickHouse is back")
            assert not [r for r in records.records if r.levelno >= logging.ERROR]
        finally:
            logger.removeHandler(records)
            await link.stop()
