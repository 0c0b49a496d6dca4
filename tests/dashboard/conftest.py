"""The dashboard service in-process against real PostgreSQL and Kafka, with test-signed tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from lookout_dashboard.app import create_app
from lookout_dashboard.settings import Settings
from lookout_kit.auth import Authenticator
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from .support import AUDIENCE, ISSUER, Actor, Client, SigningKeys


@dataclass
class DashboardService:
    http: httpx.AsyncClient
    keys: SigningKeys
    identity_topic: str
    database: str

    def client(self, actor: Actor) -> Client:
        return Client(self.http, self.keys, actor)


@pytest.fixture(scope="session")
async def dashboards(servers: Servers) -> AsyncIterator[DashboardService]:
    """One dashboard service for the whole run (starting one costs a consumer-group join); tests
    stay apart by each using tenants of their own."""
    async with temporary_database(servers.postgres, prefix="test_dashboard") as database:
        async for service in _serve(database, servers):
            yield service


async def _serve(
    database: str, servers: Servers, **overrides: Any
) -> AsyncIterator[DashboardService]:
    keys = SigningKeys()
    identity_topic = unique_topic("identity")
    settings = Settings(
        database_url=database,
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=identity_topic,
        # A group of its own: sharing the running stack's "dashboard" group would rebalance both.
        identity_consumer_group=f"test-dashboard-{uuid.uuid4().hex[:8]}",
        outbox_poll_interval_s=0.2,
        **overrides,
    )
    authenticator = Authenticator(keys, issuer=ISSUER, audience=AUDIENCE)
    app = create_app(settings, authenticator)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://dashboard") as http:

            async def ready() -> bool:
                return (await http.get("/readyz")).status_code == 200

            await wait_until(ready, timeout=30, message="the dashboard service to be ready")
            yield DashboardService(http, keys, identity_topic, database)


@pytest.fixture
async def calling_dashboards(servers: Servers) -> AsyncIterator[DashboardService]:
    """A dashboard service of this test's own that has service credentials, and whose datasource
    service and identity are ``127.0.0.1:9`` (nothing answers there)."""
    async with temporary_database(servers.postgres, prefix="test_dashboard") as database:
        async for service in _serve(
            database,
            servers,
            service_secret="a secret identity does not know",
            identity_url="http://127.0.0.1:9",
            datasource_url="http://127.0.0.1:9",
        ):
            yield service


@pytest.fixture
def tenant() -> uuid.UUID:
    return uuid.uuid4()
