"""The analytics service in-process against the real ClickHouse (a database of the run's own,
with ingestion's migrations) and Kafka, with test-signed tokens; rows written as ingestion writes
them (its mapping and RowBinary encoding, the kit's insert)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lookout_analytics.app import create_app
from lookout_analytics.settings import Settings
from lookout_contracts.envelope import Envelope
from lookout_ingestion.encoding import encode_origin, encode_row
from lookout_ingestion.mapping import COLUMNS, TABLES, map_event
from lookout_ingestion.migrate import apply_migrations
from lookout_kit.auth import Authenticator
from lookout_kit.clickhouse import ClickHouse
from lookout_testing.clickhouse import temporary_clickhouse_database
from lookout_testing.servers import Servers
from lookout_testing.tokens import AUDIENCE, ISSUER, Actor, SigningKeys
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from .usage import Ids, Usage, make_usage

ANALYTICS_READ = [{"resource": "analytics", "action": "read"}]
_offsets = itertools.count()


@dataclass
class AnalyticsService:
    http: httpx.AsyncClient
    keys: SigningKeys
    clickhouse: ClickHouse
    """The run's database, as ingestion's writer (the service itself reads as lookout_reader)."""
    identity_topic: str
    """Where the service takes identity's events from (a topic of the run's own)."""

    def headers(self, actor: Actor) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys.token(actor)}"}

    async def get(self, actor: Actor, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.headers(actor))

    async def store(self, events: Iterable[Envelope[Any]]) -> None:
        """Store ``events`` as ingestion does: mapped to rows, RowBinary, one insert per table."""
        bodies: dict[str, list[bytes]] = {table: [] for table in TABLES}
        for event in events:
            for table, row in map_event(event):
                origin = encode_origin(f"{event.source}.events", 0, next(_offsets))
                bodies[table].append(encode_row(table, row, origin))
        for table, rows in bodies.items():
            if rows:
                await self.clickhouse.insert_rowbinary(
                    table, COLUMNS[table], b"".join(rows), query_id=f"test-{uuid.uuid4()}"
                )


@pytest.fixture(scope="session")
async def analytics(servers: Servers) -> AsyncIterator[AnalyticsService]:
    """One analytics service and ClickHouse database for the run; tests stay apart by tenant."""
    async with temporary_clickhouse_database(servers.clickhouse, "test_analytics") as clickhouse:
        await apply_migrations(clickhouse)
        keys = SigningKeys()
        identity_topic = unique_topic("identity")
        settings = Settings(
            clickhouse_url=servers.clickhouse,
            clickhouse_database=clickhouse.database,
            kafka_bootstrap_servers=servers.kafka,
            identity_events_topic=identity_topic,
            identity_consumer_group=f"test-analytics-{uuid.uuid4().hex[:8]}",
        )
        app = create_app(settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=30, message="the analytics service to be ready")
                yield AnalyticsService(http, keys, clickhouse, identity_topic)


def reader(tenant_id: uuid.UUID | None = None) -> Actor:
    """A user of ``tenant_id`` (a new tenant by default) with analytics:read."""
    return Actor(tenant_id=tenant_id or uuid.uuid4(), permissions=ANALYTICS_READ)


@dataclass
class Stored:
    """Two tenants' usage, stored: ``mine`` is reported on, ``other`` has the same dashboards,
    users, data sources and query texts (ids alike) and must never show."""

    mine: Usage
    other: Usage
    actor: Actor


@pytest.fixture(scope="session")
async def stored(analytics: AnalyticsService) -> Stored:
    ids = Ids()
    mine = make_usage(uuid.uuid4(), ids, seed=1)
    other = make_usage(uuid.uuid4(), ids, seed=2, volume=90)
    await analytics.store(mine.events + other.events)
    return Stored(mine, other, reader(mine.tenant_id))
