"""The datasource service in-process against real PostgreSQL and Kafka, with test-signed tokens."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from lookout_datasource.app import create_app
from lookout_datasource.settings import Settings
from lookout_kit.auth import Authenticator
from lookout_testing.broker import free_port
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from .support import AUDIENCE, ISSUER, Actor, Client, SigningKeys


@dataclass
class DatasourceService:
    http: httpx.AsyncClient
    keys: SigningKeys
    identity_topic: str
    database: str
    platform_port: int
    """A loopback port the service refuses as one of the platform's own servers."""

    def client(self, actor: Actor) -> Client:
        return Client(self.http, self.keys.token(actor), actor)


@pytest.fixture(scope="session")
async def datasource(servers: Servers) -> AsyncIterator[DatasourceService]:
    """One datasource service for the whole run (starting one costs a consumer-group join); tests
    stay apart by each using tenants of their own."""
    async with temporary_database(servers.postgres, prefix="test_datasource") as database:
        keys = SigningKeys()
        platform_port = free_port()
        identity_topic = unique_topic("identity")
        settings = Settings(
            database_url=database,
            kafka_bootstrap_servers=servers.kafka,
            identity_events_topic=identity_topic,
            # A group of its own: sharing the running stack's "datasource" group would rebalance both.
            identity_consumer_group=f"test-datasource-{uuid.uuid4().hex[:8]}",
            outbox_poll_interval_s=0.2,
            # Executions connect to the machine's servers (loopback), as the local stack allows.
            egress_allow_loopback=True,
            egress_platform_servers=[f"127.0.0.1:{platform_port}"],
            # Tests refresh schemas themselves: a background refresh would touch their sources.
            schema_refresh_enabled=False,
            execution_timeout_s=20.0,
        )
        app = create_app(settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://datasource") as http:

                async def ready() -> bool:
                    return (await http.get("/readyz")).status_code == 200

                await wait_until(ready, timeout=30, message="the datasource service to be ready")
                yield DatasourceService(http, keys, identity_topic, database, platform_port)


@pytest.fixture
def tenant() -> uuid.UUID:
    return uuid.uuid4()
