"""ClickHouse unreachable: a report answers 503 in the error model, not a 500."""

from __future__ import annotations

import uuid

import httpx
from lookout_analytics.app import create_app
from lookout_analytics.settings import Settings
from lookout_kit.auth import Authenticator
from lookout_testing.broker import free_port
from lookout_testing.servers import Servers
from lookout_testing.tokens import AUDIENCE, ISSUER, SigningKeys
from lookout_testing.topics import unique_topic

from .conftest import reader
from .usage import WINDOW


async def test_a_report_without_clickhouse_is_a_503(servers: Servers) -> None:
    keys = SigningKeys()
    settings = Settings(
        clickhouse_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
        kafka_bootstrap_servers=servers.kafka,
        identity_events_topic=unique_topic("identity"),
        identity_consumer_group=f"test-analytics-{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings, Authenticator(keys, issuer=ISSUER, audience=AUDIENCE))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:
            response = await http.get(
                "/reports/users/active",
                params=WINDOW,
                headers={"Authorization": f"Bearer {keys.token(reader())}"},
            )
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "clickhouse_unavailable"
