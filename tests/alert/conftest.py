"""The alert service in-process against real PostgreSQL and Kafka, with the datasource service
in-process beside it (test-signed tokens for both). The alert's calls reach the datasource through
an ASGI transport, identity's service-token endpoint played by this test (as the datasource's own
batch test does); the end-to-end test through the running stack uses the real identity."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from lookout_alert.app import create_app as create_alert_app
from lookout_alert.settings import Settings as AlertSettings
from lookout_datasource.app import create_app as create_datasource_app
from lookout_datasource.settings import Settings as DatasourceSettings
from lookout_kit.auth import Authenticator
from lookout_testing.broker import free_port
from lookout_testing.databases import temporary_database
from lookout_testing.servers import Servers
from lookout_testing.topics import unique_topic
from lookout_testing.waiting import wait_until

from tests.datasource.execution_support import service_token

from .support import (
    ADMIN,
    AUDIENCE,
    ISSUER,
    Actor,
    Client,
    SigningKeys,
    SmtpReceiver,
    metrics_query,
)

PLATFORM_PORT = free_port()
"""A loopback port the session's alert services count among the platform's own servers."""


class ToDatasource(httpx.AsyncBaseTransport):
    """The alert service's way to the datasource: identity's token endpoint answered here (a
    service token signed with the test's key), everything else to the in-process datasource.
    ``down`` makes the datasource unreachable."""

    def __init__(self, keys: SigningKeys, datasource: httpx.ASGITransport) -> None:
        self.keys = keys
        self.datasource = datasource
        self.down = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/auth/service-token"):
            body = json.loads(request.content)
            token = service_token(self.keys, body["service"], uuid.UUID(body["tenant_id"]))
            return httpx.Response(200, json={"access_token": token, "expires_in": 600})
        if self.down:
            raise httpx.ConnectError("the datasource service is down", request=request)
        return await self.datasource.handle_async_request(request)


@dataclass
class AlertService:
    http: httpx.AsyncClient
    datasource: httpx.AsyncClient
    keys: SigningKeys
    database: str
    transport: ToDatasource
    settings: AlertSettings
    app: Any
    data_database: str
    """A PostgreSQL database with ``metrics``: what the tenants' default saved queries read."""
    queries: dict[uuid.UUID, str] = field(default_factory=dict)

    @property
    def identity_topic(self) -> str:
        return self.settings.identity_events_topic

    @property
    def datasource_topic(self) -> str:
        return self.settings.datasource_events_topic

    def client(self, actor: Actor) -> Client:
        async def default_query() -> str:
            return await self.query_of(actor.tenant_id)

        return Client(self.http, self.keys.token(actor), actor, default_query)

    async def new_query(self, tenant_id: uuid.UUID) -> str:
        """A new saved query of ``tenant_id`` on ``metrics`` (made by an admin of the tenant)."""
        return await metrics_query(
            self.datasource_client(Actor(tenant_id, ADMIN)), self.data_database
        )

    async def query_of(self, tenant_id: uuid.UUID) -> str:
        """The tenant's default saved query (made once)."""
        if tenant_id not in self.queries:
            self.queries[tenant_id] = await self.new_query(tenant_id)
        return self.queries[tenant_id]

    def datasource_client(self, actor: Actor) -> Client:
        return Client(self.datasource, self.keys.token(actor), actor)


async def _ready(http: httpx.AsyncClient, what: str) -> None:
    async def ready() -> bool:
        return (await http.get("/readyz")).status_code == 200

    await wait_until(ready, timeout=30, message=f"the {what} service to be ready")


def alert_settings(database: str, servers: Servers, **overrides: Any) -> AlertSettings:
    values: dict[str, Any] = {
        "database_url": database,
        "kafka_bootstrap_servers": servers.kafka,
        "identity_events_topic": unique_topic("identity"),
        "identity_consumer_group": f"test-alert-{uuid.uuid4().hex[:8]}",
        "datasource_events_topic": unique_topic("datasource"),
        "datasource_consumer_group": f"test-alert-ds-{uuid.uuid4().hex[:8]}",
        "outbox_poll_interval_s": 0.2,
        "identity_url": "http://identity",
        "datasource_url": "http://datasource",
        "service_secret": "alert-test-secret",
        "min_interval_s": 1,
        # Tests evaluate when they choose (evaluate now, or a scheduler round of their own).
        "scheduler_enabled": False,
        "notification_backoff_initial_s": 0.05,
        "notification_backoff_max_s": 0.2,
        "notification_timeout_s": 3.0,
        # Receivers are on loopback here, as in the local stack; one port of it is "the
        # platform's" (the egress tests' refused address).
        "egress_allow_loopback": True,
        "egress_platform_servers": (f"127.0.0.1:{PLATFORM_PORT}",),
    }
    values.update(overrides)
    return AlertSettings(**values)


@pytest.fixture(scope="session")
async def smtp() -> AsyncIterator[SmtpReceiver]:
    """The SMTP server the session's alert service sends its mail to."""
    async with SmtpReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="session")
async def alert_service(servers: Servers, smtp: SmtpReceiver) -> AsyncIterator[AlertService]:
    """One alert and one datasource service for the whole run; tests keep apart by tenant."""
    keys = SigningKeys()
    authenticator = Authenticator(keys, issuer=ISSUER, audience=AUDIENCE)
    async with (
        temporary_database(servers.postgres, prefix="test_alert_ds") as datasource_database,
        temporary_database(servers.postgres, prefix="test_alert") as database,
        temporary_database(servers.postgres, prefix="test_alert_data") as data_database,
    ):
        datasource_app = create_datasource_app(
            DatasourceSettings(
                database_url=datasource_database,
                kafka_bootstrap_servers=servers.kafka,
                identity_events_topic=unique_topic("identity"),
                identity_consumer_group=f"test-alert-ds-{uuid.uuid4().hex[:8]}",
                outbox_poll_interval_s=0.2,
                egress_allow_loopback=True,
                schema_refresh_enabled=False,
                result_cache_url=None,
            ),
            authenticator,
        )
        transport = ToDatasource(keys, httpx.ASGITransport(app=datasource_app))
        settings = alert_settings(database, servers, smtp_port=smtp.port)
        app = create_alert_app(
            settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE), transport
        )
        async with (
            datasource_app.router.lifespan_context(datasource_app),
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=datasource_app), base_url="http://datasource"
            ) as datasource_http,
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://alert"
            ) as http,
        ):
            await _ready(datasource_http, "datasource")
            await _ready(http, "alert")
            yield AlertService(
                http, datasource_http, keys, database, transport, settings, app, data_database
            )


@pytest.fixture
def tenant() -> uuid.UUID:
    return uuid.uuid4()
